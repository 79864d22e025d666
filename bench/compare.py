"""Baseline vs current: a regression gate that does not cry wolf on a noisy machine.

The asv rule: a cell regresses only when it is slower by more than a factor
AND the difference is statistically significant (two-sided Mann-Whitney U
over repeats). A bare threshold alone floods a noisy machine with false
alarms; a test alone flags tiny, real-but-irrelevant changes. Accuracy is
checked apart: a median drop beyond a tolerance is a regression.

Anchored mode (`--anchored`) is for a baseline measured in another session:
the machine itself drifts between sessions by more than the threshold. Each
trial also timed a fixed workload in its own process (bench/anchor.py); the
ratio of the two sides' median anchors is the machine factor, and a cell
regresses only when it is slower both in milliseconds and with that factor
divided out. A slower machine moves the first and not the second; contention
slows the small anchor more than the step, so it moves the second the other
way; slower code moves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import results, stats

# Columns that must be equal for two rows to be the same benchmark cell. Not in
# it: repeat, sweep, when and where, and train_inject_delay_ms (a stand-in for
# a code change, which is what the gate is there to judge).
MATCH = [
    "style", "arch_config", "data_dataset", "data_source_requested", "data_max_train_samples",
    "data_max_test_samples", "train_batch_size", "train_warmup_steps", "train_timed_steps", "train_epochs",
    "train_optimizer", "train_learning_rate", "train_seed", "train_steps_per_execution", "train_run_eagerly",
    "hardware_device", "hardware_xla", "hardware_precision", "hardware_threads",
]  # fmt: skip
ACCURACY = "test_accuracy"
ANCHOR = "anchor_step_ms"
REGRESSION, ACCURACY_DROP, IMPROVEMENT, UNCHANGED = "REGRESSION", "ACCURACY DROP", "faster", "ok"


class UnusableInput(Exception):
    """The two result sets cannot be compared; the message is one line."""


@dataclass(frozen=True)
class Verdict:
    cell: str
    metric: str
    baseline: float
    current: float
    comparison: stats.Comparison
    status: str
    anchored: stats.Comparison | None = None  # the same comparison with the machine factor divided out

    @property
    def failed(self) -> bool:
        return self.status in (REGRESSION, ACCURACY_DROP)


def load_ok(path: str | Path) -> pd.DataFrame:
    """The `ok` rows of a sweep folder or an exported Parquet file."""
    try:
        frame = results.load(path)
    except (results.ResultsError, OSError, ValueError) as error:
        raise UnusableInput(str(error)) from error
    ok = frame[frame["status"] == "ok"]
    if ok.empty:
        raise UnusableInput(f"{path}: no successful trials to compare")
    return ok


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    key = frame[MATCH].astype(str).agg("|".join, axis=1)
    label = frame["style"] + "/" + frame["arch"] + " (" + frame["hardware_device"].astype(str)
    label = label + frame["hardware_xla"].map({True: ", XLA", False: ""})
    label = label + ", " + frame["hardware_precision"].astype(str) + ")"
    return frame.assign(cell_key=key, cell=label)


def judge(
    baseline: pd.Series, current: pd.Series, threshold: float, alpha: float
) -> tuple[stats.Comparison, str]:
    """Lower is better for time metrics: slower beyond the threshold and significant fails."""
    comparison = stats.compare(current, baseline)
    if comparison.significant(alpha) and comparison.ratio > 1 + threshold:
        return comparison, REGRESSION
    if comparison.significant(alpha) and comparison.ratio < 1 / (1 + threshold):
        return comparison, IMPROVEMENT
    return comparison, UNCHANGED


def machine_factor(baseline: pd.DataFrame, current: pd.DataFrame) -> float:
    """How much slower the machine ran the fixed anchor workload in `current` than in
    `baseline`: the ratio of the median anchor over all trials of each side.

    One factor per side, not one per trial: a single trial's anchor is as noisy
    as its step time (6-19% between processes here), so dividing trial by trial
    would add noise; the median over a sweep keeps the machine's level only.
    """
    for name, frame in (("baseline", baseline), ("current", current)):
        if frame[ANCHOR].isna().any():
            raise UnusableInput(
                f"{name} has trials without {ANCHOR}; re-measure it with train.anchor_steps>0 (make baseline)"
            )
    versions = set(baseline["anchor_version"]) | set(current["anchor_version"])
    if len(versions) > 1:
        raise UnusableInput(
            f"anchor versions differ ({sorted(versions)}); re-measure the baseline (make baseline)"
        )
    return float(current[ANCHOR].median() / baseline[ANCHOR].median())


def _verdict(
    label: str,
    metric: str,
    base: pd.DataFrame,
    cur: pd.DataFrame,
    comparison: stats.Comparison,
    status: str,
    anchored: stats.Comparison | None = None,
) -> Verdict:
    return Verdict(
        label, metric, float(base[metric].median()), float(cur[metric].median()), comparison, status, anchored
    )


def compare_frames(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    metrics: list[str],
    threshold: float,
    alpha: float,
    accuracy_tolerance: float,
    factor: float | None = None,
) -> list[Verdict]:
    """One verdict per common cell and metric, plus an accuracy verdict per cell.

    With a machine `factor` (anchored mode, see machine_factor) time metrics
    must regress both as measured and divided by it.
    """
    unknown = [m for m in metrics if m not in results.SCHEMA or results.SCHEMA[m] != "float64"]
    if unknown:
        raise UnusableInput(
            f"unknown metric {unknown[0]!r}; pass a numeric results column, e.g. step_ms_median"
        )
    baseline, current = _keyed(baseline), _keyed(current)
    common = sorted(set(baseline["cell_key"]) & set(current["cell_key"]))
    if not common:
        raise UnusableInput(
            f"no common cells: baseline has {baseline['cell'].nunique()} cells, current "
            f"{current['cell'].nunique()}, none with the same configuration"
        )
    verdicts = []
    for key in common:
        base, cur = baseline[baseline["cell_key"] == key], current[current["cell_key"] == key]
        label = cur["cell"].iloc[0]
        for metric in metrics:
            comparison, status = judge(base[metric], cur[metric], threshold, alpha)
            relative = None
            if factor is not None:  # both witnesses must agree: as measured and with the machine divided out
                relative, relative_status = judge(base[metric], cur[metric] / factor, threshold, alpha)
                status = status if status == relative_status else UNCHANGED
            verdicts.append(_verdict(label, metric, base, cur, comparison, status, relative))
        drop = float(base[ACCURACY].median() - cur[ACCURACY].median())
        status = ACCURACY_DROP if drop > accuracy_tolerance else UNCHANGED
        comparison = stats.compare(cur[ACCURACY], base[ACCURACY])
        verdicts.append(_verdict(label, ACCURACY, base, cur, comparison, status))
    return verdicts


def _row(v: Verdict) -> dict[str, str]:
    row = {
        "cell": v.cell, "metric": v.metric, "n": f"{v.comparison.n_reference}/{v.comparison.n_candidate}",
        "baseline": f"{v.baseline:.4g}", "current": f"{v.current:.4g}", "ratio": f"{v.comparison.ratio:.3f}",
        "95% CI": f"{v.comparison.low:.3f}–{v.comparison.high:.3f}", "p": f"{v.comparison.p_value:.2g}",
    }  # fmt: skip
    if v.anchored is not None:
        row["÷anchor ratio"] = f"{v.anchored.ratio:.3f}"
        row["÷anchor p"] = f"{v.anchored.p_value:.2g}"
    return {**row, "verdict": v.status}


def table(verdicts: list[Verdict]) -> pd.DataFrame:
    return pd.DataFrame([_row(v) for v in verdicts]).fillna("")


def rule_text(threshold: float, alpha: float, factor: float | None) -> str:
    rule = f"a cell regresses when it is slower by more than {threshold:.0%} and Mann-Whitney p < {alpha:g}"
    if factor is not None:
        rule += (
            f", both in milliseconds and with the machine's speed divided out (the fixed anchor workload "
            f"ran {factor:.3f}× as long in current as in baseline)"
        )
    return rule + "."


def markdown(verdicts: list[Verdict], threshold: float, alpha: float, factor: float | None = None) -> str:
    failed = [v for v in verdicts if v.failed]
    head = "**Regression**" if failed else "**No regression**"
    rule = rule_text(threshold, alpha, factor)
    lines = [f"## stylebench compare: {head}", "", f"Rule: {rule}", ""]
    lines += [f"- {v.status}: {v.cell}, {v.metric} {v.comparison.ratio:.2f}×" for v in failed]
    return "\n".join([*lines, "", table(verdicts).to_markdown(index=False), ""])


def parse_fraction(text: str) -> float:
    """'10%' or '0.1' -> 0.1; ValueError on anything else or a negative value."""
    text = text.strip()
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if value < 0:
        raise ValueError(f"negative threshold {text!r}")
    return value
