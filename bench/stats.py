"""Statistics over repeats: medians with bootstrap intervals, ratios, and tests.

The unit of replication is a repeat (one trial, in its own process), never a
step inside a trial: steps of one process share its warm caches and its luck,
so treating them as independent would make every difference "significant".
scipy does the work; this module fixes the choices (median, 95%, percentile
bootstrap, two-sided Mann-Whitney U) so that reports and the compare gate agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A median and its confidence interval; `n` samples behind it."""

    median: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Comparison:
    """A ratio of medians (candidate / reference), its interval and a test of the difference."""

    ratio: float
    low: float
    high: float
    p_value: float
    n_candidate: int
    n_reference: int

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def _clean(values: np.ndarray | list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def median_ci(values: np.ndarray | list[float]) -> Estimate:
    """Median with a 95% percentile-bootstrap interval (the sample itself when n < 2)."""
    sample = _clean(values)
    if sample.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    median = float(np.median(sample))
    if sample.size < 2 or np.ptp(sample) == 0:
        return Estimate(median, median, median, int(sample.size))
    result = stats.bootstrap(
        (sample,), np.median, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
        method="percentile", random_state=SEED,
    )  # fmt: skip
    interval = result.confidence_interval
    return Estimate(median, float(interval.low), float(interval.high), int(sample.size))


def _median_ratio(candidate: np.ndarray, reference: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(candidate, axis=axis) / np.median(reference, axis=axis)


def compare(candidate: np.ndarray | list[float], reference: np.ndarray | list[float]) -> Comparison:
    """median(candidate) / median(reference) with a two-sample bootstrap interval and
    a two-sided Mann-Whitney U p-value (exact for small samples)."""
    a, b = _clean(candidate), _clean(reference)
    if a.size == 0 or b.size == 0:
        nan = float("nan")
        return Comparison(nan, nan, nan, nan, int(a.size), int(b.size))
    ratio = float(np.median(a) / np.median(b))
    if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        low = high = ratio
    else:
        result = stats.bootstrap(
            (a, b), _median_ratio, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
            method="percentile", random_state=SEED, vectorized=True,
        )  # fmt: skip
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    p_value = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Comparison(ratio, low, high, p_value, int(a.size), int(b.size))


def smallest_p_value(n_candidate: int, n_reference: int) -> float:
    """The smallest two-sided Mann-Whitney p-value possible with these sample sizes:
    with 3 repeats against 3 it is 0.1, so no difference can reach 0.05."""
    from math import comb

    if n_candidate < 1 or n_reference < 1:
        return 1.0
    return min(1.0, 2.0 / comb(n_candidate + n_reference, n_candidate))
