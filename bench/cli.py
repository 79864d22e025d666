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
  verify [--arch A ...] [--backend B] [--across-backends]
                         prove the styles build identical models; exits 1 on a mismatch
  report RESULTS_DIR     write reports/<sweep_id>/index.html and summary.md
  compare BASE CURRENT   regression gate: exit 0 decided clean, 1 regression, 2 unusable input, 3 undecided
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


def _parse(overrides: Sequence[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception as error:
        raise UsageError(f"bad override: {one_line(error)}") from error


def _compose(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=overrides, return_hydra_config=with_hydra)
    except Exception as error:
        raise UsageError(f"bad override: {one_line(error)}") from error


def _check_one(overrides: list[str]) -> None:
    try:
        to_run_config(_compose(overrides))
    except ValueError as error:
        raise UsageError(str(error)) from error


def _swept(parsed: list[Override]) -> dict[str, list[str]]:
    """key -> every value it takes (one value for a plain override), group choices checked."""
    values: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if key.startswith("hydra"):
            continue
        values[key] = _values(override)
        if key in GROUPS:
            choices = group_choices(key)
            unknown = [value for value in values[key] if value not in choices]
            if unknown:
                raise UsageError(f"unknown {key} {unknown[0]!r}; choose one of: {', '.join(choices)}")
    return values


def check_overrides(overrides: Sequence[str]) -> None:
    """Raise UsageError on any value of any swept key (command line or the sweep preset's
    params) that Hydra or the config checks would refuse: before any trial runs."""
    parsed = _parse([o for o in overrides if not o.startswith("-")])
    command_line = _swept(parsed)
    first = [f"{key}={values[0]}" for key, values in command_line.items()]
    first += [o.input_line for o in parsed if o.get_key_element().startswith("hydra")]
    composed = _compose(first, with_hydra=True)
    preset = {str(k): str(v) for k, v in (composed.hydra.sweeper.get("params") or {}).items()}
    from_preset = _swept(_parse([f"{k}={v}" for k, v in preset.items() if k not in command_line]))
    swept = {**from_preset, **command_line}
    base = [f"{key}={values[0]}" for key, values in swept.items()]
    _check_one(base)
    for index, (key, values) in enumerate(swept.items()):
        for value in values[1:]:
            _check_one([*base[:index], f"{key}={value}", *base[index + 1 :]])


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _run_task(cfg: DictConfig) -> dict[str, Any]:
    """One Hydra job = one trial (or one block of trials), recorded in results/<sweep_id>/."""
    from bench.idx import DataError
    from bench.results import ResultsError
    from bench.sweep import run_job

    single = HydraConfig.get().mode == RunMode.RUN
    try:
        config = to_run_config(cfg)
        if single and HydraConfig.get().sweeper.get("retry_errors"):
            from bench.driver import Job, retry_errors

            retry_errors([Job(order=0, overrides=[], config=config)])
        rows = run_job(config)
    except (DataError, ResultsError, ValueError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    failed = [row for row in rows if row.get("status") == "error"]
    for row in failed:
        where = f"{row.get('style', config.style)}/{config.arch.name} repeat {config.repeat}"
        print(f"bench: trial {where} failed: {row['error']}", file=sys.stderr, flush=True)
    if single:  # a sweep's summary is the driver's (the sweeper); a single run prints its own
        from bench.driver import summary
        from bench.results import sweep_dir

        print(f"\n{summary(sweep_dir(config))}", flush=True)
        if failed:  # a sweep goes on; a single run says it failed
            raise SystemExit(1)
    return rows


VERBOSE = ("hydra/hydra_logging=default", "hydra/job_logging=default")


FLAGS = {"-v": VERBOSE, "--verbose": VERBOSE, "--retry-errors": ("hydra.sweeper.retry_errors=true",)}


SETTLE = {"--settle-budget": 0.0, "--settle-step": 2.0, "--settle-cap": 20.0}


def _settle_options(args: Sequence[str]) -> tuple[list[str], dict[str, float]]:
    """Take --settle-budget/--settle-step/--settle-cap (as FLAG=VALUE) out of the overrides."""
    options, rest = dict(SETTLE), []
    for arg in args:
        flag, _, value = arg.partition("=")
        if flag in SETTLE:
            try:
                options[flag] = float(value)
            except ValueError:
                raise UsageError(f"{arg!r}: give {flag}=NUMBER, e.g. --settle-budget=600") from None
        else:
            rest.append(arg)
    return rest, options


def _hydra_run(args: Sequence[str]) -> None:
    saved_argv = sys.argv
    sys.argv = ["bench run", *args]
    try:
        _run_task()
    finally:
        sys.argv = saved_argv


def run_command(args: Sequence[str]) -> int:
    import time

    register()
    started = time.monotonic()
    args, settling = _settle_options(args)
    extra = [override for flag in dict.fromkeys(a for a in args if a in FLAGS) for override in FLAGS[flag]]
    args = [a for a in args if a not in FLAGS] + extra
    budget = settling["--settle-budget"]
    named = [a for a in args if a.startswith("sweep_id=")]
    if budget > 0 and not named:
        raise UsageError("--settle-budget needs a named sweep (sweep_id=NAME) to add blocks to")
    check_overrides(args)
    _hydra_run(args)
    if budget > 0:
        from bench import settle

        plain = [a for a in args if not a.startswith(("-", "hydra")) and "," not in a and "range(" not in a]
        composed = _compose(plain)
        folder = Path(str(composed.results.dir)) / named[-1].split("=", 1)[1]
        settle.settle(
            folder, lambda more: _hydra_run([*args, *more]), budget, int(settling["--settle-step"]),
            int(settling["--settle-cap"]), started,
        )  # fmt: skip
    return 0


def verify_command(args: Sequence[str]) -> int:
    from bench import backends
    from bench.archs import ARCH_SPECS
    from bench.styles import STYLE_NAMES

    parser = argparse.ArgumentParser(prog="bench verify", description="Prove the styles build one model.")
    parser.add_argument("--arch", nargs="+", choices=list(ARCH_SPECS), default=list(ARCH_SPECS))
    parser.add_argument("--style", nargs="+", choices=list(STYLE_NAMES), default=list(STYLE_NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backend", choices=backends.BACKENDS, default=backends.DEFAULT, help="the Keras backend"
    )
    parser.add_argument(
        "--across-backends",
        action="store_true",
        help="also give every style on every installed backend the reference's weights and compare outputs",
    )
    options = parser.parse_args(list(args))
    if not backends.installed(options.backend):
        raise SystemExit(f"bench verify: error: {backends.missing_reason(options.backend)}")
    from bench import runtime

    runtime.use(options.backend)
    from bench import verify
    from bench.summary import verify_table

    cells = verify.verify(options.arch, options.style, options.seed)
    print(f"backend: {options.backend}")
    print(verify_table(cells))
    consistent = verify.all_consistent(cells)
    if options.across_backends:
        from bench import crossbackend

        rows = crossbackend.compare(options.arch, options.style, backends.BACKENDS, options.seed)
        print(
            f"\nacross backends: outputs with the {options.backend} functional build's weights, "
            f"tolerance {crossbackend.TOLERANCE:g}"
        )
        print(crossbackend.table(rows))
        consistent = consistent and crossbackend.all_identical(rows)
    return 0 if consistent else 1


MIXED_HELP = "put rows from different CPUs or GPUs in one ratio (refused by default), under a warning"


def report_command(args: Sequence[str]) -> int:
    from bench.cells import MixedHardware
    from bench.report import build_report
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
    margin = _fraction(parser, "--margin", options.margin)
    try:
        folder = build_report(
            options.results_dir, options.out, options.reference, margin, options.alpha,
            options.allow_mixed_hardware,
        )  # fmt: skip
    except (ResultsError, MixedHardware) as error:
        raise UsageError(str(error)) from error
    print(f"report: {folder / 'index.html'}\nsummary: {folder / 'summary.md'}")
    return 0


def _fraction(parser: argparse.ArgumentParser, flag: str, text: str) -> float:
    from bench.compare import parse_fraction

    try:
        return parse_fraction(text)
    except ValueError:
        parser.error(f"{flag} {text!r}: give a fraction such as 5% or 0.05")
        raise  # unreachable: parser.error exits


UNDECIDED_EXIT = 3


def compare_command(args: Sequence[str]) -> int:
    """Exit 0 when every gated comparison is decided and none regressed; 1 on a regression, a
    missing cell or errored trials; 2 when the inputs cannot be compared; 3 when a gated
    comparison is undecided (with what would settle it)."""
    from bench import compare, decide

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
        "workload every trial timed (see bench/compare.py); needs train.anchor_steps>0 on both sides",
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
    threshold = _fraction(parser, "--threshold", options.threshold)
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
            from bench import against, stats

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


def status_command(args: Sequence[str]) -> int:
    """Planned / done / running / error / missing per cell; exit 0 when every trial is done."""
    from bench.plan import status_table, trial_states
    from bench.results import ResultsError

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


def export_command(args: Sequence[str]) -> int:
    import json

    from bench import export
    from bench.results import ResultsError

    parser = argparse.ArgumentParser(prog="bench export", description="Results into MLflow or CI dashboards.")
    targets = parser.add_subparsers(dest="target", required=True)
    mlflow = targets.add_parser("mlflow", help="one MLflow run per trial under one parent run per sweep")
    mlflow.add_argument("results_dir")
    mlflow.add_argument(
        "--tracking-uri", help="MLflow tracking server (default: $MLFLOW_TRACKING_URI, else ./mlruns)"
    )
    mlflow.add_argument("--experiment", default="stylebench", help="experiment name (default: stylebench)")
    mlflow.add_argument(
        "--report",
        help="a report folder to attach to the parent run (default: reports/<sweep_id> if it exists)",
    )
    github = targets.add_parser("github-benchmark", help="github-action-benchmark customSmallerIsBetter JSON")
    github.add_argument("results_dir")
    github.add_argument("-o", "--output", help="write to this file (default: standard output)")
    options = parser.parse_args(list(args))
    try:
        if options.target == "mlflow":
            report = options.report or Path("reports") / Path(options.results_dir).name
            counts = export.to_mlflow(options.results_dir, options.tracking_uri, options.experiment, report)
            print(
                f"mlflow: {counts['created']} trial runs created, {counts['replaced']} replaced, "
                f"{counts['kept']} already there, in experiment {options.experiment!r}"
            )
            return 0
        text = json.dumps(export.github_benchmark(options.results_dir), indent=1)
    except ResultsError as error:
        raise UsageError(str(error)) from error
    if options.output:
        Path(options.output).write_text(text + "\n")
    else:
        print(text)
    return 0


COMMANDS = {
    "run": run_command,
    "verify": verify_command,
    "report": report_command,
    "compare": compare_command,
    "status": status_command,
    "export": export_command,
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
