"""Intervals that mean what they say: exact rank intervals, cross-checked and simulated."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.decide import stats

SIMULATIONS = 2000


def test_median_ci_is_the_binomial_order_statistics():
    """10 repeats at 95%: P(Bin(10, 1/2) <= 1) = 11/1024 <= 2.5% < P(<= 2) = 56/1024, so the
    interval is [x(2), x(9)]; 200 repeats: k = 86 (scipy's binomial quantile)."""
    sample = np.array([7.0, 3.0, 9.0, 1.0, 5.0, 8.0, 2.0, 10.0, 4.0, 6.0])
    estimate = stats.median_ci(sample)
    assert (estimate.median, estimate.low, estimate.high, estimate.n) == (5.5, 2.0, 9.0, 10)
    big = stats.median_ci(np.arange(1.0, 201.0))
    k = int(scipy_stats.binom.ppf(0.025, 200, 0.5))  # the largest k with P(X < k) <= 2.5%
    assert scipy_stats.binom.cdf(k - 1, 200, 0.5) <= 0.025 < scipy_stats.binom.cdf(k, 200, 0.5)
    assert (big.low, big.high) == (float(k), float(201 - k))
    assert stats.median_ci([]).n == 0 and np.isnan(stats.median_ci([]).median)


def test_too_few_repeats_give_no_interval_rather_than_the_range_of_two_points():
    estimate = stats.median_ci([3.0, 4.0, float("nan")])
    assert (estimate.median, estimate.n) == (3.5, 2) and not estimate.has_interval
    assert stats.min_repeats_for_interval(0.95) == 6  # P(all 6 on one side of the median) = 2/64 < 5%
    assert stats.median_ci(np.arange(6.0)).has_interval


def _p_from_counts(counts: np.ndarray, statistic: int) -> float:
    """Two-sided exact p from the null counts (what scipy computes)."""
    probabilities = counts / counts.sum()
    low = probabilities[: statistic + 1].sum()
    high = probabilities[statistic:].sum()
    return min(1.0, 2 * min(low, high))


@pytest.mark.parametrize("n", [5, 8, 12])
def test_signed_rank_null_counts_match_scipy_exact_p_values(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        values = rng.normal(0.3, 1.0, n)
        ranks = scipy_stats.rankdata(np.abs(values))
        statistic = int(ranks[values > 0].sum())
        expected = scipy_stats.wilcoxon(values, method="exact").pvalue
        assert _p_from_counts(stats.signed_rank_counts(n), statistic) == pytest.approx(expected)


@pytest.mark.parametrize(("m", "n"), [(4, 6), (8, 8), (10, 7)])
def test_rank_sum_null_counts_match_scipy_exact_p_values(m, n):
    rng = np.random.default_rng(m * n)
    for _ in range(20):
        a, b = rng.normal(0.5, 1, m), rng.normal(0, 1, n)
        result = scipy_stats.mannwhitneyu(a, b, method="exact")
        assert _p_from_counts(stats.rank_sum_counts(m, n), int(result.statistic)) == pytest.approx(
            result.pvalue
        )


def _near(hits: int, expected: float) -> bool:
    """A simulated share within 3 binomial standard errors of the exact coverage."""
    error = np.sqrt(expected * (1 - expected) / SIMULATIONS)
    return abs(hits / SIMULATIONS - expected) <= 3 * error


@pytest.mark.parametrize("n", [6, 8, 10])
def test_median_interval_covers_the_true_median_as_the_binomial_says(n):
    """Skewed step times (lognormal): the order-statistic interval's coverage is exactly
    1 - 2 P(Bin(n, 1/2) < k), at least 95%; an off-by-one in k moves it by several points."""
    rng = np.random.default_rng(1)
    k = stats._binomial_rank(n, 0.95)
    exact = 1 - 2 * scipy_stats.binom.cdf(k - 1, n, 0.5)
    hits = 0
    for _ in range(SIMULATIONS):
        estimate = stats.median_ci(np.exp(rng.normal(0, 0.3, n)))
        hits += estimate.low <= 1.0 <= estimate.high
    assert exact >= 0.95 and _near(hits, exact)


@pytest.mark.parametrize("n", [6, 8, 10])
def test_paired_ratio_interval_covers_the_true_ratio_as_the_signed_rank_counts_say(n):
    """Blocks share a random machine speed; the style costs 1.04x: the signed-rank interval
    covers 1.04 with probability 1 - 2 P(T < c), counted from the null distribution."""
    rng = np.random.default_rng(2)
    counts = stats.signed_rank_counts(n)
    c = stats._critical_rank(counts, 0.95)
    exact = 1 - 2 * counts[:c].sum() / counts.sum()
    hits = 0
    for _ in range(SIMULATIONS):
        machine = np.exp(rng.normal(0, 0.2, n))  # block-to-block drift, cancelled by pairing
        reference = machine * np.exp(rng.normal(0, 0.03, n))
        candidate = 1.04 * machine * np.exp(rng.normal(0, 0.03, n))
        comparison = stats.compare(candidate, reference, paired=True)
        hits += comparison.low <= 1.04 <= comparison.high
    assert exact >= 0.95 and _near(hits, exact)


@pytest.mark.parametrize("n", [6, 10])
def test_unpaired_ratio_interval_covers_the_true_ratio_as_the_rank_sum_counts_say(n):
    rng = np.random.default_rng(3)
    counts = stats.rank_sum_counts(n, n)
    c = stats._critical_rank(counts, 0.95)
    exact = 1 - 2 * counts[:c].sum() / counts.sum()
    hits = 0
    for _ in range(SIMULATIONS):
        reference = np.exp(rng.normal(0, 0.1, n))
        candidate = 1.1 * np.exp(rng.normal(0, 0.1, n))
        comparison = stats.compare(candidate, reference)
        hits += comparison.low <= 1.1 <= comparison.high
    assert exact >= 0.95 and _near(hits, exact)


def test_a_real_slowdown_is_significant_and_its_ratio_interval_contains_the_truth():
    reference = [10.0, 10.2, 9.9, 10.1, 10.05, 9.95]
    slower = [15.1, 15.3, 14.8, 15.0, 15.2, 14.9]
    comparison = stats.compare(slower, reference)
    assert comparison.low <= 1.5 <= comparison.high
    assert comparison.significant() and comparison.p_value == pytest.approx(2 / 924)


def test_identical_costs_are_shown_equivalent_and_not_different():
    rng = np.random.default_rng(4)
    machine = np.exp(rng.normal(0, 0.2, 8))
    candidate, reference = (machine * np.exp(rng.normal(0, 0.01, 8)) for _ in range(2))
    comparison = stats.compare(candidate, reference, paired=True)
    assert comparison.p_equivalent < 0.01 and not comparison.significant()
    assert comparison.low < 1.0 < comparison.high


def test_three_repeats_cannot_reach_005():
    """The claims are one-sided: 3 against 3 allow p = 1/20 at best, 5 paired blocks 1/32."""
    assert stats.smallest_p_value(3, 3) == pytest.approx(1 / 20)
    assert stats.smallest_p_value(4, 4) == pytest.approx(1 / 70)
    assert stats.smallest_p_value(5, 5, paired=True) == pytest.approx(1 / 32)
    assert stats.smallest_p_value(0, 5) == 1.0
    assert stats.repeats_to_reach(0.05, paired=False) == 4
    assert stats.repeats_to_reach(0.05, paired=True) == 5
    assert stats.repeats_to_reach(0.001, paired=True) == 10  # 1/1024


def test_the_fast_exact_p_values_are_scipys():
    """The signed-rank and rank-sum p-values counted here (ties-free) equal scipy's exact ones,
    each alternative, and tied data fall back to scipy."""
    rng = np.random.default_rng(12)
    for n in (5, 9, 14):
        for alternative in ("greater", "less", "two-sided"):
            x = rng.normal(0.2, 1, n)
            expected = scipy_stats.wilcoxon(x, alternative=alternative, method="exact").pvalue
            assert stats._wilcoxon_p(x, alternative) == pytest.approx(expected)
            a, b = rng.normal(0.3, 1, n), rng.normal(0, 1, n + 2)
            expected = scipy_stats.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue
            assert stats._mann_whitney_p(a, b, alternative) == pytest.approx(expected)
    tied = np.array([1.0, 1.0, 2.0, -0.5, 3.0, 3.0])
    assert stats._wilcoxon_p(tied, "greater") == pytest.approx(
        scipy_stats.wilcoxon(tied, alternative="greater").pvalue
    )
    assert stats._wilcoxon_p(np.zeros(6), "greater") == 1.0


def test_each_claims_p_value_tests_the_margin_it_names():
    """Ten pairs all 1.10x apart at ±5%: slower is shown (all ten log ratios above the margin:
    p = 1/1024), faster and equivalent are not; at 1.02x equivalent is, slower is not."""
    reference = np.exp(np.linspace(0, 0.5, 10))
    jitter = np.linspace(-0.004, 0.004, 10)
    slower = stats.compare(reference * 1.10 * np.exp(jitter), reference, margin=0.05, paired=True)
    assert slower.p_slower == pytest.approx(1 / 1024)
    assert slower.p_faster == pytest.approx(1.0) and slower.p_equivalent == pytest.approx(1.0)
    inside = stats.compare(reference * 1.02 * np.exp(jitter), reference, margin=0.05, paired=True)
    assert inside.p_equivalent == pytest.approx(1 / 1024) and inside.p_slower == pytest.approx(1.0)
    assert (inside.margin, inside.pairs, inside.paired) == (0.05, 10, True)


def test_pairs_missing_on_either_side_are_dropped_together_and_unpaired_sides_alone():
    a = [1.1, float("nan"), 1.2, 0.0, 1.3, 1.25, 1.15, 1.05]
    b = [1.0, 1.0, float("inf"), 1.0, 1.0, 1.1, 1.0, 1.0]
    paired = stats.compare(a, b, paired=True)
    assert (paired.n_candidate, paired.n_reference) == (5, 5)
    unpaired = stats.compare(a, b)
    assert (unpaired.n_candidate, unpaired.n_reference) == (6, 7)
    empty = stats.compare([float("nan")], [1.0, 2.0])
    assert (empty.n_candidate, empty.n_reference) == (0, 2) and np.isnan(empty.ratio)
    assert np.isnan(empty.p_slower) and empty.margin == 0.05


def test_an_interval_at_another_level_nests():
    rng = np.random.default_rng(13)
    comparison = stats.compare(np.exp(rng.normal(0.1, 0.05, 12)), np.exp(rng.normal(0, 0.05, 12)))
    wide, narrow = stats.interval(comparison, 0.99), stats.interval(comparison, 0.9)
    assert wide[0] < narrow[0] < comparison.ratio < narrow[1] < wide[1]
    assert stats.interval(comparison, 0.95) == (comparison.low, comparison.high)
    assert all(np.isnan(stats.interval(stats.compare([], [1.0]), 0.9)))


def test_power_is_a_t_tests_on_the_rank_tests_efficient_sample_size():
    """At no distance the power is alpha itself (a t test's size: the critical value and the
    power curve share their degrees of freedom); it grows with n and with the distance; below
    the repeats an exact rank test needs to reach alpha at all it is 0. Golden values pin the
    efficiency 0.864: n = 10 at distance 0.5 SD is 0.380."""
    for n in (6, 10, 30):
        assert stats.power(n, 0.0, 0.1, 0.05, True)[0] == pytest.approx(0.05)
    paired = stats.power(np.array([4, 5, 10, 20]), 0.05, 0.1, 0.05, True)
    np.testing.assert_allclose(paired, [0.0, 0.21007, 0.37998, 0.63537], atol=1e-4)
    unpaired = stats.power(np.array([3, 4, 10]), 0.05, 0.1, 0.05, False)
    np.testing.assert_allclose(unpaired, [0.0, 0.17195, 0.37998], atol=1e-4)
    assert stats.power(10, 0.1, 0.1, 0.05, True)[0] > stats.power(10, 0.05, 0.1, 0.05, True)[0]
    assert stats.power(np.array([10.0]), 0.05, 0.1, 0.05, True).dtype == float


def _pilot(ratio: float, spread: float = 0.05, paired: bool = True) -> stats.Comparison:
    reference = np.exp(np.linspace(0, 0.5, 10))
    jitter = np.linspace(-spread, spread, 10)[np.argsort(np.sin(np.arange(10)))]
    return stats.compare(reference * ratio * np.exp(jitter), reference, 0.05, paired=paired)


def test_repeats_to_decide_from_a_pilot():
    """Golden values of the power rule (checked to settle >= 80% in tests/test_calibration.py):
    the nearer claim decides which distance counts, a smaller alpha asks for more."""
    assert [stats.repeats_to_decide(_pilot(r), 0.05, 0.05) for r in (1.0, 1.02, 1.12, 0.9)] == [10, 18, 6, 7]
    assert [stats.repeats_to_decide(_pilot(r), 0.05, 0.01) for r in (1.0, 1.02, 1.12, 0.9)] == [16, 30, 9, 11]
    assert stats.repeats_to_decide(_pilot(1.12, paired=False), 0.05, 0.05) == 171
    assert stats.repeats_to_decide(_pilot(1.02, spread=0.3), 0.05, 0.05, cap=20) == 21  # more than the cap


def test_repeats_to_decide_cannot_say_without_a_spread_or_on_the_margin():
    assert stats.repeats_to_decide(_pilot(1.0, spread=0.0), 0.05, 0.05) is None  # no spread
    on_margin = dataclasses.replace(_pilot(1.0), ratio=1.05)
    assert stats.repeats_to_decide(on_margin, 0.05, 0.05) is None
    near_margin = dataclasses.replace(_pilot(1.0), ratio=1.0501)
    assert stats.repeats_to_decide(near_margin, 0.05, 0.05) == 401  # beyond, by a hair: more than any cap
    two = stats.compare([1.1, 1.2], [1.0, 1.0], paired=True)
    assert stats.repeats_to_decide(two, 0.05, 0.05) is not None
    one = stats.compare([1.1], [1.0], paired=True)
    assert stats.repeats_to_decide(one, 0.05, 0.05) is None
    assert stats.repeats_to_decide(stats.compare([], [1.0]), 0.05, 0.05) is None


def test_the_spread_is_one_repeats_log_ratio_sd():
    rng = np.random.default_rng(14)
    a, b = np.exp(rng.normal(0, 0.1, 12)), np.exp(rng.normal(0, 0.2, 12))
    paired = stats.compare(a, b, paired=True)
    assert paired.spread == pytest.approx(np.std(np.log(a) - np.log(b), ddof=1))
    unpaired = stats.compare(a, b)
    pooled = (np.var(np.log(a), ddof=1) + np.var(np.log(b), ddof=1)) / 2
    assert unpaired.spread == pytest.approx(np.sqrt(2 * pooled))
    assert np.isnan(stats.compare([1.0], [2.0], paired=True).spread)
    assert np.isnan(stats.compare([1.0], [2.0]).spread)
    assert stats.compare([1.0], [2.0, 3.0]).spread == pytest.approx(
        np.sqrt(2 * np.var(np.log([2.0, 3.0]), ddof=1))
    )


def test_median_ci_of_too_few_or_no_repeats():
    empty = stats.median_ci([])
    assert empty.n == 0 and all(np.isnan([empty.median, empty.low, empty.high]))
    one = stats.median_ci([4.0, float("nan")])
    assert (one.median, one.n) == (4.0, 1) and np.isnan(one.low) and np.isnan(one.high)
    five = stats.median_ci([1, 2, 3, 4, 5])
    assert (five.median, five.n) == (3.0, 5) and np.isnan(five.low) and np.isnan(five.high)


@pytest.mark.parametrize("n", [1, 5, 6, 9, 10, 17, 40])
def test_the_binomial_rank_is_the_largest_k_with_its_tail_within_the_level(n):
    """Counted by hand: P(X < k) = sum of C(n, j) / 2^n for j < k."""
    from math import comb

    def tail(k: int) -> float:
        return sum(comb(n, j) for j in range(k)) / 2**n

    fits = [k for k in range(1, n // 2 + 1) if tail(k) <= 0.025]
    assert stats._binomial_rank(n, 0.95) == (fits[-1] if fits else None)
    assert stats.min_repeats_for_interval(0.99) == 8  # 2/256 <= 1% < 2/128


def test_the_signed_rank_p_of_edge_cases():
    assert stats._wilcoxon_p(np.array([]), "greater") == 1.0
    assert stats._wilcoxon_p(np.zeros(5), "two-sided") == 1.0
    assert stats._wilcoxon_p(np.array([0.3]), "greater") == 0.5  # one positive value of one
    assert stats._wilcoxon_p(np.array([-0.3]), "greater") == 1.0
    with_zero = np.array([0.0, 0.4, 0.5, -0.1, 0.7, 0.9, 1.1])
    expected = scipy_stats.wilcoxon(with_zero, alternative="greater", zero_method="wilcox").pvalue
    assert stats._wilcoxon_p(with_zero, "greater") == pytest.approx(expected)
    rng = np.random.default_rng(15)
    fifty = rng.normal(0.1, 1, 50)
    exact = scipy_stats.wilcoxon(fifty, alternative="greater", method="exact").pvalue
    assert stats._wilcoxon_p(fifty, "greater") == pytest.approx(exact, rel=1e-9)
    assert stats._mann_whitney_p(np.array([1.0, 2.0]), np.array([2.0, 3.0]), "less") == pytest.approx(
        scipy_stats.mannwhitneyu([1.0, 2.0], [2.0, 3.0], alternative="less").pvalue
    )


def test_significant_means_below_alpha():
    at = stats.Comparison(1.2, 1.1, 1.3, 0.05, 6, 6)
    assert not at.significant(0.05) and at.significant(0.051)
