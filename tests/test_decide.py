"""Every comparison ends faster, slower, equivalent or undecided; one family, one correction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench import decide, stats


def _blocks(ratio: float, n: int = 8, noise: float = 0.01, seed: int = 0) -> stats.Comparison:
    rng = np.random.default_rng(seed)
    machine = np.exp(rng.normal(0, 0.15, n))
    reference = machine * np.exp(rng.normal(0, noise, n))
    return stats.compare(ratio * machine * np.exp(rng.normal(0, noise, n)), reference, paired=True)


def test_each_outcome_from_the_numbers():
    decisions = decide.decide_all(
        [_blocks(1.0), _blocks(1.3, seed=1), _blocks(0.8, seed=2), _blocks(1.0, n=3)]
    )
    assert [d.word for d in decisions] == ["equivalent", "slower", "faster", "undecided"]
    assert decisions[3].repeats_needed is not None and decisions[3].repeats_needed >= 6


def test_a_small_real_difference_inside_the_margin_is_not_called_slower():
    decision = decide.decide(_blocks(1.02, noise=0.002))
    assert decision.word == "equivalent"


def test_a_difference_on_the_margin_stays_undecided_and_says_why():
    decision = decide.decide(_blocks(1.05, noise=0.03, n=6))
    assert decision.word == "undecided"
    assert "undecided" in decision.reason() and "slower" not in decision.reason()


def test_every_reason_carries_exactly_its_own_decision_word():
    for decision in decide.decide_all(
        [_blocks(1.0), _blocks(1.3, seed=1), _blocks(0.8, seed=2), _blocks(1.0, n=3)]
    ):
        found = [word for word in decide.WORDS if word in decision.reason()]
        assert found == [decision.word]


def test_the_family_correction_is_benjamini_hochberg():
    p = [0.001, 0.02, 0.03, 0.04, 0.5, float("nan")]
    adjusted = decide.adjust(p)
    assert np.isnan(adjusted[-1])
    np.testing.assert_allclose(adjusted[:-1], scipy_stats.false_discovery_control(p[:-1], method="bh"))


def test_a_borderline_p_value_alone_decides_but_not_in_a_family_of_weak_ones():
    borderline = _blocks(1.3, n=6, noise=0.05, seed=5)  # the smallest p 6 blocks allow: 2/64
    assert decide.decide(borderline).word == "slower"
    weak = [_blocks(1.05, n=6, noise=0.2, seed=s) for s in range(10)]
    family = decide.decide_all([borderline, *weak])
    assert family[0].p_adjusted > borderline.p_value


@pytest.mark.parametrize("margin", [0.02, 0.1])
def test_the_margin_is_part_of_every_verdict(margin):
    decision = decide.decide(_blocks(1.0), margin=margin)
    assert f"±{margin:.0%}" in decision.reason()


def test_an_undecided_comparison_never_asks_for_the_repeats_it_already_had():
    """In a family, the estimate aims at the level one more decision would need, and
    repeats that did not settle a comparison are never offered as what would settle it."""
    weak = [_blocks(1.03, n=7, noise=0.04, seed=s) for s in range(12)]
    family = decide.decide_all(weak)
    undecided = [d for d in family if d.word == "undecided" and d.repeats_needed is not None]
    assert len(undecided) >= 6
    assert all(d.repeats_needed >= 8 for d in undecided)
    alone = {id(d.comparison): decide.decide(d.comparison) for d in undecided}
    asked_alone = [alone[id(d.comparison)].repeats_needed or 0 for d in undecided]
    assert all(d.repeats_needed >= a for d, a in zip(undecided, asked_alone, strict=True))
    assert any(d.repeats_needed > a for d, a in zip(undecided, asked_alone, strict=True))
