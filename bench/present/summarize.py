"""Results table -> the numbers a report shows: per-cell medians with intervals, every
style-vs-reference comparison decided (bench.decide), the answer in one sentence per
architecture and metric, and the environment with its warnings. Pure pandas + bench.decide.stats
+ bench.decide; no drawing here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import decide
from bench.config import STYLE_NAMES
from bench.decide import cells, stats
from bench.present import overhead, why

HEADLINE = {
    "step_ms_median": "steady step (ms)",
    "step_ms_block": "steady step, block clock (ms)",
    "time_to_first_step_ms": "time to first step (ms)",
    "test_accuracy": "test accuracy",
}
DECIDED_METRICS = {"step_ms_median": "steady step", "time_to_first_step_ms": "time to first step"}
ENVIRONMENT = [
    "tensorflow_version", "keras_version", "python_version", "framework_version", "cuda_version", "gpu_name",
    "cpu_model", "cpu_count", "host", "git_commit", "data_dataset", "data_source",
    "data_train_samples", "data_test_samples", "data_sha256",
]  # fmt: skip
MUST_MATCH = ["tensorflow_version", "keras_version", "cpu_model", "host", "git_commit", "gpu_name"]
# Identical models from identical seeds reach the same accuracy up to float reassociation (a
# keras.ops convolution against Conv2D, a hand-written optimizer): at most this gap, inclusive
# (2 of the embedded set's 1,000 test digits); a larger one is a bug, not a style.
ACCURACY_GAP = 0.002


@dataclass
class Summary:
    reference: str
    ok: pd.DataFrame  # the successful trials, with cells.with_labels columns
    table: pd.DataFrame  # one row per cell and headline metric
    decisions: pd.DataFrame  # one row per style-vs-reference comparison, with its decision
    verdicts: list[str]
    answers: list[str]
    not_applicable: pd.DataFrame
    errors: pd.DataFrame
    skipped: pd.DataFrame
    environment: dict[str, str]
    clocks: pd.DataFrame = field(default_factory=pd.DataFrame)  # per cell: per-step and block clock
    loops: pd.DataFrame = field(default_factory=pd.DataFrame)  # per style: fit loop against custom loop
    backends: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # per style and metric: jax, torch vs tensorflow
    backend_or_style: pd.DataFrame = field(default_factory=pd.DataFrame)  # spreads across styles vs backends
    backend_answers: list[str] = field(default_factory=list)  # which moves time more, per arch and metric
    compile_modes: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # hardware.xla -> how each backend compiled
    overheads: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # per model and style: fixed + per-sample fit
    overhead_answers: list[str] = field(default_factory=list)  # per model and style against the reference
    why: pd.DataFrame = field(default_factory=pd.DataFrame)  # per cell group, style and phase: extra cost
    why_answers: list[str] = field(default_factory=list)  # per cell group and style: its largest extra cost
    breakdown: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # per model, setting, style: the profiled step
    banners: list[str] = field(default_factory=list)
    sweep_id: str = ""
    trials: int = 0
    margin: float = decide.MARGIN
    alpha: float = decide.ALPHA


def cell_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Median and its distribution-free 95% interval per cell and headline metric."""
    rows = []
    for (arch, setting, who), group in ok.groupby(["arch", "setting", "who"], sort=True):
        for metric, label in HEADLINE.items():
            estimate = stats.median_ci(group[metric])
            rows.append(
                {"arch": arch, "setting": setting, "who": who, "metric": metric, "label": label,
                 "n": estimate.n, "median": estimate.median, "low": estimate.low, "high": estimate.high}
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["arch", "setting", "who", "metric", "label", "n", "median", "low", "high"]
    )


CLOCK_COLUMNS = ["arch", "setting", "who", "n", "per_step_ms", "block_ms", "gap", "gap_low", "gap_high"]


def clock_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the per-step clock's median (a callback after every step, which makes Keras
    wait for each), the block clock's (no per-step callback, one fetch at the end), and their
    gap: the median over trials of block / per-step, with its 95% interval."""
    rows = []
    timed = ok.dropna(subset=["step_ms_block", "step_ms_median"]) if "step_ms_block" in ok else ok.iloc[0:0]
    for (arch, setting, who), group in timed.groupby(["arch", "setting", "who"], sort=True):
        gap = stats.median_ci(group["step_ms_block"] / group["step_ms_median"])
        rows.append([arch, setting, who, gap.n, group["step_ms_median"].median(), group["step_ms_block"].median(),
                     gap.median, gap.low, gap.high])  # fmt: skip
    return pd.DataFrame(rows, columns=CLOCK_COLUMNS)


AXIS_COLUMNS = ["arch", "setting", "who", "value", "metric", "ratio", "ratio_low", "ratio_high", "n", "decision", "reason"]  # fmt: skip


def axis_comparisons(
    ok: pd.DataFrame,
    axis: str,
    reference: str,
    margin: float,
    metrics: tuple[str, ...] = ("step_ms_median",),
    ignore: tuple[str, ...] = (),
) -> tuple[list[dict], list[stats.Comparison]]:
    """Each style's metric under every other value of the setting column `axis` against its
    `reference` value, in cells otherwise equal (but for `ignore`, settings that go with the
    axis), unpaired (different processes): the rows and their comparisons, to be decided in
    the report's one family (decided_together)."""
    if ok.empty or ok[axis].astype(str).nunique() < 2:
        return [], []
    skip = [axis, *ignore]
    labelled = ok.assign(
        rest=cells.group_key(ok, ignore=skip),
        rest_setting=cells.setting_labels(ok, ignore=skip),
        value=ok[axis].astype(str),
    )
    rows, compared = [], []
    for (_, who), group in labelled.groupby(["rest", "who"], sort=False):
        base = group[group["value"] == reference]
        if base.empty:
            continue
        for value in sorted(set(group["value"]) - {reference}):
            candidate = group[group["value"] == value]
            for metric in metrics:
                a, b = candidate[metric].to_numpy(float), base[metric].to_numpy(float)
                compared.append(stats.compare(a, b, margin=margin, paired=False))
                rows.append({"arch": group["arch"].iloc[0], "setting": group["rest_setting"].iloc[0], "who": who,
                             "value": value, "metric": metric})  # fmt: skip
    return rows, compared


def axis_table(rows: list[dict], decisions: list[decide.Decision]) -> pd.DataFrame:
    for row, decision in zip(rows, decisions, strict=True):
        c = decision.comparison
        row.update(ratio=c.ratio, ratio_low=decision.low, ratio_high=decision.high, n=c.pairs,
                   decision=decision.word, reason=decision.reason())  # fmt: skip
    return pd.DataFrame(rows, columns=AXIS_COLUMNS)


def loop_comparisons(ok: pd.DataFrame, margin: float) -> tuple[list[dict], list[stats.Comparison]]:
    """Each style's steady step in the fit loop against the custom loop, in otherwise equal
    cells: what `fit` costs that style. Raw has no fit; its two cells both run the custom
    loop, an A/A check."""
    return axis_comparisons(ok, "train_loop", "custom", margin)


METRIC_WORDS = {"step_ms_median": "steady step", "time_to_first_step_ms": "time to first step"}
# The compile mode goes with the backend: each runs as Keras's jit_compile="auto" runs it on a
# CPU (conf/backend/), so a backend comparison is across that pair (docs/gpu.md).
BACKEND_METRICS = ("step_ms_median", "time_to_first_step_ms")


def backend_comparisons(ok: pd.DataFrame, margin: float) -> tuple[list[dict], list[stats.Comparison]]:
    """Each style on jax and torch against the same style on tensorflow, per metric."""
    return axis_comparisons(ok, "backend", "tensorflow", margin, BACKEND_METRICS, ignore=("hardware_xla",))


def decided_together(
    ok: pd.DataFrame, reference: str, margin: float, alpha: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The style comparisons, the loop costs and the backend costs, decided as one
    Benjamini-Hochberg family: everything one report decides."""
    parts = [
        style_comparisons(ok, reference, margin),
        loop_comparisons(ok, margin),
        backend_comparisons(ok, margin),
    ]
    decisions = decide.decide_all([c for _, compared in parts for c in compared], margin, alpha)
    split, start = [], 0
    for _rows, compared in parts:
        split.append(decisions[start : start + len(compared)])
        start += len(compared)
    return (
        style_table(parts[0][0], split[0]),
        axis_table(parts[1][0], split[1]),
        axis_table(parts[2][0], split[2]),
    )


def backend_or_style(ok: pd.DataFrame) -> pd.DataFrame:
    """Which choice moves a metric more: per arch and metric, the spread (largest / smallest
    median) across styles within each backend, and across backends within each style."""
    rows = []
    if ok.empty or ok["backend"].nunique() < 2:
        return pd.DataFrame(columns=["arch", "metric", "across", "within", "spread", "fastest", "slowest"])
    medians = ok.groupby(["arch", "backend", "who"])[list(BACKEND_METRICS)].median().reset_index()
    for metric in BACKEND_METRICS:
        for (arch, fixed_kind), frame in [((a, "backend"), f) for a, f in medians.groupby("arch")] + [
            ((a, "who"), f) for a, f in medians.groupby("arch")
        ]:
            varied = "who" if fixed_kind == "backend" else "backend"
            for fixed, part in frame.groupby(fixed_kind):
                if part[varied].nunique() < 2:
                    continue
                ordered = part.sort_values(metric)
                rows.append({
                    "arch": arch, "metric": metric,
                    "across": "styles" if varied == "who" else "backends", "within": fixed,
                    "spread": float(ordered[metric].iloc[-1] / ordered[metric].iloc[0]),
                    "fastest": ordered[varied].iloc[0], "slowest": ordered[varied].iloc[-1],
                })  # fmt: skip
    return pd.DataFrame(rows)


def compile_modes(ok: pd.DataFrame) -> pd.DataFrame:
    """What the compile toggle became on each backend, read back from the trainers."""
    if ok.empty or "jit_compile_resolved" not in ok:
        return pd.DataFrame(columns=["backend", "hardware_xla", "resolved"])
    resolved = ok.groupby(["backend", "hardware_xla"])["jit_compile_resolved"].agg(
        lambda values: ", ".join(sorted(set(values.dropna().astype(str)))) or "-"
    )
    return resolved.rename("resolved").reset_index()


def _largest(frame: pd.DataFrame) -> pd.Series | None:
    """The row with the largest effect (|log ratio|), or None."""
    frame = frame.dropna(subset=["ratio"])
    if frame.empty:
        return None
    return frame.loc[np.abs(np.log(frame["ratio"].astype(float))).idxmax()]


def backend_answers(backend_rows: pd.DataFrame, decisions: pd.DataFrame, spreads: pd.DataFrame) -> list[str]:
    """Per arch and metric: which choice moves it more, the backend or the style, with the
    largest decided effect of each and its interval."""
    if spreads.empty or backend_rows.empty:
        return []
    lines = []
    for (arch, metric), part in spreads.groupby(["arch", "metric"], sort=False):
        by_backend = part[part["across"] == "backends"]["spread"].max()
        by_style = part[part["across"] == "styles"]["spread"].max()
        if pd.isna(by_backend) or pd.isna(by_style):
            continue
        words = METRIC_WORDS.get(metric, metric)
        mover = "the backend" if by_backend > by_style else "the style"
        backend = _largest(backend_rows[(backend_rows["arch"] == arch) & (backend_rows["metric"] == metric)])
        style = (
            _largest(decisions[(decisions["arch"] == arch) & (decisions["metric"] == metric)])
            if len(decisions)
            else None
        )
        line = (f"{arch}, {words}: {mover} moves it more (up to {by_backend:.2f}x across backends for one style, "
                f"{by_style:.2f}x across styles on one backend).")  # fmt: skip
        if backend is not None:
            line += (f" Largest backend effect: {backend['who']} on {backend['value']} / tensorflow "
                     f"{backend['ratio']:.2f}x [{backend['ratio_low']:.2f}, {backend['ratio_high']:.2f}], {backend['decision']}.")  # fmt: skip
        if style is not None:
            line += (f" Largest style effect: {style['who']} / reference ({style['setting'] or 'one setting'}) "
                     f"{style['ratio']:.2f}x [{style['ratio_low']:.2f}, {style['ratio_high']:.2f}], {style['decision']}.")  # fmt: skip
        lines.append(line)
    return lines


def style_comparisons(
    ok: pd.DataFrame, reference: str, margin: float
) -> tuple[list[dict], list[stats.Comparison]]:
    """Every style against the reference in its cell group, for each decided metric."""
    rows, compared = [], []
    for _, group in ok.groupby("group", sort=False):
        if reference not in set(group["who"]):
            continue
        first = group.iloc[0]
        for metric in DECIDED_METRICS:
            for who in sorted(set(group["who"]) - {reference}, key=_style_order):
                a, b, paired = why.paired_values(group, who, reference, metric)
                compared.append(stats.compare(a, b, margin=margin, paired=paired))
                rows.append(
                    {"arch": first["arch"], "setting": first["setting"], "who": who, "metric": metric}
                )
    return rows, compared


STYLE_COLUMNS = ["arch", "setting", "who", "metric", "ratio", "ratio_low", "ratio_high", "level", "p_value",
                 "paired", "n", "decision", "p_adjusted", "repeats_needed", "reason"]  # fmt: skip


def style_table(rows: list[dict], decisions: list[decide.Decision]) -> pd.DataFrame:
    """One row per comparison: its ratio, the interval at the family's level the word is about."""
    for row, decision in zip(rows, decisions, strict=True):
        c = decision.comparison
        row.update(
            ratio=c.ratio, ratio_low=decision.low, ratio_high=decision.high, level=decision.level,
            p_value=c.p_value, paired=c.paired, n=c.pairs, decision=decision.word,
            p_adjusted=decision.p_adjusted, repeats_needed=decision.repeats_needed, reason=decision.reason(),
        )  # fmt: skip
    return pd.DataFrame(rows, columns=STYLE_COLUMNS)


def comparisons(ok: pd.DataFrame, reference: str, margin: float, alpha: float) -> pd.DataFrame:
    """Every style against the reference, decided as a family of its own (the report decides
    them together with the loop and backend costs: decided_together)."""
    rows, compared = style_comparisons(ok, reference, margin)
    return style_table(rows, decide.decide_all(compared, margin, alpha))


def _style_order(who: str) -> tuple[int, str]:
    base = who.split("#")[0]
    return (STYLE_NAMES.index(base) if base in STYLE_NAMES else 99, who)


def _where(arch: str, setting: str) -> str:
    return f"{arch} ({setting})" if setting else arch


def _interval(row: pd.Series) -> str:
    unit = "paired blocks" if row["paired"] else "repeats per style"
    level = row.get("level", 0.95)
    if not np.isfinite(row["ratio_low"]):
        return f"too few repeats for a {level:.1%} interval; {row['n']} {unit}"
    return f"{level:.1%} interval {row['ratio_low']:.2f}–{row['ratio_high']:.2f}; {row['n']} {unit}"


def verdict(row: pd.Series, reference: str) -> str:
    """One sentence per comparison, carrying exactly one decision word."""
    if row["metric"] == "step_ms_median":
        claim = f"{row['who']} steps {row['ratio']:.2f}× {reference}"
    else:
        claim = f"{row['who']}'s time to first step is {row['ratio']:.2f}× {reference}'s"
    return f"On {_where(row['arch'], row['setting'])}, {claim} ({_interval(row)}): {row['reason']}."


def answers(decisions: pd.DataFrame, reference: str, margin: float) -> list[str]:
    """One sentence per architecture and metric: which styles are faster, slower, equivalent, undecided."""
    sentences = []
    several_settings = decisions["setting"].nunique() > 1
    for (arch, metric), group in decisions.groupby(["arch", "metric"], sort=False):
        parts = []
        for word in decide.WORDS:
            chosen = group[group["decision"] == word]
            if chosen.empty:
                continue
            items = []
            for who, mine in chosen.groupby("who", sort=False):
                ratios = ", ".join(
                    f"{r:.2f}×" + (f" {s}" if several_settings and s else "")
                    for r, s in zip(mine["ratio"], mine["setting"], strict=True)
                )
                items.append(f"{who} ({ratios})")
            label = f"{word} within ±{margin:.0%}" if word == decide.EQUIVALENT else word
            parts.append(f"{label}: {', '.join(items)}")
        sentences.append(f"{arch}, {DECIDED_METRICS[metric]} against {reference}: " + "; ".join(parts) + ".")
    return sentences


ANCHOR_SPREAD_WARNING = 1.5  # slowest / fastest anchor in one sweep that earns a banner


def environment(frame: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Each environment column's distinct values, and loud warnings for mixed or partial data."""
    described = {}
    for column in ENVIRONMENT:
        values = sorted({str(v) for v in frame[column].dropna().unique() if str(v)})
        described[column] = ", ".join(values) if values else "-"
    fixed = cells.held_fixed(frame)
    if fixed:
        described["settings held fixed"] = ", ".join(fixed.values())
    banners = [
        f"This sweep mixes {column.replace('_', ' ')}s: {described[column]}. Differences may be the machine, not the style."
        for column in MUST_MATCH
        if frame[column].dropna().nunique() > 1
    ]
    # Each backend writes the anchor in its own framework (bench/runtime/anchor.py): compare like with like.
    for backend, anchors in frame.dropna(subset=["anchor_step_ms"]).groupby("backend")["anchor_step_ms"]:
        low, middle, high = anchors.min(), anchors.median(), anchors.max()
        name = "machine-speed anchor" + ("" if frame["backend"].nunique() == 1 else f" ({backend})")
        described[name] = f"{middle:.3g} ms median over {len(anchors)} trials (range {low:.3g}–{high:.3g} ms)"
        if high > ANCHOR_SPREAD_WARNING * low:
            banners.append(
                f"The machine's own speed moved during this sweep: the fixed anchor workload ({backend}) took "
                f"{low:.3g}–{high:.3g} ms ({high / low:.2f}× apart). Interleaving spreads that over every "
                "style, but it widens every interval."
            )
    if (frame["data_source"] == "embedded").any():
        banners.append(
            "Data: the 5,000-digit embedded MNIST subset, not full MNIST. Timings hold; "
            "accuracies are from 4,000 training digits. Set BENCH_MNIST_DIR for the full set."
        )
    return described, banners


def accuracy_banners(ok: pd.DataFrame) -> list[str]:
    """Identical models with identical seeds must reach the same accuracy: name any cell that does not."""
    banners = []
    for _, group in ok.groupby("group", sort=False):
        medians = group.groupby("who")["test_accuracy"].median().dropna()
        if len(medians) > 1 and medians.max() - medians.min() > ACCURACY_GAP + 1e-9:
            first = group.iloc[0]
            banners.append(
                f"On {_where(first['arch'], first['setting'])} the styles reached different test accuracy "
                f"({medians.min():.4f}–{medians.max():.4f}, {medians.idxmin()} lowest): the builds are not "
                "the same model, so their timings are not comparable; run bench verify."
            )
    return banners


def reference_banners(ok: pd.DataFrame) -> list[str]:
    """Rows whose model did not match the reference style's parameter count and weight shapes."""
    if "matches_reference" not in ok:
        return []
    mismatched = ok[ok["matches_reference"].astype("boolean").eq(False)]
    return [
        f"{who} on {_where(arch, setting)} built a model whose parameters or weight shapes differ from "
        "the reference style's: not the same model, so its timings are not comparable; run bench verify."
        for (who, arch, setting), _ in mismatched.groupby(["who", "arch", "setting"], sort=True)
    ]


def retrace_banners(ok: pd.DataFrame) -> list[str]:
    """Styles whose train step was traced again during the timed steps: each retrace (a new
    graph, and on JAX a new XLA compile) falls inside their steady-step numbers."""
    retraced = ok[ok["retraces_steady"].fillna(0) > 0]
    return [
        f"{who} on {_where(arch, setting)} retraced its train step during the timed steps "
        f"({int(group['retraces_steady'].sum())} retraces in {len(group)} trials; column retraces_steady): "
        'its steady-step numbers include new traces and compiles (docs/why.md "Retraces").'
        for (who, arch, setting), group in retraced.groupby(["who", "arch", "setting"], sort=True)
    ]


def contention_banners(ok: pd.DataFrame) -> list[str]:
    """Trials timed while other trials ran on their host (bench/run/jobs.py) carry that contention."""
    shared = ok[ok["concurrent_trials"].fillna(1) > 1]
    if shared.empty:
        return []
    return [
        f"{len(shared)} of {len(ok)} trials were timed while other stylebench trials ran on the same host "
        f"(up to {int(shared['concurrent_trials'].max())} at once; column concurrent_trials): their times "
        "include that contention, so compare them only with trials that shared a host alike. For clean "
        'timings run one trial per host at a time (docs/clusters.md "Running on a cluster").'
    ]


def _listed(frame: pd.DataFrame, status: str, columns: list[str]) -> pd.DataFrame:
    return frame[frame["status"] == status][columns].rename(columns={"who": "style"})


def summarize(
    frame: pd.DataFrame,
    reference: str = "functional",
    margin: float = decide.MARGIN,
    alpha: float = decide.ALPHA,
    damaged: list[str] | None = None,
    allow_mixed_hardware: bool = False,
) -> Summary:
    """Everything the report shows. Raises cells.MixedHardware when the ok rows come from more
    than one kind of hardware, unless `allow_mixed_hardware` (then a banner says so)."""
    frame = cells.with_labels(frame)
    ok = frame[frame["status"] == "ok"]
    mixed = cells.check_hardware(ok, allow_mixed_hardware, "The rows of this sweep")
    decisions, loops, backend_rows = decided_together(ok, reference, margin, alpha)
    spreads = backend_or_style(ok)
    described, banners = environment(frame)
    banners += accuracy_banners(ok) + reference_banners(ok) + contention_banners(ok) + retrace_banners(ok)
    banners += [mixed] if mixed else []
    banners += [
        f"Damaged result file left out of this report (untouched on disk): {line}" for line in damaged or []
    ]
    pick = ["arch", "setting", "who"]
    overheads = overhead.overhead_table(ok, reference, margin)
    phases = why.why_table(ok, reference)
    return Summary(
        reference=reference,
        ok=ok,
        table=cell_table(ok),
        clocks=clock_table(ok),
        loops=loops,
        backends=backend_rows,
        backend_or_style=spreads,
        backend_answers=backend_answers(backend_rows, decisions, spreads),
        compile_modes=compile_modes(ok),
        overheads=overheads,
        overhead_answers=overhead.overhead_sentences(overheads, reference),
        why=phases,
        breakdown=why.breakdown_table(ok),
        why_answers=why.why_sentences(phases, reference, margin),
        decisions=decisions,
        verdicts=[verdict(row, reference) for _, row in decisions.iterrows()],
        answers=answers(decisions, reference, margin) if len(decisions) else [],
        not_applicable=_listed(frame, "not_applicable", [*pick, "reason"]).drop_duplicates(),
        errors=_listed(frame, "error", [*pick, "repeat", "error"]),
        skipped=_listed(frame, "skipped", [*pick, "reason"]).drop_duplicates(),
        environment=described,
        banners=banners,
        sweep_id=", ".join(sorted(frame["sweep_id"].dropna().unique())),
        trials=len(frame),
        margin=margin,
        alpha=alpha,
    )
