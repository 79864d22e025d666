"""TensorFlow's profiler, read: a trace (an XSpace protobuf, `*.xplane.pb`) of a window of
steps or of a first execution, its host events sorted into the kinds the step breakdown
partitions a step by (bench/measure/profile.py says what each kind means).

A steady step's events: **compute**, an op kernel's event (named `op:type`, any thread,
except the input ops); **input**, tf.data's get-next (`IteratorGetNext`, the iterator's
optional ops, its get-next thread) or the NumPy pipeline's `bench.input` range; every
other event is **framework** (eager dispatch, the function call, the executor).

A first execution's events: **trace**, TensorFlow's graph-building events; **instantiate**,
inside the function call, the time before its kernels start (Grappler, placement,
partitioning); **xla**, the XLA compiler's own events.
"""

from __future__ import annotations

import glob
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.runtime.common import PROFILE_INPUT, TRACE_KINDS, intervals

FIRST_KINDS = ("trace", "instantiate", "xla")  # a first execution's traced kinds; the rest is the rest

INPUT_OPS = {
    "IteratorGetNext", "IteratorGetNextSync", "IteratorGetNextAsOptional",
    "OptionalFromValue", "OptionalGetValue", "OptionalHasValue",
}  # fmt: skip
# An op kernel's event is named "op_name:OpType" (TensorFlow's TraceMe for an op); runtime events
# are "Class::Method", "EagerLocalExecute: Op" and the like.
OP_EVENT = re.compile(r"^[^:\s]+:([A-Za-z_][A-Za-z0-9_]*)$")
GRAPH_BUILDING = "tf.function-graph_building"
FUNCTION_CALL = "EagerLocalExecute: __inference_"
KERNELS_START = "EagerKernelExecute"
XLA_EVENT = re.compile(r"Compiler::|^HLO passes")
XLA_LINE = "tf_xla"


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
    kinds: dict[str, list[tuple[float, float]]] = {kind: [] for kind in TRACE_KINDS}  # untraced: none
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
    kinds: dict[str, list[tuple[float, float]]] = {kind: [] for kind in FIRST_KINDS}  # rest: none
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


def _options() -> Any:
    import tensorflow as tf

    return tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0)
