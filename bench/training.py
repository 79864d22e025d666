"""Training and evaluation, written once for every style.

Two loops (`train.loop`): `fit` trains Keras styles the way their users
train them, `compile` + `fit`; `custom` trains any style in one hand-written
loop (`LoopTrainer`): an outer `tf.function` pulls batches and runs a step
over a `GradientTape`, compiled as the XLA toggle says, with Keras's Adam
arithmetic written out. The raw style has no `fit` and always trains in the
custom loop. Same loss, same optimizer arithmetic, same input pipeline. Both
report each execution's end to a `StepClock` after its result has been
fetched, so asynchronous work is inside the interval it belongs to.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy.special import log_softmax

from bench.archs import ArchSpec, BranchedSpec, is_multi_output
from bench.config import HardwareConfig, TrainConfig
from bench.data import coarse_labels
from bench.styles import KERAS_STYLES
from bench.timing import StepClock


class _StepCallback(keras.callbacks.Callback):
    """Overriding on_train_batch_end makes Keras call it synchronously, with logs
    already converted to Python numbers: the execution has finished when it runs."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__()
        self.clock = clock

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.clock.start()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.clock.tick()


def burn(seconds: float) -> None:
    """Keep this thread busy for `seconds`: the injected slowdown. Not time.sleep: a sleep lets
    the runtime's threads go idle and costs more than it says (0.2 ms of sleep added 0.63 ms to
    a 2.3 ms mlp step here), while a busy wait costs what it says, as slower code would."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _DelayCallback(keras.callbacks.Callback):
    """Burns time before every execution: an injected slowdown inside the timed interval."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        burn(self.delay_s)


def execution_delay_s(train: TrainConfig) -> float:
    """The injected delay for one execution: inject_delay_ms for each of its steps."""
    return train.inject_delay_ms * train.steps_per_execution / 1000.0


class _EpochCallback(keras.callbacks.Callback):
    """Seconds per epoch; Keras fetches the epoch's logs before on_epoch_end."""

    def __init__(self, seconds: list[float]) -> None:
        super().__init__()
        self.seconds = seconds
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def targets(spec: ArchSpec, labels: np.ndarray, dataset: str) -> Any:
    """Labels as the model's outputs want them: an array, or the branched dict."""
    if is_multi_output(spec):
        return {"class": labels, "coarse": coarse_labels(labels, dataset)}
    return labels


def pipeline(images: np.ndarray, labels: Any, batch_size: int, seed: int) -> tf.data.Dataset:
    """The one input pipeline every style is fed: shuffled, repeated, fixed-size batches.

    Primed before it is returned (one iterator run to its first batch), so the process's
    first-iterator costs (18-34 ms here, against 6-8 ms for a later one) fall on no clock.
    Each fit (and each LoopTrainer.fit) still opens its own iterator inside its first
    interval, as Keras's fit must: the same few ms of shuffle-buffer fill for every style."""
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    next(iter(dataset))
    return dataset


def loss_weights(spec: ArchSpec) -> dict[str, float] | None:
    return {"class": 1.0, "coarse": spec.aux_loss_weight} if isinstance(spec, BranchedSpec) else None


class KerasTrainer:
    """compile + fit, with callbacks that clock every execution and every epoch."""

    def __init__(
        self, model: keras.Model, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig
    ) -> None:
        self.model, self.spec, self.train, self.hardware = model, spec, train, hardware

    def compile(self) -> None:
        optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[self.train.optimizer]
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        weights = loss_weights(self.spec)
        self.model.compile(
            optimizer=optimizer(learning_rate=self.train.learning_rate),
            loss={name: loss for name in weights} if weights else loss,
            loss_weights=weights,
            jit_compile=self.hardware.xla,
            run_eagerly=self.train.run_eagerly,
            steps_per_execution=self.train.steps_per_execution,
        )

    def fit(self, data: tf.data.Dataset, executions: int, clock: StepClock) -> None:
        steps = executions * self.train.steps_per_execution
        callbacks: list[keras.callbacks.Callback] = [_StepCallback(clock)]
        if self.train.inject_delay_ms > 0:
            callbacks.insert(0, _DelayCallback(execution_delay_s(self.train)))
        self.model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)

    def fit_epochs(self, data: tf.data.Dataset, steps_per_epoch: int, epochs: int) -> list[float]:
        """Seconds per epoch; no per-step callback, so Keras dispatches steps asynchronously
        (unless a slowdown is injected, which needs a per-step hook)."""
        seconds: list[float] = []
        callbacks: list[keras.callbacks.Callback] = [_EpochCallback(seconds)]
        if self.train.inject_delay_ms > 0:
            callbacks.insert(0, _DelayCallback(execution_delay_s(self.train)))
        self.model.fit(
            data,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
        return seconds


class LossScale:
    """Dynamic loss scaling as Keras's LossScaleOptimizer does it for float16:
    start at 2**15, halve on non-finite gradients (skipping the step), double
    after 2,000 finite steps in a row."""

    def __init__(self, initial: float = 2.0**15, growth_steps: int = 2000) -> None:
        self.value = tf.Variable(initial, trainable=False)
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.growth_steps = growth_steps

    def scale(self, loss: tf.Tensor) -> tf.Tensor:
        return loss * self.value

    def unscale(self, gradients: list[tf.Tensor]) -> tuple[list[tf.Tensor], tf.Tensor]:
        unscaled = [g / self.value for g in gradients]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in unscaled])
        grow = tf.logical_and(finite, self.good_steps + 1 >= self.growth_steps)
        zero = tf.constant(0, tf.int64)
        self.good_steps.assign(tf.where(finite, tf.where(grow, zero, self.good_steps + 1), zero))
        self.value.assign(tf.where(finite, tf.where(grow, self.value * 2.0, self.value), self.value / 2.0))
        return unscaled, finite


class LoopTrainer:
    """A train step over a GradientTape with Keras's Adam (or SGD) arithmetic by hand.

    Mirrors Keras's structure: the step itself may be XLA-compiled, and an outer
    tf.function pulls `steps_per_execution` batches from the iterator and runs it.
    The same loop for the raw model (its `forward` and `params`) and for a Keras
    model (`model(x, training=True)` and its trainable variables).
    """

    def __init__(self, model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> None:
        self.model, self.spec, self.train, self.hardware = model, spec, train, hardware
        if isinstance(model, keras.Model):
            self.forward = functools.partial(model.__call__, training=True)
            self.params = list(model.trainable_variables)
        else:
            self.forward, self.params = model.forward, model.params

    def compile(self) -> None:
        variables = self.params
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.moments = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]
        self.velocities = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]
        self.loss_scale = LossScale() if self.hardware.precision == "mixed_float16" else None
        if self.train.run_eagerly:
            self.one_step, self.execution = self._step, self._execution
        else:
            # Plain Python loops over constants: nothing for autograph to convert, so skip it.
            self.one_step = tf.function(self._step, jit_compile=self.hardware.xla, autograph=False)
            self.execution = tf.function(self._execution, autograph=False)

    def _loss(self, images: tf.Tensor, labels: Any) -> tf.Tensor:
        outputs = self.forward(images)
        if not isinstance(outputs, dict):
            return _mean_cross_entropy(labels, outputs)
        weights = loss_weights(self.spec) or {}
        return tf.add_n([w * _mean_cross_entropy(labels[k], outputs[k]) for k, w in weights.items()])

    def _step(self, images: tf.Tensor, labels: Any) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = self._loss(images, labels)
            scaled = self.loss_scale.scale(loss) if self.loss_scale else loss
        gradients = tape.gradient(scaled, self.params)
        if self.loss_scale:
            gradients, finite = self.loss_scale.unscale(gradients)
            tf.cond(finite, lambda: self._apply(gradients), tf.no_op)
        else:
            self._apply(gradients)
        return loss

    def _apply(self, gradients: list[tf.Tensor]) -> tf.Operation:
        self.iterations.assign_add(1)
        if self.train.optimizer == "sgd":
            for variable, gradient in zip(self.params, gradients, strict=True):
                variable.assign_sub(self.train.learning_rate * gradient)
        else:
            self._adam(gradients)
        return tf.no_op()

    def _adam(self, gradients: list[tf.Tensor], beta_1: float = 0.9, beta_2: float = 0.999) -> None:
        """keras.optimizers.Adam's update with its defaults (epsilon 1e-7), written out."""
        step = tf.cast(self.iterations, tf.float32)
        alpha = self.train.learning_rate * tf.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
        triples = zip(self.params, self.moments, self.velocities, strict=True)
        for (variable, m, v), gradient in zip(triples, gradients, strict=True):
            m.assign_add((gradient - m) * (1.0 - beta_1))
            v.assign_add((tf.square(gradient) - v) * (1.0 - beta_2))
            variable.assign_sub(alpha * m / (tf.sqrt(v) + 1e-7))

    def _execution(self, iterator: Any) -> tf.Tensor:
        loss = tf.constant(0.0)
        for _ in range(self.train.steps_per_execution):
            images, labels = next(iterator)
            loss = self.one_step(images, labels)
        return loss

    def fit(self, data: tf.data.Dataset, executions: int, clock: StepClock) -> None:
        clock.start()
        iterator = iter(data)  # inside the first interval, where Keras's fit opens its iterator
        delay_s = execution_delay_s(self.train)
        for _ in range(executions):
            if delay_s:
                burn(delay_s)
            self.execution(iterator).numpy()  # fetch: the execution has really finished
            clock.tick()

    def fit_epochs(self, data: tf.data.Dataset, steps_per_epoch: int, epochs: int) -> list[float]:
        iterator = iter(data)
        seconds = []
        delay_s = execution_delay_s(self.train)
        for _ in range(epochs):
            started = time.perf_counter()
            for _ in range(steps_per_epoch // self.train.steps_per_execution):
                if delay_s:
                    burn(delay_s)
                loss = self.execution(iterator)
            np.asarray(loss)
            seconds.append(time.perf_counter() - started)
        return seconds


def run_one_execution(trainer: KerasTrainer | LoopTrainer, iterator: Any) -> Any:
    """One call of the compiled train function, fetched: a steady step without fit's loop.
    Keras builds `model.train_function` at the first fit, so call fit once before this."""
    if isinstance(trainer, KerasTrainer):
        return {name: np.asarray(value) for name, value in trainer.model.train_function(iterator).items()}
    return trainer.execution(iterator).numpy()


def _mean_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    labels = tf.cast(labels, tf.int32)
    logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def trainer_for(
    style: str, model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig
) -> KerasTrainer | LoopTrainer:
    """`fit` for a Keras style in the fit loop; the custom loop for raw and for train.loop=custom."""
    if train.inject_into and train.inject_into != style:  # the fake slowdown goes to one style only
        train = dataclasses.replace(train, inject_delay_ms=0.0)
    fits = style in KERAS_STYLES and train.loop == "fit"
    return (KerasTrainer if fits else LoopTrainer)(model, spec, train, hardware)


def predict_logits(model: Any, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """Direct model calls in batches, the same for every style; always a dict of float32 outputs."""
    chunks: list[dict[str, np.ndarray]] = []
    for start in range(0, len(images), batch_size):
        outputs = model(images[start : start + batch_size])
        outputs = outputs if isinstance(outputs, dict) else {"class": outputs}
        chunks.append({name: np.asarray(value, dtype=np.float32) for name, value in outputs.items()})
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
