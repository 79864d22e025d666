"""The comparisons a report decides, as tables: per-cell medians with intervals, the two
clocks' gap, every style against the reference, each style's fit loop against the custom
loop and each backend against TensorFlow, all decided as one Benjamini-Hochberg family
(`decided_together`), and which choice (backend or style) spreads a metric more.
Pure pandas + bench.decide; the sentences that read these tables are in `sentences`."""

from __future__ import annotations

import pandas as pd

from bench import decide
from bench.config import STYLE_NAMES
from bench.decide import cells, stats
from bench.present import why

HEADLINE = {
    "step_ms_median": "steady step (ms)",
    "step_ms_block": "steady step, block clock (ms)",
    "time_to_first_step_ms": "time to first step (ms)",
    "test_accuracy": "test accuracy",
}
# The metrics every comparison decides, and the words a report names them by.
METRIC_WORDS = {"step_ms_median": "steady step", "time_to_first_step_ms": "time to first step"}


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


# The compile mode goes with the backend: each runs as Keras's jit_compile="auto" runs it on a
# CPU (conf/backend/), so a backend comparison is across that pair (docs/gpu.md).
BACKEND_METRICS = tuple(METRIC_WORDS)


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


def style_comparisons(
    ok: pd.DataFrame, reference: str, margin: float
) -> tuple[list[dict], list[stats.Comparison]]:
    """Every style against the reference in its cell group, for each decided metric."""
    rows, compared = [], []
    for _, group in ok.groupby("group", sort=False):
        if reference not in set(group["who"]):
            continue
        first = group.iloc[0]
        for metric in METRIC_WORDS:
            for who in sorted(set(group["who"]) - {reference}, key=style_order):
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


def style_order(who: str) -> tuple[int, str]:
    """The styles in the order config names them (a copy `functional#2` after its original)."""
    base = who.split("#")[0]
    return (STYLE_NAMES.index(base) if base in STYLE_NAMES else 99, who)
