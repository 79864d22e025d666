"""Overhead against size: does the style matter *for my model size*?

Over a sweep that varies the batch size (`sweep=scaling`), each style's steady
step is fitted per model (architecture and its configuration, e.g. mlp width)
as a straight line, `step_ms = fixed_ms + per_sample_us / 1000 × batch`, by
ordinary least squares (scipy's `linregress`) with Student-t 95% intervals on
both coefficients. The fixed part is what a style costs whatever the batch:
Python and framework work per step. Against the reference style, the extra
fixed cost is fitted on the paired differences (each block's style step minus
its reference step, the same process and moment), and the fitted lines give
the smallest batch from which the style stays within the practical margin of
the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from bench.decide import cells

CONFIDENCE = 0.95
BATCH = "train_batch_size"
STEP = "step_ms_median"
GRID_POINTS = 200  # batch sizes between the smallest and the largest measured, for the crossing


def _t(confidence: float, dof: float) -> float:
    return float(scipy_stats.t.ppf(0.5 + confidence / 2, dof))


@dataclass(frozen=True)
class Line:
    """step = intercept + slope × batch, fitted by least squares on `n` points."""

    intercept: float
    slope: float
    n: int
    r2: float
    x_mean: float
    sxx: float  # sum of squared deviations of the batch sizes
    residual_sd: float
    confidence: float = CONFIDENCE

    def at(self, batch: float | np.ndarray) -> float | np.ndarray:
        return self.intercept + self.slope * batch

    def se_at(self, batch: float | np.ndarray) -> float | np.ndarray:
        """Standard error of the fitted mean step at `batch` (0: the intercept's)."""
        return self.residual_sd * np.sqrt(1 / self.n + (batch - self.x_mean) ** 2 / self.sxx)

    @property
    def t_quantile(self) -> float:
        """Student's t for the interval, with the fit's n - 2 degrees of freedom."""
        return _t(self.confidence, self.n - 2)

    @property
    def intercept_low(self) -> float:
        return self.intercept - self.t_quantile * float(self.se_at(0.0))

    @property
    def intercept_high(self) -> float:
        return self.intercept + self.t_quantile * float(self.se_at(0.0))

    @property
    def slope_low(self) -> float:
        return self.slope - self.t_quantile * self.residual_sd / np.sqrt(self.sxx)

    @property
    def slope_high(self) -> float:
        return self.slope + self.t_quantile * self.residual_sd / np.sqrt(self.sxx)


def fit_line(batch: np.ndarray, step_ms: np.ndarray, confidence: float = CONFIDENCE) -> Line | None:
    """The least-squares line (scipy's linregress); None without 3 points at 2 distinct batches."""
    x, y = np.asarray(batch, float), np.asarray(step_ms, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or len(np.unique(x)) < 2:
        return None
    fit = scipy_stats.linregress(x, y)
    residuals = y - (fit.intercept + fit.slope * x)
    residual_sd = float(np.sqrt(np.sum(residuals**2) / (len(x) - 2)))
    sxx = float(np.sum((x - x.mean()) ** 2))
    return Line(
        fit.intercept, fit.slope, len(x), fit.rvalue**2, float(x.mean()), sxx, residual_sd, confidence
    )


class Gap:
    """The style's step minus the reference's at any batch, with its 95% interval: from the
    line fitted on paired differences (block design), or from the two independent lines
    (trial design; Welch-Satterthwaite degrees of freedom)."""

    def __init__(self, paired: Line | None = None, style: Line | None = None, reference: Line | None = None):
        self.paired, self.style, self.reference = paired, style, reference

    def at(self, batch: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(difference, half-width of its interval) at each batch."""
        if self.paired is not None:
            line = self.paired
            return np.asarray(line.at(batch)), line.t_quantile * np.asarray(line.se_at(batch))
        style, reference = self.style, self.reference
        se_s, se_r = np.asarray(style.se_at(batch)), np.asarray(reference.se_at(batch))
        variance = se_s**2 + se_r**2
        dof = variance**2 / np.maximum(se_s**4 / (style.n - 2) + se_r**4 / (reference.n - 2), 1e-300)
        half = scipy_stats.t.ppf(0.5 + style.confidence / 2, dof) * np.sqrt(variance)
        return np.asarray(style.at(batch) - reference.at(batch)), half


def unpaired_extra(style: Line, reference: Line) -> tuple[float, float, float]:
    """The difference of two independent intercepts with its interval (trial design)."""
    difference, half = Gap(style=style, reference=reference).at(0.0)
    return float(difference), float(difference - half), float(difference + half)


def margin_from(gap: Gap, reference: Line, margin: float, batches: np.ndarray) -> tuple[float | None, str]:
    """Where the style is within ±margin of the reference over the measured batch sizes
    (ascending; no extrapolation): the smallest batch from which the gap's whole interval
    stays inside ±margin × the reference's fitted step, and that in words; or whether the gap
    is beyond the margin, or undecided, at the largest batch."""
    grid = np.unique(np.concatenate([batches, np.geomspace(batches[0], batches[-1], GRID_POINTS)]))
    difference, half = gap.at(grid)
    allowed = margin * np.asarray(reference.at(grid))
    inside = np.abs(difference) + half <= allowed
    span = f"{int(batches[0])}–{int(batches[-1])}"
    if inside.all():
        return float(grid[0]), f"within ±{margin:.0%} at every measured batch ({span})"
    if inside[-1]:
        start = float(grid[np.flatnonzero(~inside)[-1] + 1])
        return start, f"within ±{margin:.0%} from batch {start:.0f} on (measured {span})"
    if np.abs(difference[-1]) - half[-1] > allowed[-1]:
        return None, f"beyond ±{margin:.0%} even at batch {int(batches[-1])}, the largest measured"
    return None, (
        f"undecided at batch {int(batches[-1])}, the largest measured (the gap's interval straddles "
        f"±{margin:.0%}): more blocks would settle it"
    )


def paired_ratios(rows: pd.DataFrame, who: str, reference: str) -> pd.Series:
    """Per batch size: the median over blocks of the style's step over its block's reference step."""
    pairs = _paired_differences(rows, who, reference)
    return (pairs["a"] / pairs["b"]).groupby(pairs[BATCH]).median()


def _paired_differences(part: pd.DataFrame, who: str, reference: str) -> pd.DataFrame:
    """Per block (repeat and batch): the style's step minus the reference's."""
    keys = ["repeat", BATCH]
    mine = part[part["who"] == who].set_index(keys)[STEP]
    ref = part[part["who"] == reference].set_index(keys)[STEP]
    joined = mine.to_frame("a").join(ref.to_frame("b"), how="inner").reset_index()
    return joined.assign(difference=joined["a"] - joined["b"])


COLUMNS = [
    "arch", "model", "who", "n", "batches", "fixed_ms", "fixed_low", "fixed_high",
    "per_sample_us", "per_sample_low", "per_sample_high", "r2",
    "extra_fixed_ms", "extra_fixed_low", "extra_fixed_high", "within_margin_from", "crossing",
]  # fmt: skip


def fit_labels(ok: pd.DataFrame) -> pd.Series:
    """The model each row's fit belongs to: the architecture with everything that varies in
    the rows besides the batch size (its width, the backend, XLA, ...), so that two backends'
    lines are two models, never one."""
    words = cells.setting_labels(ok, ignore=(BATCH,))
    return ok["arch"].where(words == "", ok["arch"] + ", " + words)


def overhead_table(ok: pd.DataFrame, reference: str, margin: float) -> pd.DataFrame:
    """One row per model and style in a sweep over batch sizes (at least 2 in the rows,
    everything else but the batch size equal within a model): the fitted fixed overhead and
    per-sample cost with intervals, and against the reference the extra fixed overhead (its
    interval from the paired differences) and the batch from which the style is within the
    margin. Empty when the rows do not vary the batch size."""
    if ok.empty or ok[BATCH].nunique() < 2:
        return pd.DataFrame(columns=COLUMNS)
    ok = ok.assign(rest=cells.group_key(ok, ignore=(BATCH,)), model=fit_labels(ok))
    rows = []
    for _, part in ok.groupby("rest", sort=False):
        if part[BATCH].nunique() < 2:
            continue
        first = part.iloc[0]
        lines = {who: fit_line(g[BATCH], g[STEP]) for who, g in part.groupby("who", sort=False)}
        batches = np.sort(part[BATCH].unique().astype(float))
        for who, line in lines.items():
            if line is None:
                continue
            row = {
                "arch": first["arch"], "model": first["model"],
                "who": who, "n": line.n, "batches": ", ".join(str(int(b)) for b in batches),
                "fixed_ms": line.intercept, "fixed_low": line.intercept_low, "fixed_high": line.intercept_high,
                "per_sample_us": 1000 * line.slope, "per_sample_low": 1000 * line.slope_low,
                "per_sample_high": 1000 * line.slope_high, "r2": line.r2,
            }  # fmt: skip
            if who != reference and lines.get(reference) is not None:
                gap = _gap(part, who, reference, line, lines[reference])
                if gap is not None:
                    difference, half = gap.at(0.0)
                    row.update(extra_fixed_ms=float(difference), extra_fixed_low=float(difference - half),
                               extra_fixed_high=float(difference + half))  # fmt: skip
                    row["within_margin_from"], row["crossing"] = margin_from(
                        gap, lines[reference], margin, batches
                    )
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _gap(part: pd.DataFrame, who: str, reference: str, style: Line, reference_line: Line) -> Gap | None:
    """Paired when every trial of the model ran in blocks, from independent lines otherwise."""
    if (part["design"] == "block").all():
        pairs = _paired_differences(part, who, reference)
        line = fit_line(pairs[BATCH], pairs["difference"])
        return None if line is None else Gap(paired=line)
    return Gap(style=style, reference=reference_line)


def overhead_sentences(table: pd.DataFrame, reference: str) -> list[str]:
    """Per model and style: its extra fixed overhead against the reference and where the
    difference falls under the margin."""
    lines = []
    for _, row in table.dropna(subset=["extra_fixed_ms"]).iterrows():
        lines.append(
            f"{row['model']}: {row['who']} costs {row['extra_fixed_ms']:+.3f} ms per step beyond {reference} "
            f"whatever the batch (95% CI {row['extra_fixed_low']:+.3f} to {row['extra_fixed_high']:+.3f}); "
            f"{row['crossing']}."
        )
    return lines
