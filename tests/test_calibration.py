"""Each decision word is a claim with an error rate: simulated at its boundary, it is wrong in at
most alpha of runs; "about N repeats would settle it" settles it when followed; sequential looks
keep the error rate across all of them.

The simulations use the suite's own bench.decide.stats.compare and bench.decide on paired blocks: a
block-to-block machine speed (cancelled by pairing) times log-normal noise per trial, as the
block design measures. Seeded, so a run is repeatable; the bounds allow the binomial error of
the simulated share (about 0.5 points at 2,000 runs and 5%).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import decide
from bench.decide import stats

RUNS = 2000
BLOCKS = 10
MARGIN = decide.MARGIN
ALPHA = decide.ALPHA


def blocks(rng: np.random.Generator, ratio: float, spread: float, n: int = BLOCKS) -> stats.Comparison:
    """n paired blocks with a true ratio and a per-pair log-ratio SD of `spread`."""
    machine = np.exp(rng.normal(0, 0.2, n))
    noise = spread / np.sqrt(2)
    reference = machine * np.exp(rng.normal(0, noise, n))
    candidate = ratio * machine * np.exp(rng.normal(0, noise, n))
    return stats.compare(candidate, reference, margin=MARGIN, paired=True)


def shares(ratio: float, spread: float, seed: int, n: int = BLOCKS, runs: int = RUNS) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    words = [decide.decide(blocks(rng, ratio, spread, n), MARGIN, ALPHA).word for _ in range(runs)]
    return {word: words.count(word) / runs for word in decide.WORDS}


# the binomial error of a simulated share of 5% over 2,000 runs is 0.49 points: 2 SE of room
SLACK = 2 * np.sqrt(ALPHA * (1 - ALPHA) / RUNS)


@pytest.mark.parametrize("spread", [0.033, 0.10])
def test_slower_is_wrong_at_most_alpha_at_the_margin(spread):
    """A true ratio exactly on the margin is not 'beyond' it: called slower in <= 5% of runs
    (the old rule, point estimate beyond and a two-sided test, said so in 49% / 27%)."""
    assert shares(1 + MARGIN, spread, seed=1)["slower"] <= ALPHA


@pytest.mark.parametrize("spread", [0.033, 0.10])
def test_faster_is_wrong_at_most_alpha_at_the_margin(spread):
    assert shares(1 / (1 + MARGIN), spread, seed=2)["faster"] <= ALPHA


@pytest.mark.parametrize("spread", [0.033, 0.10])
def test_no_difference_is_called_slower_or_faster_at_most_alpha(spread):
    found = shares(1.0, spread, seed=3)
    assert found["slower"] + found["faster"] <= ALPHA


@pytest.mark.parametrize("spread", [0.033, 0.10])
def test_equivalent_is_wrong_at_most_alpha_at_the_margin(spread):
    """Just outside the margin (1.05 is its edge): equivalent in at most alpha of runs."""
    assert shares(1 + MARGIN, spread, seed=4)["equivalent"] <= ALPHA + SLACK


def test_inside_the_margin_is_called_slower_almost_never():
    """1.04x is inside ±5%: the old rule called it 'slower, beyond the margin' in 16% of runs."""
    assert shares(1.04, 0.033, seed=5, runs=1000)["slower"] <= 0.01


def test_the_rule_decides_what_it_should():
    """Power, so that the rule is not calibrated by never answering: at 10 blocks and a quiet
    machine's spread, a true 1.00 is equivalent and a true 1.15 slower in most runs."""
    assert shares(1.0, 0.033, seed=6, runs=500)["equivalent"] >= 0.95
    assert shares(1.15, 0.033, seed=7, runs=500)["slower"] >= 0.95
    assert shares(0.85, 0.033, seed=8, runs=500)["faster"] >= 0.95


def test_a_family_shares_one_correction():
    """Twenty null comparisons in one family: any slower/faster among them in <= alpha of families."""
    rng = np.random.default_rng(9)
    wrong = 0
    for _ in range(300):
        family = decide.decide_all([blocks(rng, 1.0 + MARGIN, 0.05) for _ in range(20)], MARGIN, ALPHA)
        wrong += any(d.word == "slower" for d in family)
    assert wrong / 300 <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / 300)


def test_a_words_interval_is_at_the_familys_level_and_agrees_with_it():
    rng = np.random.default_rng(10)
    family = decide.decide_all([blocks(rng, r, 0.03) for r in (1.0, 1.3, 0.8, 1.05, 1.0)], MARGIN, ALPHA)
    made = sum(d.decided for d in family)
    assert made >= 3
    for d in family:
        assert d.level == pytest.approx(1 - 2 * ALPHA * made / len(family))
        bound = 1 + MARGIN
        if d.word == "slower":
            assert d.low > bound
        if d.word == "faster":
            assert d.high < 1 / bound
        if d.word == "equivalent":
            assert 1 / bound < d.low <= d.high < bound


@pytest.mark.parametrize(("ratio", "spread"), [(0.97, 0.05), (1.0, 0.10), (1.12, 0.08), (0.9, 0.12)])
def test_the_repeats_it_asks_for_settle_it_in_4_of_5_runs(ratio, spread):
    """A pilot of 10 blocks says 'about N would settle it'; N fresh blocks then settle it
    (decide the comparison) in >= 80% of the runs that asked."""
    rng = np.random.default_rng(int(ratio * 100 + spread * 1000))
    asked = settled = 0
    for _ in range(400):
        pilot = decide.decide(blocks(rng, ratio, spread), MARGIN, ALPHA)
        if pilot.decided or pilot.repeats_needed is None or pilot.repeats_needed > 200:
            continue
        asked += 1
        settled += decide.decide(blocks(rng, ratio, spread, pilot.repeats_needed), MARGIN, ALPHA).decided
    assert asked >= 100
    print(f"{ratio}x, spread {spread}: settled {settled} of {asked}")
    assert settled / asked >= 0.8


def test_alpha_is_spent_over_the_planned_looks():
    looks = [10, 14, 18, 22]
    spent = [decide.spend(ALPHA, look, looks) for look in looks]
    assert sum(spent) == pytest.approx(ALPHA)
    assert spent[0] == pytest.approx(ALPHA * 10**2 / 22**2) and spent[-1] == max(spent)
    with pytest.raises(ValueError, match="not one of the planned looks"):
        decide.spend(ALPHA, 12, looks)


def test_sequential_looks_keep_the_error_rate():
    """Adding blocks until decided (10, then 4 at a time up to 30), each look at its share of
    alpha: a ratio on the margin is called slower in <= alpha of runs over all looks, where
    looking at full alpha each time would call it more often."""
    looks = list(range(10, 31, 4))
    rng = np.random.default_rng(11)
    spent_wrong = naive_wrong = 0
    for _ in range(1000):
        machine = np.exp(rng.normal(0, 0.2, looks[-1]))
        noise = rng.normal(0, 0.06 / np.sqrt(2), (2, looks[-1]))
        candidate, reference = (1 + MARGIN) * machine * np.exp(noise[0]), machine * np.exp(noise[1])
        said_spent = said_naive = False
        for look in looks:
            comparison = stats.compare(candidate[:look], reference[:look], MARGIN, paired=True)
            said_spent |= decide.decide(comparison, MARGIN, decide.spend(ALPHA, look, looks)).word == "slower"
            said_naive |= decide.decide(comparison, MARGIN, ALPHA).word == "slower"
        spent_wrong += said_spent
        naive_wrong += said_naive
    assert spent_wrong / 1000 <= ALPHA
    assert naive_wrong > spent_wrong  # the looks cost something: the spending is not for show
