"""The report's sentences: one verdict per comparison, one answer per architecture and
metric, and which choice (backend or style) moves a metric more, each carrying the decision
word and interval of the comparison tables (bench.present.comparisons) it reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import decide
from bench.decide import cells
from bench.present.comparisons import METRIC_WORDS


def _largest(frame: pd.DataFrame) -> pd.Series | None:
    """The row with the largest effect (|log ratio|), or None."""
    frame = frame.dropna(subset=["ratio"])
    if frame.empty:
        return None
    return frame.loc[np.abs(np.log(frame["ratio"].astype(float))).idxmax()]


def backend_answers(backend_rows: pd.DataFrame, decisions: pd.DataFrame, spreads: pd.DataFrame) -> list[str]:
    """Per arch and metric: which choice moves it more, the backend or the style, with the
    largest decided effect of each and its interval."""
    if spreads.empty or backend_rows.empty:
        return []
    lines = []
    for (arch, metric), part in spreads.groupby(["arch", "metric"], sort=False):
        by_backend = part[part["across"] == "backends"]["spread"].max()
        by_style = part[part["across"] == "styles"]["spread"].max()
        if pd.isna(by_backend) or pd.isna(by_style):
            continue
        words = METRIC_WORDS.get(metric, metric)
        mover = "the backend" if by_backend > by_style else "the style"
        backend = _largest(backend_rows[(backend_rows["arch"] == arch) & (backend_rows["metric"] == metric)])
        style = (
            _largest(decisions[(decisions["arch"] == arch) & (decisions["metric"] == metric)])
            if len(decisions)
            else None
        )
        line = (f"{arch}, {words}: {mover} moves it more (up to {by_backend:.2f}x across backends for one style, "
                f"{by_style:.2f}x across styles on one backend).")  # fmt: skip
        if backend is not None:
            line += (f" Largest backend effect: {backend['who']} on {backend['value']} / tensorflow "
                     f"{backend['ratio']:.2f}x [{backend['ratio_low']:.2f}, {backend['ratio_high']:.2f}], {backend['decision']}.")  # fmt: skip
        if style is not None:
            line += (f" Largest style effect: {style['who']} / reference ({style['setting'] or 'one setting'}) "
                     f"{style['ratio']:.2f}x [{style['ratio_low']:.2f}, {style['ratio_high']:.2f}], {style['decision']}.")  # fmt: skip
        lines.append(line)
    return lines


def _interval(row: pd.Series) -> str:
    unit = "paired blocks" if row["paired"] else "repeats per style"
    level = row.get("level", 0.95)
    if not np.isfinite(row["ratio_low"]):
        return f"too few repeats for a {level:.1%} interval; {row['n']} {unit}"
    return f"{level:.1%} interval {row['ratio_low']:.2f}–{row['ratio_high']:.2f}; {row['n']} {unit}"


def verdict(row: pd.Series, reference: str) -> str:
    """One sentence per comparison, carrying exactly one decision word."""
    if row["metric"] == "step_ms_median":
        claim = f"{row['who']} steps {row['ratio']:.2f}× {reference}"
    else:
        claim = f"{row['who']}'s time to first step is {row['ratio']:.2f}× {reference}'s"
    return f"On {cells.where(row['arch'], row['setting'])}, {claim} ({_interval(row)}): {row['reason']}."


def answers(decisions: pd.DataFrame, reference: str, margin: float) -> list[str]:
    """One sentence per architecture and metric: which styles are faster, slower, equivalent, undecided."""
    sentences = []
    several_settings = decisions["setting"].nunique() > 1
    for (arch, metric), group in decisions.groupby(["arch", "metric"], sort=False):
        parts = []
        for word in decide.WORDS:
            chosen = group[group["decision"] == word]
            if chosen.empty:
                continue
            items = []
            for who, mine in chosen.groupby("who", sort=False):
                ratios = ", ".join(
                    f"{r:.2f}×" + (f" {s}" if several_settings and s else "")
                    for r, s in zip(mine["ratio"], mine["setting"], strict=True)
                )
                items.append(f"{who} ({ratios})")
            label = f"{word} within ±{margin:.0%}" if word == decide.EQUIVALENT else word
            parts.append(f"{label}: {', '.join(items)}")
        sentences.append(f"{arch}, {METRIC_WORDS[metric]} against {reference}: " + "; ".join(parts) + ".")
    return sentences
