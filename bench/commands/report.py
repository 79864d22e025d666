"""`bench report`: the HTML report and summary.md of a sweep folder (bench/present/)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.commands import UsageError, fraction

MIXED_HELP = "put rows from different CPUs or GPUs in one ratio (refused by default), under a warning"


def report_command(args: Sequence[str]) -> int:
    from bench.decide.cells import MixedHardware
    from bench.present import build_report
    from bench.results import ResultsError
    from bench.styles import STYLE_NAMES

    parser = argparse.ArgumentParser(prog="bench report", description="Write the HTML and Markdown report.")
    parser.add_argument("results_dir", help="a sweep folder, e.g. results/2026-11-28_12-00-00")
    parser.add_argument("--out", default="reports", help="reports go to OUT/<sweep_id>/ (default: reports)")
    parser.add_argument("--reference", default="functional", choices=list(STYLE_NAMES))
    parser.add_argument("--margin", default="5%", help="practical margin of every decision (default 5%%)")
    parser.add_argument("--alpha", type=float, default=0.05, help="family error rate of the decisions")
    parser.add_argument("--allow-mixed-hardware", action="store_true", help=MIXED_HELP)
    options = parser.parse_args(list(args))
    margin = fraction(parser, "--margin", options.margin)
    try:
        folder = build_report(
            options.results_dir, options.out, options.reference, margin, options.alpha,
            options.allow_mixed_hardware,
        )  # fmt: skip
    except (ResultsError, MixedHardware) as error:
        raise UsageError(str(error)) from error
    print(f"report: {folder / 'index.html'}\nsummary: {folder / 'summary.md'}")
    return 0
