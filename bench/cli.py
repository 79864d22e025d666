"""The one door: `bench COMMAND [ARGS]`. It prints the usage and dispatches to the command's
module (bench/commands/), and turns a bad command line into one line and exit 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench.commands import UsageError
from bench.commands.compare import UNDECIDED_EXIT, compare_command
from bench.commands.export import export_command
from bench.commands.new_arch import new_arch_command
from bench.commands.report import report_command
from bench.commands.run import run_command
from bench.commands.status import status_command
from bench.commands.verify import verify_command

__all__ = ["COMMANDS", "UNDECIDED_EXIT", "USAGE", "main"]

USAGE = """usage: bench COMMAND [ARGS]

commands:
  run [OVERRIDES] [-m] [-v] [--retry-errors]
                         run one trial (or a Hydra multirun sweep with -m), e.g.
                         bench run style=subclass arch=cnn train.timed_steps=200;
                         -v shows Hydra's own log lines (one per launched job);
                         a re-run with the same sweep_id runs only trials without a row,
                         --retry-errors also those with an error row
  status RESULTS_DIR [--require-ran]
                         planned / done / running / error / missing trials of a sweep;
                         exit 0 when every trial is done (--require-ran: and none skipped)
  export mlflow|github-benchmark RESULTS_DIR
                         one MLflow run per trial, or github-action-benchmark's JSON
  verify [arch=A,...] [--backend B] [--across-backends]
                         prove the styles build identical models; exits 1 on a mismatch;
                         A is a shipped architecture or your model as MODULE:FUNCTION
  new-arch NAME          write NAME.py, a starter for your own model (arch=NAME:model)
  report RESULTS_DIR     write reports/<sweep_id>/index.html and summary.md
  compare BASE CURRENT   regression gate: exit 0 decided clean, 1 regression, 2 unusable input, 3 undecided
"""


COMMANDS = {
    "run": run_command,
    "verify": verify_command,
    "report": report_command,
    "compare": compare_command,
    "status": status_command,
    "export": export_command,
    "new-arch": new_arch_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(
            f"bench: error: unknown command {args[0]!r}; choose one of: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    try:
        return command(args[1:])
    except UsageError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
