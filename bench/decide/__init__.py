"""Decisions: every comparison ends faster, slower, equivalent, or undecided (with what would decide it).

One rule for `bench report` and `bench compare`, for a lower-is-better time
metric and a practical margin m (default 5%). Each word is a claim about the
ratio's interval at the family's level:

- **equivalent**: the interval lies inside [1/(1+m), 1+m] (two one-sided rank
  tests on the log ratio, TOST, each rejecting "at least m apart");
- **slower** / **faster**: the interval lies wholly beyond 1+m / below 1/(1+m)
  (a one-sided rank test rejecting "at most m slower" / "at most m faster");
- **undecided**: neither, with about how many repeats would settle it.

Each comparison makes at most one claim, the one its numbers support best (the
smallest of its three p-values), and every claim of one report or one gate run
is one Benjamini-Hochberg family (scipy's `false_discovery_control`). A claim
holds when its adjusted p is below alpha; the interval it is a claim about is
the rank interval at level 1 - 2·alpha·R/m for a family of m comparisons with
R claims (Benjamini and Yekutieli's false-coverage-rate level), so that a word
and the interval printed beside it agree. At a true ratio exactly on the margin
each word is wrong in at most alpha of runs (tests/test_calibration.py).

Sequential looks (`--repeats auto`, `train.budget_s`): a run that looks at the
family again after adding repeats spends alpha over its planned looks
(`spend`), so that the error rate holds across all of them.

The folder owns deciding: this rule, the rank statistics under it (`stats`), the
cells a sweep's rows group into (`cells`), the regression gate's comparison of two
sweeps (`compare`) and a settled sweep's looks (`looks`). It is pure statistics over
results tables: it imports results/ and the ground modules, never a backend, a
style, or anything that measures, runs or presents (tests/test_layout.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import stats as scipy_stats

from bench.decide import stats

FASTER, SLOWER, EQUIVALENT, UNDECIDED = "faster", "slower", "equivalent", "undecided"
WORDS = (FASTER, SLOWER, EQUIVALENT, UNDECIDED)
MARGIN = 0.05
ALPHA = 0.05
CORRECTION = "Benjamini-Hochberg"


@dataclass(frozen=True)
class Decision:
    """A comparison and what it decided: `p_adjusted` is the family-corrected p of its claim,
    `low` / `high` the ratio's interval at the family's `level`."""

    comparison: stats.Comparison
    word: str
    margin: float
    alpha: float
    p_adjusted: float
    low: float = float("nan")
    high: float = float("nan")
    level: float = float("nan")
    alpha_next: float = float("nan")  # the level one more claim of the family would need

    @property
    def decided(self) -> bool:
        return self.word != UNDECIDED

    @cached_property
    def repeats_needed(self) -> int | None:
        """About how many repeats would settle an undecided comparison (None: decided, or it
        cannot say); never at or below the repeats it already had (they did not settle it)."""
        if self.decided:
            return None
        needed = stats.repeats_to_decide(self.comparison, self.margin, self.alpha_next)
        return None if needed is None else max(needed, self.comparison.pairs + 1)

    def reason(self) -> str:
        """The rule's words for this outcome (containing no other decision word)."""
        c = self.comparison
        margin = f"±{self.margin:.0%}"
        where = f"{self.level:.1%} interval {self.low:.3f}–{self.high:.3f}"
        if self.word == EQUIVALENT:
            return f"{EQUIVALENT} within {margin} ({where}, adjusted p = {self.p_adjusted:.2g})"
        if self.word in (FASTER, SLOWER):
            change = abs(c.ratio - 1)
            return (
                f"{self.word} by {change:.0%}, beyond the {margin} margin "
                f"({where}, adjusted p = {self.p_adjusted:.2g})"
            )
        return f"{UNDECIDED} at {margin}: {self.what_would_decide()}"

    def what_would_decide(self) -> str:
        c = self.comparison
        if not np.isfinite(c.ratio):
            return "no successful repeats on one side"
        needed = self.repeats_needed
        per = "paired repeats (blocks)" if c.paired else "repeats per side"
        if needed is None:
            return f"the ratio sits on the margin or its spread is unknown; {c.pairs} {per} cannot place it"
        if needed > 100:
            return f"more than 100 {per} would be needed at this spread ({c.pairs} here)"
        return f"about {needed} {per} would settle it in 4 of 5 runs ({c.pairs} here)"


def claim(comparison: stats.Comparison) -> tuple[str, float]:
    """The claim a comparison's numbers support best and its one-sided p-value."""
    options = [
        (SLOWER, comparison.p_slower),
        (FASTER, comparison.p_faster),
        (EQUIVALENT, comparison.p_equivalent),
    ]
    options = [(word, p) for word, p in options if np.isfinite(p)]
    if not np.isfinite(comparison.ratio) or not options:
        return UNDECIDED, float("nan")
    return min(options, key=lambda option: option[1])


def adjust(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; NaN stays NaN and does not count in the family."""
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        adjusted[finite] = scipy_stats.false_discovery_control(values[finite], method="bh")
    return adjusted


def planned_looks(first: int, step: int, cap: int) -> tuple[int, ...]:
    """The looks of a sequential run (numbers of repeats): first, first + step, ..., cap."""
    if first < 1 or step < 1 or cap < first:
        raise ValueError(f"looks need 1 <= first look <= cap and step >= 1 (got {first}, {step}, {cap})")
    return tuple(sorted({*range(first, cap, step), cap}))


def spend(alpha: float, look: int, looks: Sequence[int]) -> float:
    """The share of alpha spent at `look` (a number of repeats) of the planned `looks`:
    alpha x (t_k^2 - t_(k-1)^2) with t = repeats / last look. The shares add up to alpha, so
    by the union bound no claim is wrong more than alpha of the time over all the looks; most
    of it is kept for the later looks, which have the most repeats."""
    plan = sorted(set(looks))
    if look not in plan:
        raise ValueError(f"look {look} is not one of the planned looks {plan}")
    position = plan.index(look)
    before = plan[position - 1] if position else 0
    return alpha * (look**2 - before**2) / plan[-1] ** 2


def decide_all(
    comparisons: Sequence[stats.Comparison], margin: float = MARGIN, alpha: float = ALPHA
) -> list[Decision]:
    """One decision per comparison, corrected as one family.

    An undecided comparison's repeats estimate (worked out when asked for) aims at the level
    the family would ask of one more claim (Benjamini-Hochberg: alpha x (claims + 1) / family
    size)."""
    for comparison in comparisons:
        if np.isfinite(comparison.margin) and not np.isclose(comparison.margin, margin):
            raise ValueError(f"a comparison tested at ±{comparison.margin:g} decided at ±{margin:g}")
    claims = [claim(c) for c in comparisons]
    adjusted = adjust([p for _, p in claims])
    settled = [bool(np.isfinite(p) and p < alpha) for p in adjusted]
    family = max(int(np.isfinite([p for _, p in claims]).sum()), 1)
    made = sum(settled)
    level = 1 - 2 * alpha * max(made, 1) / family
    alpha_next = alpha * (made + 1) / family
    decisions = []
    for comparison, (word, _), p, done in zip(comparisons, claims, adjusted, settled, strict=True):
        low, high = stats.interval(comparison, level)
        said = word if done else UNDECIDED
        decisions.append(Decision(comparison, said, margin, alpha, float(p), low, high, level, alpha_next))
    return decisions


def decide(comparison: stats.Comparison, margin: float = MARGIN, alpha: float = ALPHA) -> Decision:
    """A single comparison decided on its own (a family of one)."""
    return decide_all([comparison], margin, alpha)[0]


def rule_text(margin: float = MARGIN, alpha: float = ALPHA) -> str:
    return (
        f"A ratio is {EQUIVALENT} when its interval lies inside ±{margin:.0%}, {SLOWER} or {FASTER} "
        f"when it lies wholly beyond ±{margin:.0%}, otherwise {UNDECIDED}: one-sided rank tests against "
        f"the margin, {CORRECTION}-adjusted as one family over every decision shown at α = {alpha:g}, "
        f"with each interval at the family's level (1 − 2α × claims / comparisons)."
    )
