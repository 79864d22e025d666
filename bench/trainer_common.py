"""What every trainer shares, below all of them (Keras's fit, the TensorFlow loop and the
JAX and torch floors): the labels as the outputs want them, the loss weights, the batches
and the injected slowdown. Framework-free."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.archs import ArchSpec, BranchedSpec, is_multi_output
from bench.config import TrainConfig
from bench.data import coarse_labels


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


class NumpyBatches:
    """The framework-free input pipeline: shuffled, repeated, fixed-size NumPy batches.

    The same order rules as the tf.data pipeline: a permutation of the whole set per pass
    (seeded, a new one each pass), batches that drop the remainder, and every new iterator
    starts from the seed again. Each batch is a fresh array (a gather), as tf.data's are.
    """

    def __init__(self, images: np.ndarray, labels: Any, batch_size: int, seed: int) -> None:
        self.images, self.labels, self.batch_size, self.seed = images, labels, batch_size, seed

    def _take(self, index: np.ndarray) -> tuple[np.ndarray, Any]:
        if isinstance(self.labels, dict):
            return self.images[index], {k: v[index] for k, v in self.labels.items()}
        return self.images[index], self.labels[index]

    def __iter__(self) -> Iterator[tuple[np.ndarray, Any]]:
        rng = np.random.default_rng(self.seed)
        per_pass = len(self.images) // self.batch_size
        while True:
            order = rng.permutation(len(self.images))
            for start in range(0, per_pass * self.batch_size, self.batch_size):
                yield self._take(order[start : start + self.batch_size])
