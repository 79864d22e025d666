"""Training and evaluation, written once for every style.

Keras styles train the way their users train them: `compile` + `fit`. The raw
style trains with a `tf.function` step over a `GradientTape`, with the same
loss, the same optimizer arithmetic and the same input pipeline. Both report
each step's end to a `StepClock`, after the step's result has been fetched,
so asynchronous work is inside the interval it belongs to.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy.special import log_softmax

from bench.archs import ArchSpec, BranchedSpec, is_multi_output
from bench.config import TrainConfig
from bench.data import coarse_labels
from bench.styles import KERAS_STYLES

OPTIMIZERS = ("adam", "sgd")


class StepClock:
    """Timestamps (perf_counter) of step ends; step times are the gaps between them."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def start(self) -> None:
        self.ends = [time.perf_counter()]

    def step_done(self) -> None:
        self.ends.append(time.perf_counter())

    def step_ms(self, steps_per_tick: int = 1) -> np.ndarray:
        """Milliseconds per step; one tick may cover several steps (steps_per_execution)."""
        return np.diff(np.asarray(self.ends)) * 1000.0 / steps_per_tick


class _ClockCallback(keras.callbacks.Callback):
    """Overriding on_train_batch_end makes Keras call it synchronously, with logs
    already converted to Python numbers: the step has finished when it runs."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__()
        self.clock = clock

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.clock.start()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.clock.step_done()


def targets(spec: ArchSpec, labels: np.ndarray, dataset: str) -> Any:
    """Labels as the model's outputs want them: an array, or the branched dict."""
    if is_multi_output(spec):
        return {"class": labels, "coarse": coarse_labels(labels, dataset)}
    return labels


def pipeline(images: np.ndarray, labels: Any, batch_size: int, seed: int) -> tf.data.Dataset:
    """The one input pipeline every style is fed: shuffled, repeated, fixed-size batches."""
    return (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def loss_weights(spec: ArchSpec) -> dict[str, float] | None:
    return {"class": 1.0, "coarse": spec.aux_loss_weight} if isinstance(spec, BranchedSpec) else None


class KerasTrainer:
    """compile + fit, with a callback that clocks every step."""

    def __init__(self, model: keras.Model, spec: ArchSpec, train: TrainConfig) -> None:
        self.model, self.spec, self.train = model, spec, train

    def compile(self) -> None:
        optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[self.train.optimizer]
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        weights = loss_weights(self.spec)
        self.model.compile(
            optimizer=optimizer(learning_rate=self.train.learning_rate),
            loss={name: loss for name in weights} if weights else loss,
            loss_weights=weights,
        )

    def fit(self, data: tf.data.Dataset, steps: int, clock: StepClock) -> None:
        self.model.fit(
            data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=[_ClockCallback(clock)]
        )


class RawTrainer:
    """A tf.function train step: GradientTape, then Keras's Adam (or SGD) arithmetic by hand."""

    def __init__(self, model: Any, spec: ArchSpec, train: TrainConfig) -> None:
        self.model, self.spec, self.train = model, spec, train

    def compile(self) -> None:
        variables = self.model.params
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.moments = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.velocities = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.step = tf.function(self._step)

    def _loss(self, images: tf.Tensor, labels: Any) -> tf.Tensor:
        outputs = self.model.forward(images)
        if not isinstance(outputs, dict):
            return _mean_cross_entropy(labels, outputs)
        weights = loss_weights(self.spec) or {}
        return tf.add_n([w * _mean_cross_entropy(labels[k], outputs[k]) for k, w in weights.items()])

    def _step(self, images: tf.Tensor, labels: Any) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = self._loss(images, labels)
        gradients = tape.gradient(loss, self.model.params)
        self.iterations.assign_add(1)
        if self.train.optimizer == "sgd":
            for variable, gradient in zip(self.model.params, gradients, strict=True):
                variable.assign_sub(self.train.learning_rate * gradient)
        else:
            self._adam(gradients)
        return loss

    def _adam(self, gradients: list[tf.Tensor], beta_1: float = 0.9, beta_2: float = 0.999) -> None:
        """keras.optimizers.Adam's update with its defaults (epsilon 1e-7), written out."""
        step = tf.cast(self.iterations, tf.float32)
        alpha = self.train.learning_rate * tf.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
        triples = zip(self.model.params, self.moments, self.velocities, strict=True)
        for (variable, m, v), gradient in zip(triples, gradients, strict=True):
            m.assign_add((gradient - m) * (1.0 - beta_1))
            v.assign_add((tf.square(gradient) - v) * (1.0 - beta_2))
            variable.assign_sub(alpha * m / (tf.sqrt(v) + 1e-7))

    def fit(self, data: tf.data.Dataset, steps: int, clock: StepClock) -> None:
        batches = iter(data)
        clock.start()
        for _ in range(steps):
            images, labels = next(batches)
            self.step(images, labels).numpy()  # fetch: the step has really finished
            clock.step_done()


def _mean_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    labels = tf.cast(labels, tf.int32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def trainer_for(style: str, model: Any, spec: ArchSpec, train: TrainConfig) -> KerasTrainer | RawTrainer:
    if train.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {train.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return (KerasTrainer if style in KERAS_STYLES else RawTrainer)(model, spec, train)


def predict_logits(model: Any, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """Direct model calls in batches, the same for every style; always a dict of outputs."""
    chunks: list[dict[str, np.ndarray]] = []
    for start in range(0, len(images), batch_size):
        outputs = model(images[start : start + batch_size])
        outputs = outputs if isinstance(outputs, dict) else {"class": outputs}
        chunks.append({name: np.asarray(value) for name, value in outputs.items()})
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}


def evaluate(model: Any, images: np.ndarray, labels: Any, batch_size: int) -> dict[str, float]:
    """Accuracy and mean cross-entropy per output, computed outside Keras for every style."""
    logits = predict_logits(model, images, batch_size)
    wanted = labels if isinstance(labels, dict) else {"class": labels}
    scores: dict[str, float] = {}
    for name, head_logits in logits.items():
        truth = np.asarray(wanted[name]).astype(np.int64)
        prefix = "test" if name == "class" else f"{name}_test"
        scores[f"{prefix}_accuracy"] = float(np.mean(head_logits.argmax(axis=1) == truth))
        scores[f"{prefix}_loss"] = float(
            -np.mean(log_softmax(head_logits, axis=1)[np.arange(len(truth)), truth])
        )
    return scores
