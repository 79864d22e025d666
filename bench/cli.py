"""The one door: `bench run|verify`. The only module that sees a DictConfig.

`bench run` is a Hydra app (overrides, `-m` multirun). Before Hydra starts,
the overrides are checked against conf/ so that a typo ends in one line
naming the valid choices instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import RunMode
from omegaconf import DictConfig

from bench.config import CONF_DIR, GROUPS, group_choices, register, to_run_config

USAGE = """usage: bench COMMAND [ARGS]

commands:
  run [OVERRIDES] [-m]   run one trial (or a Hydra multirun sweep with -m), e.g.
                         bench run style=subclass arch=cnn train.steps=200
  verify [--arch A ...]  prove the styles build identical models; exits 1 on a mismatch
  report RESULTS_DIR     write reports/<sweep_id>/index.html and summary.md
  compare BASE CURRENT   regression gate: exit 0 clean, 1 regression, 2 unusable input
"""


class UsageError(Exception):
    """A bad command line; its message is the one line the user sees."""


def one_line(error: BaseException) -> str:
    """A Hydra/OmegaConf error folded to one line: its first lines and its cause's first."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()][:2]
    cause = error.__cause__
    if cause is not None and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    return " ".join(lines)


def _values(override: Override) -> list[str]:
    if override.is_sweep_override():
        return [str(value) for value in override.sweep_iterator()]
    return [override.get_value_element_as_str()]


def check_overrides(overrides: Sequence[str]) -> None:
    """Raise UsageError on an unknown group choice or anything Hydra would refuse."""
    config_overrides = [o for o in overrides if not o.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(config_overrides)
    except Exception as error:
        raise UsageError(f"bad override: {one_line(error)}") from error
    first_values = []
    for override in parsed:
        key = override.get_key_element()
        if key.startswith("hydra"):
            continue
        values = _values(override)
        if key in GROUPS:
            choices = group_choices(key)
            unknown = [value for value in values if value not in choices]
            if unknown:
                raise UsageError(f"unknown {key} {unknown[0]!r}; choose one of: {', '.join(choices)}")
        first_values.append(f"{key}={values[0]}" if override.is_sweep_override() else override.input_line)
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            composed = compose("config", overrides=first_values)
    except Exception as error:
        raise UsageError(f"bad override: {one_line(error)}") from error
    try:
        to_run_config(composed)
    except ValueError as error:
        raise UsageError(str(error)) from error


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _run_task(cfg: DictConfig) -> dict[str, Any]:
    """One Hydra job = one trial, recorded in results/<sweep_id>/."""
    from bench.idx import DataError
    from bench.results import ResultsError
    from bench.sweep import run_job

    try:
        config = to_run_config(cfg)
        row = run_job(config)
    except (DataError, ResultsError, ValueError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    if row.get("status") == "error":
        where = f"{config.style}/{config.arch.name} repeat {config.repeat}"
        print(f"bench: trial {where} failed: {row['error']}", file=sys.stderr, flush=True)
        if HydraConfig.get().mode == RunMode.RUN:  # a sweep goes on; a single run says it failed
            raise SystemExit(1)
    return row


def run_command(args: Sequence[str]) -> int:
    register()
    check_overrides(args)
    saved_argv = sys.argv
    sys.argv = ["bench run", *args]
    try:
        _run_task()
    finally:
        sys.argv = saved_argv
    return 0


def verify_command(args: Sequence[str]) -> int:
    from bench import verify
    from bench.archs import ARCH_SPECS
    from bench.styles import STYLE_NAMES
    from bench.summary import verify_table

    parser = argparse.ArgumentParser(prog="bench verify", description="Prove the styles build one model.")
    parser.add_argument("--arch", nargs="+", choices=list(ARCH_SPECS), default=list(ARCH_SPECS))
    parser.add_argument("--style", nargs="+", choices=list(STYLE_NAMES), default=list(STYLE_NAMES))
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(list(args))
    cells = verify.verify(options.arch, options.style, options.seed)
    print(verify_table(cells))
    return 0 if verify.all_consistent(cells) else 1


def report_command(args: Sequence[str]) -> int:
    from bench.report import build_report
    from bench.results import ResultsError
    from bench.styles import STYLE_NAMES

    parser = argparse.ArgumentParser(prog="bench report", description="Write the HTML and Markdown report.")
    parser.add_argument("results_dir", help="a sweep folder, e.g. results/2026-11-28_12-00-00")
    parser.add_argument("--out", default="reports", help="reports go to OUT/<sweep_id>/ (default: reports)")
    parser.add_argument("--reference", default="functional", choices=list(STYLE_NAMES))
    options = parser.parse_args(list(args))
    try:
        folder = build_report(options.results_dir, options.out, options.reference)
    except ResultsError as error:
        raise UsageError(str(error)) from error
    print(f"report: {folder / 'index.html'}\nsummary: {folder / 'summary.md'}")
    return 0


def compare_command(args: Sequence[str]) -> int:
    """Exit 0 when clean, 1 on a regression, 2 when the inputs cannot be compared."""
    from bench import compare

    parser = argparse.ArgumentParser(
        prog="bench compare", description="Gate a result set against a baseline."
    )
    parser.add_argument("baseline", help="a sweep folder or an exported Parquet file")
    parser.add_argument("current", help="a sweep folder or an exported Parquet file")
    parser.add_argument("--metric", action="append", help="lower-is-better metric (default: step_ms_median)")
    parser.add_argument("--threshold", default="10%", help="slowdown that counts, e.g. 10%% (default)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--accuracy-tolerance", type=float, default=0.02, help="allowed accuracy drop")
    parser.add_argument(
        "--anchored",
        action="store_true",
        help="for a baseline from another session: regress only when slower both in ms and with the machine's "
        "speed (the anchor workload every trial timed) divided out; needs train.anchor_steps>0 on both sides",
    )
    parser.add_argument("--markdown", help="also write the result as Markdown to this file")
    options = parser.parse_args(list(args))
    try:
        threshold = compare.parse_fraction(options.threshold)
    except ValueError:
        parser.error(f"--threshold {options.threshold!r}: give a fraction such as 10% or 0.1")
    try:
        baseline, current = compare.load_ok(options.baseline), compare.load_ok(options.current)
        factor = compare.machine_factor(baseline, current) if options.anchored else None
        verdicts = compare.compare_frames(
            baseline,
            current,
            options.metric or ["step_ms_median"],
            threshold,
            options.alpha,
            options.accuracy_tolerance,
            factor,
        )
    except compare.UnusableInput as error:
        print(f"bench compare: unusable input: {error}", file=sys.stderr)
        return 2
    print(compare.table(verdicts).to_string(index=False))
    print(f"Rule: {compare.rule_text(threshold, options.alpha, factor)}")
    if options.markdown:
        Path(options.markdown).write_text(compare.markdown(verdicts, threshold, options.alpha, factor))
    failed = [v for v in verdicts if v.failed]
    for verdict in failed:
        print(f"{verdict.status}: {verdict.cell} {verdict.metric} {verdict.comparison.ratio:.2f}x baseline")
    return 1 if failed else 0


COMMANDS = {
    "run": run_command,
    "verify": verify_command,
    "report": report_command,
    "compare": compare_command,
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
