"""Host memory per phase, from the kernel's own counters (Linux).

The kernel keeps each process's peak resident set (`VmHWM` in /proc/self/status)
and lets the process reset it to the current resident set (writing 5 to
/proc/self/clear_refs, Linux 4.0 and later). So a phase's peak is exact, with
no sampling thread competing with the step: reset at the phase's start, read
the peak at its end. A phase's *growth* is its peak minus the resident set at
its start: what the phase added at its worst (a model's weights and optimizer
state while it is built; a step's activations, gradients and traced graphs
while it trains). Growth, not the absolute peak, so the dataset loaded before
(which dominates `peak_rss_mb`) and the other styles of a block that stay
resident do not count against this one.

Memory the process freed earlier but its allocator kept would be reused
without any growth, so each phase first hands the C heap's free pages back to
the kernel (glibc's `malloc_trim`): a style built after another style's model
was freed still shows its own weights. A style's build phase also first
collects Python's cyclic garbage: a model dropped earlier and freed by the
collector *during* a later phase lowers the resident set under that phase's
own growth.

A framework's own host pool keeps what it frees where neither trimming nor the
kernel can see it: TensorFlow with oneDNN (its default on x86) serves large CPU
tensors from a BFC pool, so a 12.4 MiB build after a larger model had been freed
grew the resident set by 0.67 MiB (the two memory tests of tests/test_phases.py
failed on every full run that had built a larger model first). Where the
backend's runtime counts its pool (`host_pool_mb`), a phase's growth is the
larger of the resident set's and the pool's in-use peak's: still a lower bound
(the pool counts tensors only, the resident set misses reused pool pages), but
one that holds whatever was freed before.

Where the counters are missing or cannot be reset (not Linux, a locked-down
/proc), every growth is NaN and `peak_rss_mb` falls back to getrusage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import math
import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
_process_peak_mb = 0.0  # the highest peak seen before any reset


def _status_mb(field: str) -> float:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    except OSError:
        return math.nan
    return int(match.group(1)) / 1024.0 if match else math.nan


def resident_mb() -> float:
    """The resident set now, in MiB (NaN where unknown)."""
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """The peak resident set since the last reset (or the process start), in MiB."""
    return _status_mb("VmHWM")


def reset_peak() -> bool:
    """Set the kernel's peak to the resident set now; False where it cannot be reset."""
    global _process_peak_mb
    peak = peak_mb()
    if math.isnan(peak):
        return False
    _process_peak_mb = max(_process_peak_mb, peak)
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def process_peak_mb() -> float:
    """The process's peak resident set over its whole life, resets notwithstanding."""
    rusage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    peak = peak_mb()
    return max(_process_peak_mb, rusage, 0.0 if math.isnan(peak) else peak)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") else None


def trim_heap() -> None:
    """Give the C heap's free pages back to the kernel (glibc); nothing elsewhere."""
    library = _libc()
    if library is not None:
        library.malloc_trim(0)


def _pool() -> Any:
    """The runtime module of this process's Keras backend: it reads its framework's host pool."""
    from bench import runtime

    return runtime.for_backend()


class Phase:
    """One phase's growth: `start()` resets the peaks, `growth_mb()` reads them. `collect=True`
    first collects Python's cyclic garbage: 220-310 ms with TensorFlow and a model loaded
    here, so only a style's build phase does it (once per style, untimed), not the 30 steady
    rounds of a block; garbage left by the style's own build and first step is small."""

    def __init__(self, collect: bool = False) -> None:
        self.started_mb = math.nan
        self.pool_started_mb = math.nan
        self.collect = collect

    def start(self) -> None:
        if self.collect:
            gc.collect()
        trim_heap()
        pool = _pool()
        pool.reset_host_pool_peak()
        self.pool_started_mb = pool.host_pool_mb()[0]
        self.started_mb = resident_mb() if reset_peak() else math.nan

    def growth_mb(self) -> float:
        resident = peak_mb() - self.started_mb
        pool = _pool().host_pool_mb()[1] - self.pool_started_mb
        return resident if math.isnan(pool) or math.isnan(resident) else max(resident, pool)


@contextmanager
def growth(record: dict[str, Any], column: str, collect: bool = False) -> Iterator[None]:
    """record[column] = the block's memory growth in MiB; the largest, when the same column
    is measured again (a style's steady steps come in several rounds in a block)."""
    phase = Phase(collect)
    phase.start()
    yield
    value = phase.growth_mb()
    previous = record.get(column, math.nan)
    record[column] = value if math.isnan(previous) else max(previous, value)
