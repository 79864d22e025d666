"""Baseline vs current: a regression gate that does not cry wolf on a noisy machine.

The asv rule: a cell regresses only when it is slower by more than a factor
AND the difference is statistically significant (two-sided Mann-Whitney U
over repeats). A bare threshold alone floods a noisy machine with false
alarms; a test alone flags tiny, real-but-irrelevant changes. Accuracy is
checked apart: a median drop beyond a tolerance is a regression.
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


def _verdict(
    label: str, metric: str, base: pd.DataFrame, cur: pd.DataFrame, comparison: stats.Comparison, status: str
) -> Verdict:
    return Verdict(
        label, metric, float(base[metric].median()), float(cur[metric].median()), comparison, status
    )


def compare_frames(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    metrics: list[str],
    threshold: float,
    alpha: float,
    accuracy_tolerance: float,
) -> list[Verdict]:
    """One verdict per common cell and metric, plus an accuracy verdict per cell."""
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
            verdicts.append(_verdict(label, metric, base, cur, comparison, status))
        drop = float(base[ACCURACY].median() - cur[ACCURACY].median())
        status = ACCURACY_DROP if drop > accuracy_tolerance else UNCHANGED
        comparison = stats.compare(cur[ACCURACY], base[ACCURACY])
        verdicts.append(_verdict(label, ACCURACY, base, cur, comparison, status))
    return verdicts


def table(verdicts: list[Verdict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "cell": v.cell, "metric": v.metric, "n": f"{v.comparison.n_reference}/{v.comparison.n_candidate}",
                "baseline": f"{v.baseline:.4g}", "current": f"{v.current:.4g}", "ratio": f"{v.comparison.ratio:.3f}",
                "95% CI": f"{v.comparison.low:.3f}–{v.comparison.high:.3f}", "p": f"{v.comparison.p_value:.2g}",
                "verdict": v.status,
            }
            for v in verdicts
        ]
    )  # fmt: skip


def markdown(verdicts: list[Verdict], threshold: float, alpha: float) -> str:
    failed = [v for v in verdicts if v.failed]
    head = "**Regression**" if failed else "**No regression**"
    rule = f"slower by more than {threshold:.0%} and Mann-Whitney p < {alpha:g}"
    lines = [f"## stylebench compare: {head}", "", f"Rule: a cell regresses when it is {rule}.", ""]
    lines += [f"- {v.status}: {v.cell}, {v.metric} {v.comparison.ratio:.2f}×" for v in failed]
    return "\n".join([*lines, "", table(verdicts).to_markdown(index=False), ""])


def parse_fraction(text: str) -> float:
    """'10%' or '0.1' -> 0.1."""
    text = text.strip()
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)
