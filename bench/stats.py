"""Statistics over repeats: distribution-free intervals, ratios, and the tests behind decisions.

The unit of replication is a repeat (one process), never a step inside one:
steps of one process share its warm caches and its luck, so treating them as
independent would make every difference "significant".

Every interval here is an order statistic with exact coverage, no bootstrap:
- the median of one sample: the binomial (sign-test) interval between two
  order statistics of the sample;
- a ratio from paired repeats (all styles of a cell timed in one process, a
  block): the Hodges-Lehmann median of the per-block log ratios, with the
  exact Wilcoxon signed-rank interval (order statistics of the Walsh averages);
- a ratio from unpaired repeats (one process per trial, or a stored baseline
  against a new run): the Hodges-Lehmann shift of the log values, with the
  exact Mann-Whitney interval (order statistics of the pairwise differences).
With too few repeats for the asked level an interval is NaN, never the range
of two points dressed as 95%. p-values come from scipy (`wilcoxon`,
`mannwhitneyu`, `binomtest`); the exact null distributions that place the
interval bounds are counted here and cross-checked against scipy in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A median and its distribution-free interval (NaN bounds: too few repeats); `n` samples."""

    median: float
    low: float
    high: float
    n: int

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low))


@dataclass(frozen=True)
class Comparison:
    """candidate / reference as a ratio, its interval, and the tests behind a decision.

    `p_value` tests "no difference" (two-sided); `p_lower` / `p_upper` are the
    one-sided tests of "ratio >= 1 + margin" and "ratio <= 1 / (1 + margin)"
    used for equivalence (TOST); `spread` is the standard deviation of the log
    ratio of one repeat, the basis of "how many repeats would decide it".
    """

    ratio: float
    low: float
    high: float
    p_value: float
    n_candidate: int
    n_reference: int
    paired: bool = False
    p_equivalent: float = float("nan")
    spread: float = float("nan")

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def _clean(values: np.ndarray | list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def _binomial_rank(n: int, confidence: float) -> int | None:
    """The largest k with P(Bin(n, 1/2) < k) <= (1 - confidence) / 2, or None when none exists:
    then [x_(k), x_(n+1-k)] covers the median with probability at least `confidence`."""
    tail = (1.0 - confidence) / 2.0
    cdf = stats.binom.cdf(np.arange(n + 1), n, 0.5)  # cdf[j] = P(X <= j)
    ranks = [k for k in range(1, n // 2 + 1) if cdf[k - 1] <= tail]
    return ranks[-1] if ranks else None


def median_ci(values: np.ndarray | list[float], confidence: float = CONFIDENCE) -> Estimate:
    """Median with the exact binomial order-statistic interval (NaN bounds when n is too small:
    95% needs at least 6 repeats)."""
    sample = np.sort(_clean(values))
    if sample.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    median = float(np.median(sample))
    k = _binomial_rank(sample.size, confidence)
    if k is None:
        return Estimate(median, float("nan"), float("nan"), int(sample.size))
    return Estimate(median, float(sample[k - 1]), float(sample[sample.size - k]), int(sample.size))


def min_repeats_for_interval(confidence: float = CONFIDENCE) -> int:
    """The fewest repeats for which median_ci gives an interval at this level."""
    return next(n for n in range(1, 100) if _binomial_rank(n, confidence) is not None)


@cache
def signed_rank_counts(n: int) -> np.ndarray:
    """counts[t] = number of sign patterns of ranks 1..n whose positive ranks sum to t."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts


@cache
def rank_sum_counts(m: int, n: int) -> np.ndarray:
    """counts[u] = number of orderings of m + n values in which the Mann-Whitney U equals u."""
    # The generating function of U is the Gaussian binomial coefficient [m+n choose m]_q.
    counts = np.zeros(m * n + 1)
    table = {(0, j): np.array([1.0]) for j in range(n + 1)}
    for i in range(1, m + 1):
        table[(i, 0)] = np.array([1.0])
        for j in range(1, n + 1):
            # The largest value belongs to the first sample (adds j to U) or to the second.
            with_first, with_second = table[(i - 1, j)], table[(i, j - 1)]
            size = i * j + 1
            combined = np.zeros(size)
            combined[j : j + len(with_first)] += with_first
            combined[: len(with_second)] += with_second
            table[(i, j)] = combined
    counts[:] = table[(m, n)]
    return counts


def _critical_rank(counts: np.ndarray, confidence: float) -> int | None:
    """The largest c with P(T < c) <= (1 - confidence) / 2 under the null counts, 1-based;
    None when even the most extreme value is too likely (too few repeats)."""
    cdf = np.cumsum(counts) / counts.sum()
    tail = (1.0 - confidence) / 2.0
    below = np.flatnonzero(cdf <= tail)  # cdf[t] = P(T <= t)
    return int(below[-1]) + 1 if below.size else None


def _order_interval(sorted_values: np.ndarray, c: int | None) -> tuple[float, float]:
    if c is None or c > sorted_values.size - c + 1:
        return float("nan"), float("nan")
    return float(sorted_values[c - 1]), float(sorted_values[sorted_values.size - c])


def paired_log_interval(log_ratios: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Hodges-Lehmann estimate of the median log ratio and its exact signed-rank interval."""
    n = log_ratios.size
    walsh = np.sort([(log_ratios[i] + log_ratios[j]) / 2 for i in range(n) for j in range(i, n)])
    low, high = _order_interval(walsh, _critical_rank(signed_rank_counts(n), confidence))
    return float(np.median(walsh)), low, high


def unpaired_log_interval(
    log_a: np.ndarray, log_b: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """Hodges-Lehmann shift log_a - log_b and its exact Mann-Whitney interval."""
    differences = np.sort(np.subtract.outer(log_a, log_b).ravel())
    counts = rank_sum_counts(log_a.size, log_b.size)
    low, high = _order_interval(differences, _critical_rank(counts, confidence))
    return float(np.median(differences)), low, high


def _wilcoxon_p(values: np.ndarray, alternative: str) -> float:
    if values.size == 0 or np.all(values == 0):
        return 1.0
    return float(stats.wilcoxon(values, alternative=alternative, zero_method="wilcox").pvalue)


def _mann_whitney_p(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    return float(stats.mannwhitneyu(a, b, alternative=alternative).pvalue)


def compare(
    candidate: np.ndarray | list[float],
    reference: np.ndarray | list[float],
    margin: float = 0.05,
    paired: bool = False,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """candidate / reference on the log scale: Hodges-Lehmann ratio with its exact rank
    interval, a two-sided test of no difference and a TOST p-value for "within ±margin".

    Paired: candidate[i] and reference[i] were timed in the same block (process);
    repeats missing on either side are dropped together.
    """
    a, b = np.asarray(candidate, dtype=float), np.asarray(reference, dtype=float)
    if paired:
        keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        a, b = a[keep], b[keep]
    else:
        a, b = a[np.isfinite(a) & (a > 0)], b[np.isfinite(b) & (b > 0)]
    nan = float("nan")
    if a.size == 0 or b.size == 0:
        return Comparison(nan, nan, nan, nan, int(a.size), int(b.size), paired)
    bound = float(np.log1p(margin))
    if paired:
        logs = np.log(a) - np.log(b)
        centre, low, high = paired_log_interval(logs, confidence)
        p_value = _wilcoxon_p(logs, "two-sided")
        p_equivalent = max(_wilcoxon_p(logs - bound, "less"), _wilcoxon_p(logs + bound, "greater"))
        spread = float(np.std(logs, ddof=1)) if logs.size > 1 else nan
    else:
        log_a, log_b = np.log(a), np.log(b)
        centre, low, high = unpaired_log_interval(log_a, log_b, confidence)
        p_value = _mann_whitney_p(log_a, log_b, "two-sided")
        p_equivalent = max(
            _mann_whitney_p(log_a - bound, log_b, "less"), _mann_whitney_p(log_a + bound, log_b, "greater")
        )
        pooled = [np.var(x, ddof=1) for x in (log_a, log_b) if x.size > 1]
        spread = float(np.sqrt(2 * np.mean(pooled))) if pooled else nan
    return Comparison(
        float(np.exp(centre)), float(np.exp(low)), float(np.exp(high)), p_value,
        int(a.size), int(b.size), paired, p_equivalent, spread,
    )  # fmt: skip


def smallest_p_value(n_candidate: int, n_reference: int, paired: bool = False) -> float:
    """The smallest two-sided p-value these sample sizes allow (signed-rank when paired,
    Mann-Whitney otherwise): with 3 repeats against 3 it is 0.1, so nothing can reach 0.05."""
    from math import comb

    if n_candidate < 1 or n_reference < 1:
        return 1.0
    if paired:
        return min(1.0, 2.0 / 2 ** min(n_candidate, n_reference))
    return min(1.0, 2.0 / comb(n_candidate + n_reference, n_candidate))


def repeats_to_reach(alpha: float, paired: bool) -> int:
    """The fewest repeats per side for which smallest_p_value can fall below alpha."""
    return next(n for n in range(1, 200) if smallest_p_value(n, n, paired) < alpha)


def repeats_to_decide(comparison: Comparison, margin: float, alpha: float) -> int | None:
    """About how many repeats (per side) would decide this comparison, from its observed spread:
    enough that a 1 - 2·alpha interval around the observed log ratio clears the nearer
    boundary (the margin for equivalence, 0 for a difference). None: cannot say (no spread,
    or the estimate sits on the margin)."""
    spread, ratio = comparison.spread, comparison.ratio
    if not (np.isfinite(spread) and np.isfinite(ratio)) or spread <= 0:
        return None
    distance = abs(np.log(ratio))
    bound = float(np.log1p(margin))
    room = bound - distance if distance < bound else distance  # to the margin, or to "no difference"
    if room <= 1e-9:
        return None
    z = stats.norm.ppf(1 - alpha)
    # rank tests are ~95% as efficient as t on normal data; 1.1 rounds that up
    n = int(np.ceil(1.1 * (z * spread / room) ** 2))
    return max(n, repeats_to_reach(alpha, comparison.paired))
