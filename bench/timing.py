"""Clocks: one timing method, used the same way for every style.

Every interval is `time.perf_counter` around work whose result has been
fetched (a Python number or a NumPy array), so asynchronous execution cannot
end an interval early.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# The forward-pass latencies every trial times (bench.measure.trained.latency_calls), at these batch sizes:
# one column `<kind>_ms_b<size>` each.
LATENCY_KINDS = ("call_eager", "call_compiled", "predict_on_batch", "predict")
LATENCY_BATCHES = (1, 128)


class StepClock:
    """Timestamps of execution ends; the gaps between them are the step times.

    An execution is one call of the compiled train function: one step, or
    `steps_per_execution` steps, in which case each gap is divided by that.
    """

    def __init__(
        self,
        counter: Callable[[], int | None] | None = None,
        on_tick: Callable[[int], None] | None = None,
    ) -> None:
        self.ends: list[float] = []
        self.counter = counter  # read at every tick (a trainer's trace count): `counts`
        self.counts: list[int | None] = []
        self.on_tick = on_tick  # called with each tick's index (0: the first execution) after its time

    def start(self) -> None:
        self.ends = [time.perf_counter()]
        self.counts = []

    def tick(self) -> None:
        self.ends.append(time.perf_counter())
        if self.counter is not None:
            self.counts.append(self.counter())
        if self.on_tick is not None:
            self.on_tick(len(self.ends) - 2)

    def gaps_ms(self, steps_per_tick: int = 1) -> np.ndarray:
        """Milliseconds per step for each tick."""
        return np.diff(np.asarray(self.ends)) * 1000.0 / steps_per_tick


@contextmanager
def elapsed_ms(record: dict[str, float], key: str) -> Iterator[None]:
    """Store the milliseconds spent in the block under record[key]."""
    started = time.perf_counter()
    yield
    record[key] = (time.perf_counter() - started) * 1000.0


def median_call_ms(call: Callable[[], Any], repeats: int, budget_ms: float = 0.0) -> float:
    """Median milliseconds of `call()` after one untimed warm-up call: at least `repeats`
    calls, and more until `budget_ms` has been spent (so a cheap call gets enough samples
    for a stable median, as timeit's autorange does). `call` must return fetched values
    (it is the caller's job to sync)."""
    call()
    samples: list[float] = []
    while len(samples) < max(repeats, 1) or sum(samples) * 1000.0 < budget_ms:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return float(np.median(samples) * 1000.0)


def step_summary(step_ms: np.ndarray, samples_per_step: int) -> dict[str, float]:
    """Median, interquartile range, 95th percentile and throughput of timed steps."""
    q25, median, q75, p95 = np.percentile(step_ms, [25, 50, 75, 95])
    return {
        "step_ms_median": float(median),
        "step_ms_iqr": float(q75 - q25),
        "step_ms_p95": float(p95),
        "samples_per_s": float(samples_per_step / (median / 1000.0)),
    }
