"""`bench status`: planned / done / running / error per cell of a sweep (bench/run/plan.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.commands import UsageError


def status_command(args: Sequence[str]) -> int:
    """Planned / done / running / error / missing per cell; exit 0 when every trial is done."""
    from bench.results import ResultsError
    from bench.run.plan import status_table, trial_states

    parser = argparse.ArgumentParser(prog="bench status", description="Where a sweep stands.")
    parser.add_argument("results_dir", help="a sweep folder, e.g. results/<sweep_id>")
    parser.add_argument(
        "--require-ran",
        action="store_true",
        help="exit 1 also when a trial was skipped (its backend or device missing): "
        "`make gpu-check` asks that every trial ran",
    )
    options = parser.parse_args(list(args))
    try:
        print(status_table(options.results_dir))
        states = trial_states(options.results_dir)
    except ResultsError as error:
        raise UsageError(str(error)) from error
    skipped = states[states["status"] == "skipped"]
    if options.require_ran and len(skipped):
        reasons = sorted(set(skipped["reason"].astype(str)))
        print(f"{len(skipped)} of {len(states)} trials skipped, not run: {'; '.join(reasons)}")
        return 1
    return 0 if (states["state"] == "done").all() else 1
