"""`bench compare`: the regression gate, against a stored sweep or against code at a REF
(bench/decide/compare.py, bench/run/against.py); exit 0 decided clean, 1 regression, 2 unusable input,
3 undecided."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.commands import fraction
from bench.commands.report import MIXED_HELP

UNDECIDED_EXIT = 3


def compare_command(args: Sequence[str]) -> int:
    """Exit 0 when every gated comparison is decided and none regressed; 1 on a regression, a
    missing cell or errored trials; 2 when the inputs cannot be compared; 3 when a gated
    comparison is undecided (with what would settle it)."""
    from bench import decide
    from bench.decide import compare

    parser = argparse.ArgumentParser(
        prog="bench compare",
        description="Gate current results against a baseline: stored results (BASELINE CURRENT) or, "
        "with --against REF, the code at REF run interleaved with this checkout on this machine.",
    )
    parser.add_argument("baseline", nargs="?", help="a sweep folder or an exported Parquet file")
    parser.add_argument("current", nargs="?", help="a sweep folder or an exported Parquet file")
    parser.add_argument("--metric", action="append", help="lower-is-better metric (default: step_ms_median)")
    parser.add_argument("--threshold", default="10%", help="slowdown that counts, e.g. 10%% (default)")
    parser.add_argument("--alpha", type=float, default=0.05, help="family error rate (default 0.05)")
    parser.add_argument("--accuracy-tolerance", type=float, default=0.02, help="allowed accuracy drop")
    parser.add_argument(
        "--anchored",
        action="store_true",
        help="for a stored baseline from another session: divide the machine's speed out with the anchor "
        "workload every trial timed (see bench/decide/compare.py); needs train.anchor_steps>0 on both sides",
    )
    parser.add_argument(
        "--against", metavar="REF", help="a git commit to run against, interleaved, here and now"
    )
    parser.add_argument(
        "--repeats", default="10",
        help="with --against: repeats per side (default 10), or 'auto': look at the gate after "
        "--auto-start repeats and every --auto-step more, stopping when every gated comparison is "
        "decided or at --auto-cap, alpha spent over the looks (bench.decide.spend)",
    )  # fmt: skip
    parser.add_argument("--auto-start", type=int, default=10, help="--repeats auto: the first look")
    parser.add_argument("--auto-step", type=int, default=5, help="--repeats auto: repeats between looks")
    parser.add_argument("--auto-cap", type=int, default=30, help="--repeats auto: the last look")
    parser.add_argument("--sweep", default="gate", help="with --against: the sweep preset both sides run")
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE",
        help="with --against: an extra override for both sides (e.g. data.source=embedded)",
    )  # fmt: skip
    parser.add_argument(
        "--current-override", action="append", default=[], metavar="KEY=VALUE",
        help="with --against: an extra override for the current side only (e.g. train.inject_delay_ms=0.3)",
    )  # fmt: skip
    parser.add_argument("--out", default="results", help="with --against: where both sides' results go")
    parser.add_argument("--markdown", help="also write the result as Markdown to this file")
    parser.add_argument("--allow-mixed-hardware", action="store_true", help=MIXED_HELP)
    options = parser.parse_args(list(args))
    threshold = fraction(parser, "--threshold", options.threshold)
    if options.against is None and (options.baseline is None or options.current is None):
        parser.error("give BASELINE and CURRENT, or --against REF")
    metrics = options.metric or ["step_ms_median"]
    alpha = options.alpha
    auto = options.repeats == "auto"
    if not auto and not options.repeats.isdigit():
        parser.error(f"--repeats {options.repeats!r}: give a number of repeats or 'auto'")
    if auto and options.against is None:
        parser.error("--repeats auto needs --against REF (it runs the repeats)")

    def judge(baseline_dir: Any, current_dir: Any, level: float) -> tuple[list, float | None, bool]:
        baseline, current = compare.load_all(baseline_dir), compare.load_all(current_dir)
        compare.check_hardware(baseline, current, options.anchored, options.allow_mixed_hardware)
        factor = compare.machine_factor(baseline, current) if options.anchored else None
        ok = (baseline[baseline["status"] == "ok"], current[current["status"] == "ok"])
        faster = factor is not None and compare.machine_is_faster(*ok, threshold, level)
        verdicts = compare.compare_frames(
            baseline, current, metrics, threshold, level, options.accuracy_tolerance, factor,
            options.against is not None, faster,
        )  # fmt: skip
        return verdicts, factor, faster

    try:
        if options.against is not None:
            from bench.decide import stats
            from bench.run import against

            try:
                planned = (
                    decide.planned_looks(options.auto_start, options.auto_step, options.auto_cap)
                    if auto
                    else ()
                )
            except ValueError as error:
                raise compare.UnusableInput(f"--repeats auto: {error}") from error
            for look in planned:  # a look whose share of alpha its repeats cannot reach is refused
                share = decide.spend(alpha, look, planned)
                if stats.repeats_to_reach(share, paired=True) > look:
                    raise compare.UnusableInput(
                        f"--repeats auto: the look at {look} repeats gets alpha {share:.3g}, which {look} pairs "
                        "can never reach; start later (--auto-start) or step wider (--auto-step)"
                    )

            def settled(baseline_dir: Path, current_dir: Path, repeat: int) -> bool:
                verdicts, *_ = judge(baseline_dir, current_dir, decide.spend(alpha, repeat, planned))
                undecided = sum(v.undecided for v in verdicts)
                print(f"  look at {repeat} repeats: {undecided} gated comparison(s) undecided", flush=True)
                return undecided == 0

            baseline_dir, current_dir, ran = against.run(
                options.against, options.sweep, planned[-1] if auto else int(options.repeats), options.override,
                options.current_override, Path(options.out), settled if auto else None, planned,
            )  # fmt: skip
            if auto:
                alpha = decide.spend(options.alpha, ran, planned)
                print(f"bench compare: decided at {ran} repeats, the look's share of alpha {alpha:.4g}")
        else:
            baseline_dir, current_dir = options.baseline, options.current
        verdicts, factor, faster = judge(baseline_dir, current_dir, alpha)
    except compare.UnusableInput as error:
        print(f"bench compare: unusable input: {error}", file=sys.stderr)
        return 2
    paired = options.against is not None
    print(compare.table(verdicts).to_string(index=False))
    print(f"Rule: {compare.rule_text(threshold, alpha, factor, paired, faster)}")
    if options.markdown:
        Path(options.markdown).write_text(
            compare.markdown(verdicts, threshold, alpha, factor, paired, faster)
        )
    failed = [v for v in verdicts if v.failed]
    undecided = [v for v in verdicts if v.undecided]
    for verdict in failed + undecided:
        print(f"{verdict.status}: {verdict.cell} {verdict.metric}: {verdict.detail}")
    if failed:
        return 1
    if undecided:
        print(
            f"bench compare: {len(undecided)} gated comparison(s) undecided: the gate does not pass what it "
            "cannot decide (exit 3); run more repeats (--repeats N, or --repeats auto with --against)"
        )
        return UNDECIDED_EXIT
    return 0
