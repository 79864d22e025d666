"""Where a steady step goes: a short window of steps under the backend's profiler, parsed.

With `train.profile=true` a trial runs `train.profile_steps` steps unprofiled, then
the same number under its backend's own profiler (TensorFlow's, `jax.profiler` or
`torch.profiler`; the reader is the runtime module's `profile_window`), in the same
loop with the same per-step clock. The trace is read programmatically and every
step's wall interval, from the per-step clock, is partitioned by what the trace
shows running in it, in this order of precedence:

- **compute**: some kernel runs. TensorFlow: an op kernel (an event named
  `op:type` on any thread, except the input ops), on any core. JAX: XLA's CPU
  threads at work, or on a GPU the device's streams. torch: an ATen op on a CPU
  (which runs its kernel before it returns), or on a GPU a kernel or copy on the
  device;
- **input**: no kernel runs but the step waits for its input: tf.data's get-next
  (`IteratorGetNext` and the iterator's optional ops), or the NumPy pipeline's
  gather of a batch, inside a profiler range of its own (`bench.input`);
- **framework**: neither, but the framework's runtime is at work (TensorFlow's
  eager dispatch, function call and executor; JAX's dispatch and argument
  handling; torch's autograd engine and optimizer step, and on a GPU the host
  side of every op: dispatch and kernel launch);
- **untraced**: nothing the tracer records: Python (Keras's loop, the
  callbacks, the optimizer's Python wrappers) and idle gaps.

The four parts of a step add up to its profiled wall time exactly; each part
is reported as its mean, in ms per step, over the window's middle steps
(between the 25th and 75th percentile of step time: means add up, and a
stalled step is left out as a median would leave it), so the four columns add
up to `prof_step_ms`. The profiler's own cost, `prof_overhead`, is the
profiled median step over the unprofiled one, measured in the same trial a
moment apart: it is shown beside the parts, which are only as good as it is
small.

The first execution is broken down the same way (`first_execution_phase`, on
TensorFlow only: its parts are TensorFlow's graph building and instantiation): a
second model of the trial's style, built after the timed steps in the same,
by then warm, process, runs its first execution under the profiler, and that
execution's wall interval is partitioned, in this order, into

- **graph building**: TensorFlow's `tf.function-graph_building` events (AutoGraph,
  the step's Python body traced into a graph, the graph's completion: the body,
  `trace_ms`, is 75-80% of it here);
- **instantiation**: inside the function call's `EagerLocalExecute`, the time
  before its kernels start (`EagerKernelExecute`): graph optimisation (Grappler),
  placement and partitioning; turning Grappler off took it from 210-244 to
  115-149 ms (medians) on the functional residual model here;
- **XLA compilation**: the XLA compiler's own events (`*Compiler::*`, `HLO
  passes*`, its code-generation threads); the bridge's lowering of the graph to
  HLO before them has no event of its own and falls in the rest;
- **the rest**: the run itself, the iterator's start and Python.

Its times are a warm process's (imports, the runtime and the compiler already
started by the trial's own first step), so they explain the parts of a first
execution rather than repeat the trial's cold `first_step_ms`; and the profiler
records every op a trace creates, so the profiled execution is slower than an
unprofiled one built the same way just before it (`prof_first_overhead`).
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import backends, runtime
from bench.results import FIRST_EXECUTION_COLUMNS as FIRST_COLUMNS
from bench.results import PROFILE_COLUMNS as COLUMNS
from bench.runtime.common import PROFILE_INPUT, TRACE_KINDS
from bench.runtime.tensorflow_trace import FIRST_KINDS, first_intervals, tensorflow_trace
from bench.styles.trainer_common import NumpyBatches
from bench.timing import StepClock

PARTS = (*TRACE_KINDS, "untraced")  # the kinds a trace reader returns, then what no event covers
FIRST_PARTS = (*FIRST_KINDS, "rest")


def _merge(intervals: np.ndarray) -> np.ndarray:
    """Disjoint, sorted intervals covering the same time as `intervals` (n × 2, ns)."""
    if len(intervals) == 0:
        return intervals.reshape(0, 2)
    ordered = intervals[np.argsort(intervals[:, 0])]
    merged = [ordered[0].copy()]
    for start, end in ordered[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append(np.array([start, end]))
    return np.array(merged)


def _covered(merged: np.ndarray, start: float, end: float) -> float:
    """Time within [start, end] covered by disjoint intervals."""
    if len(merged) == 0:
        return 0.0
    clipped = np.clip(merged, start, end)
    return float(np.sum(clipped[:, 1] - clipped[:, 0]))


def unions(intervals: list[np.ndarray]) -> list[np.ndarray]:
    """For kinds of intervals in order of precedence: the time the first covers, the first two,
    and so on, each as disjoint intervals (the input `partition` takes)."""
    seen = np.empty((0, 2))
    found = []
    for kind in intervals:
        seen = np.concatenate([seen, kind])
        found.append(_merge(seen))
    return found


def partition(covered_by: list[np.ndarray], start: float, end: float) -> list[float]:
    """ms of [start, end] that each kind covers in order of precedence (time two kinds share
    counts for the earlier), then the ms none covers; `covered_by` comes from `unions`. They
    add up to end - start."""
    shares, before = [], 0.0
    for union in covered_by:
        now = _covered(union, start, end)
        shares.append((now - before) / 1e6)
        before = now
    return [*shares, ((end - start) - before) / 1e6]


def step_parts(intervals: dict[str, np.ndarray], bounds_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Per step (between consecutive bounds): ms of compute, input, framework, untraced;
    they add up to the step's wall time."""
    covered_by = unions([intervals[kind] for kind in PARTS[:-1]])
    steps = [
        partition(covered_by, start, end) for start, end in zip(bounds_ns[:-1], bounds_ns[1:], strict=True)
    ]
    return {part: np.array([step[index] for step in steps]) for index, part in enumerate(PARTS)}


def _profiled_fit(
    trainer: Any, batches: Any, executions: int, window: Callable[[Callable[[], None]], Any]
) -> tuple[StepClock, Any, int]:
    """`executions` executions under a profiler (`window` runs them and returns what it
    read): their clock, what was read, and the wall clock's offset from the step clock's
    (ns) to place the steps on the trace's time line."""
    clock = StepClock()
    wall_minus_perf_ns = time.time_ns() - time.perf_counter_ns()
    traced = window(lambda: trainer.fit(batches, executions, clock))
    return clock, traced, wall_minus_perf_ns


def annotated(batches: Any, backend: Any) -> Any:
    """The NumPy pipeline with each batch's gather inside the backend's profiler range
    `bench.input` (the same batches in the same order); tf.data's pipeline as it is."""
    if not isinstance(batches, NumpyBatches):
        return batches
    batches = copy.copy(batches)
    batches.annotate = functools.partial(backend.annotation, PROFILE_INPUT)
    return batches


def profile_phase(
    trainer: Any, batches: Any, steps: int, record: dict[str, Any], device: str = "cpu"
) -> None:
    """`steps` steps unprofiled, then `steps` under the backend's profiler, in the same loop
    and clock: the breakdown's columns (median ms per step), the two median steps and
    their ratio."""
    backend = runtime.for_backend()
    window = functools.partial(backend.profile_window, device=device)
    batches = annotated(batches, backend)
    # A first session's start-up (the tracer's threads and buffers) slows the steps it
    # records by up to 1.4× here; a short throw-away session takes it.
    _profiled_fit(trainer, batches, 1 + steps, window)
    unprofiled = StepClock()
    trainer.fit(batches, 1 + steps, unprofiled)  # the first gap is fit's own start: not a step
    profiled, traced, wall_minus_perf_ns = _profiled_fit(trainer, batches, 1 + steps, window)
    if len(traced["compute"]) == 0:
        raise RuntimeError(
            f"the profiler recorded no kernel in {steps} steps on {backends.current()}: "
            "run the trial in its own process (isolation=process) so that no other framework's "
            "profiler is loaded"
        )
    bounds = np.array(profiled.ends[1:], dtype=float) * 1e9 + wall_minus_perf_ns
    parts = step_parts(traced, bounds)
    typical = middle_steps(sum(parts.values()))
    for column, part in zip(COLUMNS, PARTS, strict=True):
        record[column] = float(np.mean(parts[part][typical]))
    record["prof_step_ms"] = float(np.mean(sum(parts.values())[typical]))
    record["prof_unprofiled_step_ms"] = float(np.median(unprofiled.gaps_ms()[1:]))
    record["prof_overhead"] = float(np.median(profiled.gaps_ms()[1:])) / record["prof_unprofiled_step_ms"]


def middle_steps(steps_ms: np.ndarray) -> np.ndarray:
    """The steps between the 25th and 75th percentile of their wall time: their parts' means
    add up to their mean step (medians of parts would not add up), and a step stalled by a
    garbage collection or a context switch is left out, as a median would leave it out."""
    low, high = np.percentile(steps_ms, [25, 75])
    return (steps_ms >= low) & (steps_ms <= high)


def first_execution_phase(build: Callable[[], Any], batches: Any, record: dict[str, Any]) -> None:
    """Two more models from `build` (the trial's style, this warm process) run their first
    execution: one unprofiled, then one under the profiler. Records `prof_first_step_ms` (the
    profiled one's wall time), FIRST_COLUMNS (its parts, which add up to it; see the module
    docstring), `prof_first_unprofiled_ms` and `prof_first_overhead` (profiled over unprofiled:
    the profiler's cost on a first execution, which records every op it creates)."""
    unprofiled = StepClock()
    build().fit(batches, 1, unprofiled)
    clock, space, wall_minus_perf_ns = _profiled_fit(build(), batches, 1, tensorflow_trace)
    start, end = np.array(clock.ends[:2], dtype=float) * 1e9 + wall_minus_perf_ns
    intervals = first_intervals(space)
    shares = partition(unions([intervals[kind] for kind in FIRST_PARTS[:-1]]), start, end)
    record.update(zip(FIRST_COLUMNS, shares, strict=True))
    record["prof_first_step_ms"] = (end - start) / 1e6
    record["prof_first_unprofiled_ms"] = float(unprofiled.gaps_ms()[0])
    record["prof_first_overhead"] = record["prof_first_step_ms"] / record["prof_first_unprofiled_ms"]
