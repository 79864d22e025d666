"""Plain-text tables for the terminal: a sweep's summary and verify verdicts.

`sweep_table` is what the driver prints when a run or sweep ends, read from the
results folder (the source of truth; never from job callbacks, which run on the
job's node under submitit or Ray): one line per cell (bench.decide.cells) with medians
over repeats. `trial_line` is what the sweeper prints as each trial finishes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

MEDIANS = {
    "step_ms_median": "step_ms",
    "time_to_first_step_ms": "first_step_total_ms",
    "test_accuracy": "accuracy",
    "pct_of_peak": "pct_peak",
}


def sweep_table(frame: pd.DataFrame) -> str:
    """One line per cell (bench.decide.cells): trials by status and medians over ok repeats."""
    from bench.decide import cells

    frame = cells.with_labels(frame)
    columns = ["arch", "setting", "who"]
    counts = frame.groupby(columns)["status"].agg(
        lambda s: " ".join(f"{n} {k}" for k, n in Counter(s).items())
    )
    ok = frame[frame["status"] == "ok"]
    medians = ok.groupby(columns)[list(MEDIANS)].median().rename(columns=MEDIANS)
    table = (
        pd.concat([counts.rename("trials"), medians], axis=1).reset_index().rename(columns={"who": "style"})
    )
    if (table["setting"] == "").all():
        table = table.drop(columns="setting")
    return table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")


def trial_line(row: dict[str, Any]) -> str:
    """One line for a finished trial: its cell and headline numbers (or its status)."""
    from bench.decide.cells import style_label

    who = style_label(str(row.get("style")), row.get("variant", 1))
    where = f"{who}/{row.get('arch', '?')} r{row.get('repeat', '?')}"
    if row.get("status") != "ok":
        detail = row.get("error") or row.get("reason") or ""
        return f"{where}: {row.get('status')} {str(detail)[:120]}".rstrip()
    return (
        f"{where}: step {row['step_ms_median']:.3g} ms, first step {row['time_to_first_step_ms']:.0f} ms, "
        f"accuracy {row['test_accuracy']:.3f}"
    )


def verify_table(cells: Sequence[Any]) -> str:
    """One line per architecture × style with its verdict, then a count per status."""
    width = max([9, *(len(cell.arch) for cell in cells)])  # a user's MODULE:FUNCTION may be longer
    lines = [f"{'arch':<{width}} {'style':<11} {'params':>7} {'max |diff|':>10}  verdict"]
    for cell in cells:
        params = "-" if cell.params is None else str(cell.params)
        gap = "-" if cell.max_abs_diff is None else f"{cell.max_abs_diff:.1e}"
        lines.append(f"{cell.arch:<{width}} {cell.style:<11} {params:>7} {gap:>10}  {cell.verdict()}")
    counts = Counter(cell.status for cell in cells)
    lines.append(f"{len(cells)} cells: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    return "\n".join(lines)
