"""Decisions: every comparison ends faster, slower, equivalent, or undecided (with what would decide it).

One rule for `bench report` and `bench compare`, for a lower-is-better time
metric and a practical margin m (default 5%):

- **equivalent**: the ratio is shown to lie within [1/(1+m), 1+m]: two one-sided
  rank tests (TOST) on the log ratio, both rejecting "at least m apart";
- **slower** / **faster**: the ratio lies beyond the margin (point estimate) and
  differs from 1 significantly (two-sided rank test);
- **undecided**: neither, with about how many repeats would likely decide it,
  from the observed spread.

Each comparison is tested for the one outcome its point estimate points at
(equivalence when inside the margin, a difference when outside), and the
p-values of one report (or one gate run) are corrected together with
Benjamini-Hochberg (scipy's `false_discovery_control`): at most about alpha of
the decisions made are expected to be wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from bench import stats

FASTER, SLOWER, EQUIVALENT, UNDECIDED = "faster", "slower", "equivalent", "undecided"
WORDS = (FASTER, SLOWER, EQUIVALENT, UNDECIDED)
MARGIN = 0.05
ALPHA = 0.05
CORRECTION = "Benjamini-Hochberg"


@dataclass(frozen=True)
class Decision:
    """A comparison and what it decided; `p_adjusted` is the family-corrected p of the tested outcome."""

    comparison: stats.Comparison
    word: str
    margin: float
    alpha: float
    p_adjusted: float
    repeats_needed: int | None = None

    @property
    def decided(self) -> bool:
        return self.word != UNDECIDED

    def reason(self) -> str:
        """The rule's words for this outcome (containing no other decision word)."""
        c = self.comparison
        margin = f"±{self.margin:.0%}"
        if self.word == EQUIVALENT:
            return f"{EQUIVALENT} within {margin} (TOST, adjusted p = {self.p_adjusted:.2g})"
        if self.word in (FASTER, SLOWER):
            change = abs(c.ratio - 1)
            return f"{self.word} by {change:.0%}, beyond the {margin} margin (adjusted p = {self.p_adjusted:.2g})"
        return f"{UNDECIDED} at {margin}: {self.what_would_decide()}"

    def what_would_decide(self) -> str:
        c = self.comparison
        if not np.isfinite(c.ratio):
            return "no successful repeats on one side"
        needed = self.repeats_needed
        have = min(c.n_candidate, c.n_reference)
        per = "paired repeats (blocks)" if c.paired else "repeats per side"
        if needed is None:
            return f"the ratio sits on the margin; {have} {per} cannot place it"
        if needed > 100:
            return f"more than 100 {per} would be needed at this spread ({have} here)"
        return f"about {needed} {per} would likely settle it ({have} here)"


def tested_p(comparison: stats.Comparison, margin: float) -> tuple[str, float]:
    """The outcome a comparison's point estimate points at, and the p-value that tests it."""
    if not np.isfinite(comparison.ratio):
        return UNDECIDED, float("nan")
    if abs(np.log(comparison.ratio)) < np.log1p(margin):
        return EQUIVALENT, comparison.p_equivalent
    return (SLOWER if comparison.ratio > 1 else FASTER), comparison.p_value


def adjust(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; NaN stays NaN and does not count in the family."""
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        adjusted[finite] = scipy_stats.false_discovery_control(values[finite], method="bh")
    return adjusted


def decide_all(
    comparisons: Sequence[stats.Comparison], margin: float = MARGIN, alpha: float = ALPHA
) -> list[Decision]:
    """One decision per comparison, corrected as one family.

    An undecided comparison's repeats estimate aims at the level the family would ask of
    one more decision (Benjamini-Hochberg: alpha x (decided + 1) / family size), and is
    never at or below the repeats it already had (they did not settle it)."""
    tested = [tested_p(c, margin) for c in comparisons]
    adjusted = adjust([p for _, p in tested])
    settled = [
        word != UNDECIDED and np.isfinite(p) and p < alpha
        for (word, _), p in zip(tested, adjusted, strict=True)
    ]
    family = max(int(np.isfinite([p for _, p in tested]).sum()), 1)
    alpha_next = alpha * (sum(settled) + 1) / family
    decisions = []
    for comparison, (word, _), p, done in zip(comparisons, tested, adjusted, settled, strict=True):
        if done:
            decisions.append(Decision(comparison, word, margin, alpha, float(p)))
            continue
        needed = stats.repeats_to_decide(comparison, margin, alpha_next)
        if needed is not None:
            needed = max(needed, min(comparison.n_candidate, comparison.n_reference) + 1)
        decisions.append(Decision(comparison, UNDECIDED, margin, alpha, float(p), needed))
    return decisions


def decide(comparison: stats.Comparison, margin: float = MARGIN, alpha: float = ALPHA) -> Decision:
    """A single comparison decided on its own (a family of one)."""
    return decide_all([comparison], margin, alpha)[0]


def rule_text(margin: float = MARGIN, alpha: float = ALPHA) -> str:
    return (
        f"A ratio is {EQUIVALENT} when two one-sided rank tests place it within ±{margin:.0%}; "
        f"{SLOWER} or {FASTER} when it lies beyond ±{margin:.0%} and a two-sided rank test finds a "
        f"difference; otherwise {UNDECIDED}. p-values are {CORRECTION}-adjusted over every decision "
        f"shown, at α = {alpha:g}."
    )
