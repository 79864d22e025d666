"""Medians, bootstrap intervals, ratios and tests over repeats."""

from __future__ import annotations

import numpy as np
import pytest

from bench import stats


def test_median_ci_brackets_the_median_and_narrows_with_more_repeats():
    rng = np.random.default_rng(0)
    few = stats.median_ci(rng.normal(10, 1, 5))
    many = stats.median_ci(rng.normal(10, 1, 200))
    assert few.low <= few.median <= few.high and many.low <= many.median <= many.high
    assert (many.high - many.low) < (few.high - few.low)
    assert 9.6 < many.median < 10.4


def test_median_ci_of_one_sample_is_that_sample_and_nans_are_ignored():
    estimate = stats.median_ci([3.0, float("nan")])
    assert (estimate.median, estimate.low, estimate.high, estimate.n) == (3.0, 3.0, 3.0, 1)


def test_a_real_slowdown_is_significant_and_its_ratio_interval_contains_the_truth():
    reference = [10.0, 10.2, 9.9, 10.1, 10.05]
    slower = [15.1, 15.3, 14.8, 15.0, 15.2]
    comparison = stats.compare(slower, reference)
    assert comparison.ratio == pytest.approx(15.1 / 10.05)
    assert comparison.low <= 1.5 <= comparison.high
    assert comparison.significant() and comparison.p_value == pytest.approx(2 / 252)


def test_noise_alone_is_not_significant():
    comparison = stats.compare([10.0, 10.3, 9.8, 10.1, 9.9], [10.1, 9.9, 10.2, 10.0, 9.7])
    assert not comparison.significant()
    assert comparison.low < 1.0 < comparison.high


def test_three_repeats_cannot_reach_005():
    assert stats.smallest_p_value(3, 3) == pytest.approx(0.1)
    assert stats.smallest_p_value(5, 5) < 0.01
