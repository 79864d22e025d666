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

from dataclasses import dataclass, field
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

    `low` / `high` bound the ratio at `CONFIDENCE` (95%, two-sided); a decision states an
    interval at its family's level instead (`interval`). `p_value` tests "no difference"
    (two-sided). The one-sided tests behind the three claims, each against the margin it
    names: `p_slower` of "ratio <= 1 + margin", `p_faster` of "ratio >= 1 / (1 + margin)", and
    `p_equivalent` (TOST) of "ratio outside the margin". `spread` is the standard deviation of
    the log ratio of one repeat (paired) or of sqrt(2) x one side (unpaired), the basis of "how
    many repeats would decide it". `logs` keeps the log values the interval is built from.
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
    p_slower: float = float("nan")
    p_faster: float = float("nan")
    margin: float = float("nan")
    logs: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    @property
    def pairs(self) -> int:
        """Matched pairs (paired) or the smaller side (unpaired): the repeats that count."""
        return min(self.n_candidate, self.n_reference)


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


EXACT_UP_TO = 50  # repeats; beyond it (or with ties) scipy's normal approximation


def _exact_p(counts: np.ndarray, statistic: int, alternative: str) -> float:
    """The exact p of `statistic` under the null `counts` (greater: P(T >= t); less: P(T <= t))."""
    total = counts.sum()
    upper, lower = counts[statistic:].sum() / total, counts[: statistic + 1].sum() / total
    if alternative == "greater":
        return float(upper)
    if alternative == "less":
        return float(lower)
    return float(min(1.0, 2 * min(upper, lower)))


def _wilcoxon_p(values: np.ndarray, alternative: str) -> float:
    """The signed-rank test of "symmetric about 0": exact from signed_rank_counts when there are
    no zeros or ties (the case of measured times), else scipy's."""
    if values.size == 0 or np.all(values == 0):
        return 1.0
    magnitude = np.abs(values)
    if values.size <= EXACT_UP_TO and np.all(magnitude > 0) and np.unique(magnitude).size == values.size:
        ranks = np.argsort(np.argsort(magnitude)) + 1
        return _exact_p(signed_rank_counts(values.size), int(ranks[values > 0].sum()), alternative)
    return float(stats.wilcoxon(values, alternative=alternative, zero_method="wilcox").pvalue)


def _mann_whitney_p(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    """The rank-sum test of "a and b from one distribution" (greater: a above b): exact from
    rank_sum_counts when there are no ties, else scipy's."""
    if a.size + b.size <= EXACT_UP_TO and np.unique(np.concatenate([a, b])).size == a.size + b.size:
        u = int((a[:, None] > b[None, :]).sum())
        return _exact_p(rank_sum_counts(a.size, b.size), u, alternative)
    return float(stats.mannwhitneyu(a, b, alternative=alternative).pvalue)


def compare(
    candidate: np.ndarray | list[float],
    reference: np.ndarray | list[float],
    margin: float = 0.05,
    paired: bool = False,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """candidate / reference on the log scale: Hodges-Lehmann ratio with its exact rank
    interval, a two-sided test of no difference, and the one-sided tests of the three claims
    against ±margin (slower, faster, equivalent).

    Paired: candidate[i] and reference[i] were timed in the same block (process); a pair
    missing (NaN) or non-positive on either side is dropped whole. Unpaired: each side keeps
    its own finite, positive values.
    """
    a, b = np.asarray(candidate, dtype=float), np.asarray(reference, dtype=float)
    if paired:
        keep = _usable(a) & _usable(b)
        a, b = a[keep], b[keep]
    else:
        a, b = a[_usable(a)], b[_usable(b)]
    nan = float("nan")
    if a.size == 0 or b.size == 0:
        return Comparison(nan, nan, nan, nan, int(a.size), int(b.size), paired, margin=margin)
    bound = float(np.log1p(margin))
    if paired:
        logs = (np.log(a) - np.log(b),)
        centre, low, high = paired_log_interval(logs[0], confidence)
    else:
        logs = (np.log(a), np.log(b))
        centre, low, high = unpaired_log_interval(*logs, confidence)
    slower, faster = _shift_p(logs, bound, "greater"), _shift_p(logs, -bound, "less")
    p_equivalent = max(_shift_p(logs, bound, "less"), _shift_p(logs, -bound, "greater"))
    return Comparison(
        float(np.exp(centre)), float(np.exp(low)), float(np.exp(high)), _two_sided_p(logs),
        int(a.size), int(b.size), paired, p_equivalent, _spread(logs), slower, faster, margin, logs,
    )  # fmt: skip


def _usable(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values > 0)


def _shift_p(logs: tuple[np.ndarray, ...], shift: float, alternative: str) -> float:
    """One-sided rank test of "the log ratio is `shift`" against `alternative` (greater: above it)."""
    if len(logs) == 1:
        return _wilcoxon_p(logs[0] - shift, alternative)
    return _mann_whitney_p(logs[0] - shift, logs[1], alternative)


def _two_sided_p(logs: tuple[np.ndarray, ...]) -> float:
    if len(logs) == 1:
        return _wilcoxon_p(logs[0], "two-sided")
    return _mann_whitney_p(logs[0], logs[1], "two-sided")


def _spread(logs: tuple[np.ndarray, ...]) -> float:
    """The standard deviation of one repeat's log ratio: of the paired differences, or
    sqrt(2) x the pooled standard deviation of the two sides."""
    if len(logs) == 1:
        return float(np.std(logs[0], ddof=1)) if logs[0].size > 1 else float("nan")
    pooled = [np.var(x, ddof=1) for x in logs if x.size > 1]
    return float(np.sqrt(2 * np.mean(pooled))) if pooled else float("nan")


def interval(comparison: Comparison, confidence: float) -> tuple[float, float]:
    """The ratio's exact rank interval at another level (NaN: too few repeats for it)."""
    logs = comparison.logs
    if not logs:
        return float("nan"), float("nan")
    if len(logs) == 1:
        _, low, high = paired_log_interval(logs[0], confidence)
    else:
        _, low, high = unpaired_log_interval(*logs, confidence)
    return float(np.exp(low)), float(np.exp(high))


def smallest_p_value(n_candidate: int, n_reference: int, paired: bool = False) -> float:
    """The smallest one-sided p-value (the claims' tests) these sample sizes allow, signed-rank
    when paired, Mann-Whitney otherwise: with 3 repeats against 3 it is 1/20, so nothing can
    reach p < 0.05."""
    from math import comb

    if n_candidate < 1 or n_reference < 1:
        return 1.0
    if paired:
        return 1.0 / 2 ** min(n_candidate, n_reference)
    return 1.0 / comb(n_candidate + n_reference, n_candidate)


def repeats_to_reach(alpha: float, paired: bool) -> int:
    """The fewest repeats per side for which smallest_p_value can fall below alpha."""
    return next(n for n in range(1, 400) if smallest_p_value(n, n, paired) < alpha)


POWER = 0.8  # "about N repeats would settle it": N settles it in at least this share of runs
RANK_EFFICIENCY = 0.864  # the rank tests' worst-case efficiency against t (Hodges-Lehmann's bound)


def power(n: np.ndarray | int, distance: float, spread: float, alpha: float, paired: bool) -> np.ndarray:
    """About how often `n` repeats (pairs, or per side) show a log ratio `distance` beyond a
    bound to be beyond it, one-sided at `alpha`, when one repeat's log ratio has SD `spread`:
    a t test's power on the rank tests' worst-case efficient sample size; 0 where the exact
    rank test cannot reach `alpha` at all."""
    n = np.atleast_1d(np.asarray(n, dtype=float))
    effective = np.maximum(n * RANK_EFFICIENCY, 2.0)
    shift = distance * np.sqrt(effective) / spread
    chance = stats.nct.sf(stats.t.ppf(1 - alpha, effective - 1), effective - 1, shift)
    return np.where(n >= repeats_to_reach(alpha, paired), chance, 0.0)


def repeats_to_decide(comparison: Comparison, margin: float, alpha: float, cap: int = 400) -> int | None:
    """About how many repeats (pairs, or per side) would settle this comparison: the fewest
    with which its nearer claim (equivalent when its estimate lies inside ±margin, else slower
    or faster) would be shown in at least POWER of runs, at one-sided level `alpha`, if the
    true ratio were the observed one and one repeat's spread the upper 80% bound on the
    observed spread (the pilot's spread is itself a noisy guess). None: it cannot say (no
    spread, or an estimate exactly on the margin); cap + 1: more than `cap`."""
    spread, ratio, n = comparison.spread, comparison.ratio, comparison.pairs
    if not (np.isfinite(spread) and np.isfinite(ratio)) or spread <= 0 or n < 2:
        return None
    upper = spread * np.sqrt((n - 1) / stats.chi2.ppf(1 - POWER, n - 1))
    centre, bound = float(np.log(ratio)), float(np.log1p(margin))
    candidates = np.arange(2, cap + 1)
    if abs(centre) < bound:  # TOST: both one-sided tests must succeed
        chance = power(candidates, bound - centre, upper, alpha, comparison.paired)
        chance = chance + power(candidates, bound + centre, upper, alpha, comparison.paired) - 1
    else:
        chance = power(candidates, abs(centre) - bound, upper, alpha, comparison.paired)
    if abs(abs(centre) - bound) < 1e-12:
        return None
    enough = np.flatnonzero(chance >= POWER)
    return int(candidates[enough[0]]) if enough.size else cap + 1
