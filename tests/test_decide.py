"""Every comparison ends faster, slower, equivalent or undecided; one family, one correction.

The blocks here are built, not drawn: log ratios spread evenly around a chosen ratio, so
that each case's outcome follows from the rule and not from a seed's luck (the rule's error
rates are simulated in tests/test_calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench import decide
from bench.decide import stats


def _blocks(ratio: float, n: int = 8, spread: float = 0.01, margin: float = 0.05) -> stats.Comparison:
    """n paired blocks whose log ratios lie evenly in log(ratio) ± spread, under a drifting machine."""
    machine = np.exp(np.linspace(0.0, 0.4, n))  # drift: cancelled by pairing
    offsets = np.linspace(-spread, spread, n)[np.argsort(np.sin(np.arange(n)))]  # a fixed shuffle
    return stats.compare(ratio * machine * np.exp(offsets), machine, margin=margin, paired=True)


def test_each_outcome_from_the_numbers():
    decisions = decide.decide_all([_blocks(1.0), _blocks(1.3), _blocks(0.8), _blocks(1.0, n=3)])
    assert [d.word for d in decisions] == ["equivalent", "slower", "faster", "undecided"]
    assert [d.decided for d in decisions] == [True, True, True, False]
    assert decisions[3].repeats_needed is not None and decisions[3].repeats_needed >= 4
    assert all(d.repeats_needed is None for d in decisions[:3])


def test_a_small_real_difference_inside_the_margin_is_not_called_slower():
    assert decide.decide(_blocks(1.02, spread=0.002)).word == "equivalent"


def test_beyond_the_margin_by_the_estimate_alone_is_not_slower():
    """1.07x with log ratios from 1.02x to 1.12x: every pair is slower, but the interval reaches
    inside +5%, so 'slower beyond the margin' is not shown (the old rule said slower)."""
    comparison = _blocks(1.07, n=8, spread=0.05)
    assert comparison.significant() and comparison.ratio > 1.05  # what the old rule looked at
    decision = decide.decide(comparison)
    assert decision.word == "undecided" and decision.low < 1.05 < decision.high
    assert "undecided" in decision.reason() and "slower" not in decision.reason()


def test_a_difference_on_the_margin_stays_undecided_and_says_why():
    decision = decide.decide(_blocks(1.05, spread=0.03, n=6))
    assert decision.word == "undecided"
    assert decision.what_would_decide().startswith("the ratio sits on the margin") or (
        "would settle it" in decision.what_would_decide()
    )


def test_every_reason_carries_exactly_its_own_decision_word():
    for decision in decide.decide_all([_blocks(1.0), _blocks(1.3), _blocks(0.8), _blocks(1.0, n=3)]):
        found = [word for word in decide.WORDS if word in decision.reason()]
        assert found == [decision.word]


def test_the_family_correction_is_benjamini_hochberg():
    p = [0.001, 0.02, 0.03, 0.04, 0.5, float("nan")]
    adjusted = decide.adjust(p)
    assert np.isnan(adjusted[-1])
    np.testing.assert_allclose(adjusted[:-1], scipy_stats.false_discovery_control(p[:-1], method="bh"))
    assert np.isnan(decide.adjust([float("nan")])).all()


def test_a_claim_alone_decides_but_not_in_a_family_of_weak_ones():
    """6 blocks all beyond +5%: p = 1/64 alone; among ten comparisons that show nothing, the
    same claim is adjusted to 10/64 and no longer made."""
    strong = _blocks(1.3, n=6, spread=0.05)
    assert strong.p_slower == pytest.approx(1 / 64)
    assert decide.decide(strong).word == "slower"
    weak = [_blocks(1.05, n=6, spread=0.2) for _ in range(9)]
    family = decide.decide_all([strong, *weak])
    assert family[0].p_adjusted == pytest.approx(10 / 64) and family[0].word == "undecided"


def test_each_comparison_makes_the_claim_its_numbers_support_best():
    assert decide.claim(_blocks(1.3)) == ("slower", pytest.approx(1 / 256))
    assert decide.claim(_blocks(0.8)) == ("faster", pytest.approx(1 / 256))
    assert decide.claim(_blocks(1.0)) == ("equivalent", pytest.approx(1 / 256))
    nothing = stats.compare([], [1.0])
    assert decide.claim(nothing)[0] == "undecided" and np.isnan(decide.claim(nothing)[1])


def test_the_intervals_are_at_the_familys_level():
    family = decide.decide_all([_blocks(1.3), _blocks(1.0), _blocks(1.05, spread=0.2)])
    assert [d.word for d in family] == ["slower", "equivalent", "undecided"]
    level = 1 - 2 * 0.05 * 2 / 3
    assert all(d.level == pytest.approx(level) for d in family)
    low, high = stats.interval(family[0].comparison, level)
    assert (family[0].low, family[0].high) == (low, high) and low > 1.05
    assert f"{level:.1%} interval" in family[0].reason()


def test_a_comparison_tested_at_another_margin_is_refused():
    with pytest.raises(ValueError, match="tested at ±0.1 decided at ±0.05"):
        decide.decide(_blocks(1.0, margin=0.1), margin=0.05)


@pytest.mark.parametrize("margin", [0.02, 0.1])
def test_the_margin_is_part_of_every_verdict(margin):
    decision = decide.decide(_blocks(1.0, margin=margin), margin=margin)
    assert f"±{margin:.0%}" in decision.reason()


def test_an_undecided_comparison_never_asks_for_the_repeats_it_already_had():
    """In a family, the estimate aims at the level one more claim would need: more repeats
    than alone, and never the 7 it already had."""
    weak = [_blocks(1.03, n=7, spread=0.04 + 0.002 * s) for s in range(12)]
    family = decide.decide_all(weak)
    assert all(d.word == "undecided" and d.repeats_needed is not None for d in family)
    assert all(d.repeats_needed >= 8 for d in family)
    alone = [decide.decide(d.comparison).repeats_needed for d in family]
    assert all(d.repeats_needed >= a for d, a in zip(family, alone, strict=True))
    assert any(d.repeats_needed > a for d, a in zip(family, alone, strict=True))
    for d in family:
        said = f"about {d.repeats_needed} paired repeats" if d.repeats_needed <= 100 else "more than 100"
        assert said in d.reason()
    assert any(d.repeats_needed <= 100 for d in family)


def test_what_would_decide_names_the_case():
    nothing = decide.decide(stats.compare([], [1.0, 2.0]))
    assert nothing.what_would_decide() == "no successful repeats on one side"
    hopeless = decide.decide(_blocks(1.05, n=6, spread=0.6))
    assert hopeless.repeats_needed is None or hopeless.repeats_needed > 100
    assert "more than 100" in hopeless.reason() or "cannot place it" in hopeless.reason()


def test_alpha_is_spent_over_the_planned_looks_exactly():
    assert decide.spend(0.05, 10, [10, 15, 20]) == pytest.approx(0.05 * 100 / 400)
    assert decide.spend(0.05, 15, [20, 10, 15]) == pytest.approx(0.05 * 125 / 400)
    assert decide.spend(0.05, 20, [10, 15, 20]) == pytest.approx(0.05 * 175 / 400)
    assert decide.spend(0.05, 7, [7]) == 0.05
    with pytest.raises(ValueError, match=r"look 12 is not one of the planned looks \[10, 15, 20\]"):
        decide.spend(0.05, 12, [10, 15, 20])


def test_a_single_decision_and_its_what_would_decide_use_their_own_alpha_and_units():
    strong = _blocks(1.3, n=6, spread=0.05)  # p = 1/64
    assert decide.decide(strong, alpha=0.05).word == "slower"
    assert decide.decide(strong, alpha=0.01).word == "undecided"
    unpaired = stats.compare([1.0, 1.2, 0.9, 1.1, 1.05, 0.95], [1.02, 1.1, 0.92, 1.0, 1.08, 0.97])
    decision = decide.decide(unpaired)
    assert decision.word == "undecided" and "repeats per side" in decision.what_would_decide()
    decision.__dict__["repeats_needed"] = 100
    assert (
        decision.what_would_decide() == "about 100 repeats per side would settle it in 4 of 5 runs (6 here)"
    )
    decision.__dict__["repeats_needed"] = 101
    assert (
        decision.what_would_decide()
        == "more than 100 repeats per side would be needed at this spread (6 here)"
    )
