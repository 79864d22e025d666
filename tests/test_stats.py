"""Intervals that mean what they say: exact rank intervals, cross-checked and simulated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench import stats

SIMULATIONS = 2000


def test_median_ci_brackets_the_median_and_narrows_with_more_repeats():
    rng = np.random.default_rng(0)
    few = stats.median_ci(rng.normal(10, 1, 8))
    many = stats.median_ci(rng.normal(10, 1, 200))
    assert few.low <= few.median <= few.high and many.low <= many.median <= many.high
    assert (many.high - many.low) < (few.high - few.low)
    assert 9.6 < many.median < 10.4


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


@pytest.mark.parametrize("n", [6, 8, 10])
def test_median_interval_covers_the_true_median_at_least_93_percent(n):
    """Skewed, heavy-tailed step times (lognormal): exact binomial intervals keep their coverage."""
    rng = np.random.default_rng(1)
    true_median = 1.0  # exp(0)
    hits = 0
    for _ in range(SIMULATIONS):
        estimate = stats.median_ci(np.exp(rng.normal(0, 0.3, n)))
        hits += estimate.low <= true_median <= estimate.high
    assert hits / SIMULATIONS >= 0.93


@pytest.mark.parametrize("n", [6, 8, 10])
def test_paired_ratio_interval_covers_the_true_ratio_at_least_93_percent(n):
    """Blocks share a random machine speed; the style costs 1.04x: the signed-rank interval covers 1.04."""
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(SIMULATIONS):
        machine = np.exp(rng.normal(0, 0.2, n))  # block-to-block drift, cancelled by pairing
        reference = machine * np.exp(rng.normal(0, 0.03, n))
        candidate = 1.04 * machine * np.exp(rng.normal(0, 0.03, n))
        comparison = stats.compare(candidate, reference, paired=True)
        hits += comparison.low <= 1.04 <= comparison.high
    assert hits / SIMULATIONS >= 0.93


@pytest.mark.parametrize("n", [6, 10])
def test_unpaired_ratio_interval_covers_the_true_ratio_at_least_93_percent(n):
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(SIMULATIONS):
        reference = np.exp(rng.normal(0, 0.1, n))
        candidate = 1.1 * np.exp(rng.normal(0, 0.1, n))
        comparison = stats.compare(candidate, reference)
        hits += comparison.low <= 1.1 <= comparison.high
    assert hits / SIMULATIONS >= 0.93


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
    assert stats.smallest_p_value(3, 3) == pytest.approx(0.1)
    assert stats.smallest_p_value(5, 5) < 0.01
    assert stats.repeats_to_reach(0.05, paired=False) == 4
    assert stats.repeats_to_reach(0.05, paired=True) == 6
