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
import glob
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import backends, runtime
from bench.runtime.common import PROFILE_INPUT, intervals
from bench.timing import StepClock
from bench.trainer_common import NumpyBatches

INPUT_OPS = {
    "IteratorGetNext", "IteratorGetNextSync", "IteratorGetNextAsOptional",
    "OptionalFromValue", "OptionalGetValue", "OptionalHasValue",
}  # fmt: skip
# An op kernel's event is named "op_name:OpType" (TensorFlow's TraceMe for an op); runtime events
# are "Class::Method", "EagerLocalExecute: Op" and the like.
OP_EVENT = re.compile(r"^[^:\s]+:([A-Za-z_][A-Za-z0-9_]*)$")
PARTS = ("compute", "input", "framework", "untraced")
FIRST_PARTS = ("trace", "instantiate", "xla", "rest")
FIRST_COLUMNS = {
    "prof_first_trace_ms": "graph building (profiled)",
    "prof_first_instantiate_ms": "graph optimisation and instantiation (profiled)",
    "prof_first_xla_ms": "XLA compilation (profiled)",
    "prof_first_rest_ms": "the first run and the rest (profiled)",
}
GRAPH_BUILDING = "tf.function-graph_building"
FUNCTION_CALL = "EagerLocalExecute: __inference_"
KERNELS_START = "EagerKernelExecute"
XLA_EVENT = re.compile(r"Compiler::|^HLO passes")
XLA_LINE = "tf_xla"
COLUMNS = {
    "prof_compute_ms": "op compute",
    "prof_input_ms": "input wait",
    "prof_framework_ms": "framework runtime",
    "prof_untraced_ms": "Python and idle (untraced)",
}


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


def _host_lines(space: Any) -> Any:
    """(plane, line, the line's start on the wall clock in ns) for every line of the host planes."""
    start_ns = _profile_start_ns(space)
    for plane in space.planes:
        if plane.name.startswith("/host:"):
            for line in plane.lines:
                yield plane, line, start_ns + line.timestamp_ns


def _events(plane: Any, line: Any, base_ns: float) -> Any:
    """(name, begin ns, end ns) of a line's events, on the wall clock."""
    for event in line.events:
        begin = base_ns + event.offset_ps / 1000.0
        yield plane.event_metadata[event.metadata_id].name, begin, begin + event.duration_ps / 1000.0


def trace_intervals(space: Any) -> dict[str, np.ndarray]:
    """The host plane's events by kind, as absolute wall-clock intervals in ns (epoch):
    compute, input and framework (see the module docstring)."""
    kinds: dict[str, list[tuple[float, float]]] = {kind: [] for kind in PARTS[:-1]}  # untraced: none
    for plane, line, base in _host_lines(space):
        if line.name.startswith("tf_data_iterator_resource"):
            continue  # tf.data's background producers: the step waits for them only through get-next
        for name, begin, end in _events(plane, line, base):
            kind = _kind(line.name, name)
            if kind is not None:
                kinds[kind].append((begin, end))
    return intervals(kinds)


def first_intervals(space: Any) -> dict[str, np.ndarray]:
    """A first execution's events by kind (trace, instantiate, xla; see the module docstring),
    as absolute wall-clock intervals in ns."""
    kinds: dict[str, list[tuple[float, float]]] = {kind: [] for kind in FIRST_PARTS[:-1]}  # rest: none
    for plane, line, base in _host_lines(space):
        events = sorted(_events(plane, line, base), key=lambda event: event[1])
        kernels = [begin for name, begin, _ in events if name == KERNELS_START]
        for name, begin, end in events:
            if name == GRAPH_BUILDING:
                kinds["trace"].append((begin, end))
            elif name.startswith(FUNCTION_CALL):
                started = [k for k in kernels if begin <= k <= end]
                if started:  # a call whose kernels never started cannot be split: left to the rest
                    kinds["instantiate"].append((begin, started[0]))
            elif XLA_EVENT.search(name) or line.name.startswith(XLA_LINE):
                kinds["xla"].append((begin, end))
    return intervals(kinds)


def _kind(line: str, name: str) -> str | None:
    if name.startswith("ThreadpoolListener"):
        return None  # markers of the thread pools' own bookkeeping, not work
    if line.startswith("tf_data_iterator_get_next") or name == PROFILE_INPUT:
        return "input"
    op = OP_EVENT.match(name)
    if op:
        return "input" if op[1] in INPUT_OPS else "compute"
    return "framework"


def _profile_start_ns(space: Any) -> int:
    """The profile's start on the wall clock: the events' offsets count from it."""
    for plane in space.planes:
        if plane.name == "Task Environment":
            for stat in plane.stats:
                if plane.stat_metadata[stat.metadata_id].name == "profile_start_time":
                    return int(stat.uint64_value or stat.int64_value)
    raise ValueError("the trace has no profile_start_time")


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


def read_space(folder: Path) -> Any:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(str(folder / "plugins" / "profile" / "*" / "*.xplane.pb")))
    if not paths:
        raise ValueError(f"TensorFlow's profiler wrote no trace under {folder}")
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(paths[-1]).read_bytes())
    return space


def tensorflow_trace(run: Callable[[], None], options: Any = None) -> Any:
    """`run()` under TensorFlow's profiler (host tracer level 2: every op): the parsed trace."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        tf.profiler.experimental.start(folder, options=options or _options())
        try:
            run()
        finally:
            tf.profiler.experimental.stop()
        return read_space(Path(folder))


def tensorflow_window(run: Callable[[], None]) -> dict[str, np.ndarray]:
    """TensorFlow's `profile_window` (bench/runtime/tensorflow_runtime.py): the trace's
    compute, input and framework events, as wall-clock intervals in ns."""
    return trace_intervals(tensorflow_trace(run))


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


def _options() -> Any:
    import tensorflow as tf

    return tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0)


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
