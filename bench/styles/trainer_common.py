"""What every trainer shares, below all of them (Keras's fit, the TensorFlow loop and the
JAX and torch floors): the labels as the outputs want them, the loss weights, the batches
and the injected slowdown. Framework-free."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.archs import ArchSpec, BranchedSpec, is_multi_output
from bench.config import TrainConfig
from bench.data import coarse_labels
from bench.timing import StepClock


def targets(spec: ArchSpec, labels: np.ndarray, dataset: str) -> Any:
    """Labels as the model's outputs want them: an array, or the branched dict."""
    if is_multi_output(spec):
        return {"class": labels, "coarse": coarse_labels(labels, dataset)}
    return labels


def loss_weights(spec: ArchSpec) -> dict[str, float] | None:
    return {"class": 1.0, "coarse": spec.aux_loss_weight} if isinstance(spec, BranchedSpec) else None


def burn(seconds: float) -> None:
    """Keep this thread busy for `seconds`: the injected slowdown. Not time.sleep: a sleep lets
    the runtime's threads go idle and costs more than it says (0.2 ms of sleep added 0.63 ms to
    a 2.3 ms mlp step here), while a busy wait costs what it says, as slower code would."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def execution_delay_s(train: TrainConfig) -> float:
    """The injected delay for one execution: inject_delay_ms for each of its steps."""
    return train.inject_delay_ms * train.steps_per_execution / 1000.0


def graph_ops_now() -> int | None:
    """Operations in the TensorFlow graph being traced at this moment (the train step's inputs,
    forward, gradients and optimizer update), or None outside a TensorFlow trace (JAX, eager)."""
    tf = sys.modules.get("tensorflow")
    if tf is None or not tf.inside_function():
        return None
    return len(tf.compat.v1.get_default_graph().get_operations())


class TraceCounter:
    """How many times a compiler traced a step function: the Python body of a function under
    `tf.function` or `jax.jit` runs once per trace (and never for a cached graph), so a
    counting wrapper around it counts traces. `traces` is None for a step nobody compiles
    (eager execution runs the body every step)."""

    def __init__(self, compiled: bool) -> None:
        self.count = 0
        self.seconds = 0.0  # spent in the Python body while it was traced
        self.compiled = compiled
        self.graph_ops: int | None = None  # ops in the TensorFlow graph the last trace built

    @property
    def traces(self) -> int | None:
        return self.count if self.compiled else None

    @property
    def trace_ms(self) -> float | None:
        """Milliseconds spent running the step's Python body to trace it (building the graph
        or the jaxpr), over all traces so far; not the framework's own work around it
        (function setup, graph optimisation, XLA compilation). None where nothing compiles."""
        return self.seconds * 1000.0 if self.compiled else None

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.graph_ops = graph_ops_now()

        return counted


class NumpyBatches:
    """The framework-free input pipeline: shuffled, repeated, fixed-size NumPy batches.

    The same order rules as the tf.data pipeline: a permutation of the whole set per pass
    (seeded, a new one each pass), batches that drop the remainder (or, with `keep_partial`,
    end each pass with the smaller last batch: a new input shape once per pass), and every
    new iterator starts from the seed again. Each batch is a fresh array (a gather), as
    tf.data's are. With `annotate` set (a context manager factory: the step breakdown's
    profiler range, bench/measure/profile.py), each gather runs inside it.
    """

    annotate: Callable[[], Any] | None = None

    def __init__(
        self, images: np.ndarray, labels: Any, batch_size: int, seed: int, keep_partial: bool = False
    ) -> None:
        self.images, self.labels, self.batch_size, self.seed = images, labels, batch_size, seed
        self.keep_partial = keep_partial

    def _take(self, index: np.ndarray) -> tuple[np.ndarray, Any]:
        if self.annotate is not None:
            with self.annotate():
                return self._gather(index)
        return self._gather(index)

    def _gather(self, index: np.ndarray) -> tuple[np.ndarray, Any]:
        if isinstance(self.labels, dict):
            return self.images[index], {k: v[index] for k, v in self.labels.items()}
        return self.images[index], self.labels[index]

    def __iter__(self) -> Iterator[tuple[np.ndarray, Any]]:
        rng = np.random.default_rng(self.seed)
        end = len(self.images) if self.keep_partial else len(self.images) // self.batch_size * self.batch_size
        while True:
            order = rng.permutation(len(self.images))
            for start in range(0, end, self.batch_size):
                yield self._take(order[start : start + self.batch_size])


class LoopDriver:
    """`fit` and `fit_epochs` for a hand-written loop (every raw floor's trainer), the same
    on every backend: a subclass gives `execution(iterator)` (one execution, which may
    return before its work is done), `fetch(value)` (waits for it, on the host) and, if its
    loop needs another kind of iterator, `iterate(data)`."""

    train: TrainConfig

    def execution(self, iterator: Any) -> Any:
        raise NotImplementedError

    def fetch(self, value: Any) -> Any:
        return np.asarray(value)

    def traces(self) -> int | None:
        """How often the step was traced (a floor that compiles sets `trace_counter`)."""
        counter = getattr(self, "trace_counter", None)
        return None if counter is None else counter.traces

    def iterate(self, data: Any) -> Iterator[Any]:
        return iter(data)

    def fit(self, data: Any, executions: int, clock: StepClock) -> None:
        clock.start()
        iterator = self.iterate(data)  # inside the first interval, where Keras's fit opens its iterator
        delay_s = execution_delay_s(self.train)
        for _ in range(executions):
            if delay_s:
                burn(delay_s)
            self.fetch(self.execution(iterator))  # the execution has really finished
            clock.tick()

    def fit_epochs(self, data: Any, steps_per_epoch: int, epochs: int) -> list[float]:
        iterator = self.iterate(data)
        seconds = []
        delay_s = execution_delay_s(self.train)
        for _ in range(epochs):
            started = time.perf_counter()
            for _ in range(steps_per_epoch // self.train.steps_per_execution):
                if delay_s:
                    burn(delay_s)
                loss = self.execution(iterator)
            self.fetch(loss)
            seconds.append(time.perf_counter() - started)
        return seconds


def save_arrays(weights: list[np.ndarray], folder: Path) -> Path:
    """A floor's weights as one NumPy .npz file (no pickle)."""
    path = folder / "weights.npz"
    np.savez(path, *weights)
    return path


def load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]
