"""Why a style costs what it costs: each style's phases against the reference's.

Per model, setting and style: the time to first step split into its phases
(Python construction, weight creation, compile(), tracing the train step, the
rest of the first execution: graph optimisation or XLA compile, and the run), each phase's
memory growth (bench/measure/memory.py), and the train step's traces and steady-state
retraces; with `train.profile=true`, also a second build's first execution split
by TensorFlow's profiler (bench/measure/profile.py; a warm process's times, in their own
unit so that no sentence counts them as a cold phase). Against the reference
every phase is a difference: paired within a
block (each block's style minus its reference, the same process), the median
difference with its exact order-statistic 95% interval (bench.decide.stats.median_ci);
in the trial design the difference of the two medians, without an interval.
One sentence per style names its largest extra cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import results
from bench.decide import cells, stats
from bench.present.overhead import BATCH

TIME_PARTS = {
    "construct_ms": "Python construction",
    "build_ms": "weight creation",
    "compile_ms": "compile()",
    "trace_ms": "tracing the train step (its Python body)",
    "first_run_ms": "the first execution beyond tracing (graph optimisation or XLA compile, and the run)",
}
MEMORY_PARTS = {
    "mem_build_mb": "memory while built",
    "mem_first_step_mb": "memory in the first execution",
    "mem_steady_mb": "memory in steady steps",
}
STEP_PARTS = {column: f"{words} per steady step" for column, words in results.PROFILE_COLUMNS.items()}
STEP_UNIT = "ms/step"
# a second build's first execution, profiled in the warm process (bench/measure/profile.py): a breakdown
# of the first execution, not a phase of the trial's cold time to first step (another unit, so
# that no sentence adds it to one)
FIRST_EXECUTION_PARTS = {
    column: f"first execution: {words}" for column, words in results.FIRST_EXECUTION_COLUMNS.items()
}
FIRST_UNIT = "ms, warm"
UNITS = {
    **dict.fromkeys(TIME_PARTS, "ms"),
    **dict.fromkeys(MEMORY_PARTS, "MiB"),
    **dict.fromkeys(STEP_PARTS, STEP_UNIT),
    **dict.fromkeys(FIRST_EXECUTION_PARTS, FIRST_UNIT),
}
LABELS = {**TIME_PARTS, **MEMORY_PARTS, **STEP_PARTS, **FIRST_EXECUTION_PARTS}
BREAKDOWN_COLUMNS = [
    "arch",
    "setting",
    "who",
    "n",
    *STEP_PARTS,
    "parts_ms",
    "step_ms",
    "parts_over_step",
    "overhead",
]


def breakdown_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Per model, setting and style with a profiled step: each part's median over trials, their
    sum, the unprofiled steady step (the timed steps' median), the median over trials of each
    trial's parts over its own unprofiled step, and the profiler's own cost (profiled over
    unprofiled step, the same trial a moment apart), median."""
    if "prof_compute_ms" not in ok or ok["prof_compute_ms"].isna().all():
        return pd.DataFrame(columns=BREAKDOWN_COLUMNS)
    profiled = ok.dropna(subset=["prof_compute_ms"])
    profiled = profiled.assign(
        model=cells.model_labels(profiled),
        setting_words=cells.setting_labels(profiled, model_words=False),
    )
    rows = []
    for (model, setting, who), group in profiled.groupby(["model", "setting_words", "who"], sort=True):
        medians = {part: float(group[part].median()) for part in STEP_PARTS}
        # each trial's parts against its own unprofiled step (paired: the machine's drift between
        # trials cancels), then the median over trials
        own = group[list(STEP_PARTS)].sum(axis=1) / group["step_ms_median"]
        rows.append({"arch": model, "setting": setting, "who": who, "n": len(group), **medians,
                     "parts_ms": sum(medians.values()), "step_ms": float(group["step_ms_median"].median()),
                     "parts_over_step": float(own.median()), "overhead": float(group["prof_overhead"].median())})  # fmt: skip
    return pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)


COLUMNS = [
    "arch", "setting", "who", "part", "label", "unit", "median", "extra", "extra_low", "extra_high", "n", "paired",
    "traces", "reference_traces", "retraces", "graph_ops", "reference_graph_ops", "layer_calls",
    "reference_layer_calls",
]  # fmt: skip


def paired_values(
    group: pd.DataFrame, who: str, reference: str, metric: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The candidate's and the reference's values of `metric` in one cell group; paired by
    repeat (same block, same process) when the group was timed in blocks."""
    mine, ref = group[group["who"] == who], group[group["who"] == reference]
    if (group["design"] == "block").all():
        joined = (
            mine.set_index("repeat")[metric]
            .to_frame("a")
            .join(ref.set_index("repeat")[metric].to_frame("b"), how="inner")
        )
        return joined["a"].to_numpy(float), joined["b"].to_numpy(float), True
    return mine[metric].to_numpy(float), ref[metric].to_numpy(float), False


def with_first_run(ok: pd.DataFrame) -> pd.DataFrame:
    """`ok` with `first_run_ms`: the first execution beyond tracing the step (where tracing was
    not timed, as on eager torch, the whole first execution)."""
    if "first_step_ms" not in ok:
        return ok
    traced = ok["trace_ms"].fillna(0.0) if "trace_ms" in ok else 0.0
    return ok.assign(first_run_ms=ok["first_step_ms"] - traced)


def _extra(a: np.ndarray, b: np.ndarray, paired: bool) -> tuple[float, float, float, int]:
    if paired:
        difference = stats.median_ci(a - b)
        return difference.median, difference.low, difference.high, difference.n
    finite_a, finite_b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(finite_a) or not len(finite_b):
        return np.nan, np.nan, np.nan, 0
    return float(np.median(finite_a) - np.median(finite_b)), np.nan, np.nan, min(len(finite_a), len(finite_b))


def why_table(ok: pd.DataFrame, reference: str) -> pd.DataFrame:
    """One row per model and setting (cell groups pooled over the batch size, which a build
    does not depend on much: a scaling sweep gets one row per width), style and part: its
    median and its extra over the reference, from every pair of the pooled groups."""
    rows = []
    ok = with_first_run(ok)
    parts = [p for p in UNITS if p in ok and ok[p].notna().any()]
    if ok.empty or not parts:
        return pd.DataFrame(columns=COLUMNS)
    pooled = ok.assign(
        pool=cells.group_key(ok, ignore=(BATCH,)),
        model=cells.model_labels(ok),
        setting_words=cells.setting_labels(ok, ignore=(BATCH,), model_words=False),
    )
    for _, pool in pooled.groupby("pool", sort=False):
        first = pool.iloc[0]
        setting = first["setting_words"]
        groups = [g for _, g in pool.groupby("group", sort=False)]
        for who in sorted(set(pool["who"])):
            traces = _trace_counts(pool, who, reference)
            for part in parts:
                row = {"arch": first["model"], "setting": setting, "who": who, "part": part,
                       "label": LABELS[part], "unit": UNITS[part],
                       "median": float(pool.loc[pool["who"] == who, part].median()), **traces}  # fmt: skip
                if who != reference and reference in set(pool["who"]):
                    pairs = [paired_values(g, who, reference, part) for g in groups]
                    a = np.concatenate([p[0] for p in pairs])
                    b = np.concatenate([p[1] for p in pairs])
                    paired = all(p[2] for p in pairs)
                    extra, low, high, n = _extra(a, b, paired)
                    row.update(extra=extra, extra_low=low, extra_high=high, n=n, paired=paired)
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _amount(value: float, unit: str) -> str:
    return f"{value:+.3g} {unit}"


def _interval(row: pd.Series) -> str:
    if not np.isfinite(row["extra_low"]):
        kind = "paired blocks" if row["paired"] else "repeats, unpaired: no interval"
        return f"{int(row['n'])} {kind}"
    return (f"95% CI {_amount(row['extra_low'], row['unit'])} to {_amount(row['extra_high'], row['unit'])}; "
            f"{int(row['n'])} paired blocks")  # fmt: skip


def _trace_counts(pool: pd.DataFrame, who: str, reference: str) -> dict[str, float]:
    """Median traces before the first step (the style's and the reference's) and all steady retraces."""
    if "traces_to_first_step" not in pool:
        return {}
    mine, ref = pool[pool["who"] == who], pool[pool["who"] == reference]
    counts = {"traces": "traces_to_first_step", "graph_ops": "graph_ops", "layer_calls": "layer_calls"}
    found = {"retraces": mine["retraces_steady"].fillna(0).sum()}
    for name, column in counts.items():
        if column in pool:
            found[name] = mine[column].median()
            found[f"reference_{name}"] = ref[column].median() if len(ref) else np.nan
    return found


def _traces(row: pd.Series, reference: str) -> str:
    """The counts that explain a first step: traces, graph size, Keras layer calls."""
    if pd.isna(row.get("traces")) or pd.isna(row.get("reference_traces")):
        return ""
    text = f" It traced its train step {row['traces']:.0f}× before its first step ({reference}: {row['reference_traces']:.0f}×)"
    if pd.notna(row.get("graph_ops")) and pd.notna(row.get("reference_graph_ops")):
        text += f" into a graph of {row['graph_ops']:.0f} ops ({reference}: {row['reference_graph_ops']:.0f})"
    if pd.notna(row.get("layer_calls")) and pd.notna(row.get("reference_layer_calls")):
        text += (f"; a forward pass makes {row['layer_calls']:.0f} Keras layer calls "
                 f"({reference}: {row['reference_layer_calls']:.0f})")  # fmt: skip
    return text + (f"; it retraced {int(row['retraces'])}× in steady steps." if row["retraces"] > 0 else ".")


def why_sentences(table: pd.DataFrame, reference: str, margin: float) -> list[str]:
    """Per model, setting and style: its largest extra time against the reference before the
    first step, counted only when decided (interval above zero) and at least `margin` of the
    reference's time to first step; else its largest decided saving, or that nothing differs
    distinguishably. Then its largest decided extra memory and its trace counts."""
    sentences = []
    for (arch, setting), pool in table.groupby(["arch", "setting"], sort=False):
        mine = pool[(pool["who"] == reference) & (pool["unit"] == "ms")]
        threshold = margin * mine["median"].sum() if len(mine) else 0.0
        where = cells.where(arch, setting)
        for who, rows in pool.dropna(subset=["extra"]).groupby("who", sort=False):
            times = rows[rows["unit"] == "ms"].sort_values("extra", ascending=False)
            if times.empty:
                continue
            decided = times[times["extra_low"] > 0]
            more = decided[decided["extra"] >= threshold]
            less = times[times["extra_high"] < 0].sort_values("extra")
            if not more.empty:
                top = more.iloc[0]
                text = (f"On {where}, {who}'s largest extra cost against {reference} is {top['label']}: "
                        f"{_amount(top['extra'], 'ms')} ({_interval(top)}).")  # fmt: skip
            elif not decided.empty:
                top = decided.iloc[0]
                text = (f"On {where}, {who} costs at most {margin:.0%} of {reference}'s time to first step "
                        f"({threshold:.3g} ms) extra in any phase; its largest decided extra is {top['label']}, "
                        f"{_amount(top['extra'], 'ms')} ({_interval(top)}).")  # fmt: skip
            elif not less.empty:
                top = less.iloc[0]
                text = (f"On {where}, {who} costs no more than {reference} in any phase before its first step; "
                        f"its largest saving is {top['label']}, {_amount(top['extra'], 'ms')} ({_interval(top)}).")  # fmt: skip
            else:
                top = times.iloc[0]
                text = (f"On {where}, no phase of {who}'s first step differs distinguishably from {reference}'s; "
                        f"the largest difference is {top['label']}, {_amount(top['extra'], 'ms')} ({_interval(top)}).")  # fmt: skip
            if not less.empty and decided.shape[0] > 0:
                saving = less.iloc[0]
                text += f" Its largest saving: {saving['label']}, {_amount(saving['extra'], 'ms')} ({_interval(saving)})."
            steps = rows[(rows["unit"] == STEP_UNIT) & (rows["extra_low"] > 0)].sort_values(
                "extra", ascending=False
            )
            if not steps.empty:
                top_step = steps.iloc[0]
                text += (f" Per steady step, its largest extra is {top_step['label'].removesuffix(' per steady step')}: "
                         f"{_amount(top_step['extra'], 'ms')} ({_interval(top_step)}).")  # fmt: skip
            memory = rows[(rows["unit"] == "MiB") & (rows["extra_low"] > 0)].sort_values(
                "extra", ascending=False
            )
            if not memory.empty:
                worst = memory.iloc[0]
                text += f" Its largest extra memory: {worst['label']}, {_amount(worst['extra'], 'MiB')} ({_interval(worst)})."
            sentences.append(text + _traces(rows.iloc[0], reference))
    return sentences
