"""Plain-text tables for the terminal: trial records and verify verdicts.

`PrintSummary` is a Hydra callback (configured in conf/config.yaml) that
collects what each job returned and prints one table when the run or the
multirun ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bench.verify import Cell

TRIAL_COLUMNS = (
    "style", "arch", "status", "params", "build_ms", "first_step_ms", "step_ms_median",
    "test_accuracy", "coarse_test_accuracy", "data_source", "data_train_samples", "data_test_samples", "reason",
)  # fmt: skip


def trial_table(records: Sequence[dict[str, Any]]) -> str:
    """One row per trial with the headline columns that any record has."""
    frame = pd.DataFrame.from_records(list(records))
    for column in ("params", "data_train_samples", "data_test_samples"):
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    columns = [column for column in TRIAL_COLUMNS if column in frame.columns]
    return frame[columns].to_string(index=False, float_format=lambda value: f"{value:.4g}", na_rep="")


def verify_table(cells: Sequence[Cell]) -> str:
    """One line per architecture × style with its verdict, then a count per status."""
    lines = [f"{'arch':<9} {'style':<11} {'params':>7} {'max |diff|':>10}  verdict"]
    for cell in cells:
        params = "-" if cell.params is None else str(cell.params)
        gap = "-" if cell.max_abs_diff is None else f"{cell.max_abs_diff:.1e}"
        lines.append(f"{cell.arch:<9} {cell.style:<11} {params:>7} {gap:>10}  {cell.verdict()}")
    counts = Counter(cell.status for cell in cells)
    lines.append(f"{len(cells)} cells: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    return "\n".join(lines)


class PrintSummary(Callback):
    """Collects each job's returned record; prints the table at the end."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.COMPLETED and isinstance(job_return.return_value, dict):
            self.records.append(job_return.return_value)

    def _print(self) -> None:
        if self.records:
            print(trial_table(self.records), flush=True)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print()
