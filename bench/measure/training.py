"""Training and evaluation, written once for every style and backend.

Two loops (`train.loop`): `fit` trains Keras styles the way their users
train them, `compile` + `fit`, on any backend; `custom` trains any style in
the TensorFlow floor's hand-written loop (bench/styles/raw/tensorflow_floor.py:
an outer `tf.function` pulls batches and runs a step over a `GradientTape`,
compiled as the XLA toggle says, with Keras's Adam arithmetic written out).
The raw style has no `fit` and always trains in its backend floor's own loop
(bench/styles/raw/). Same loss, same optimizer arithmetic, same input pipeline.
Every trainer reports each execution's end to a `StepClock` after its result has
been fetched, so asynchronous work (JAX dispatch, a GPU) is inside the interval
it belongs to.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import keras
import numpy as np
from scipy.special import log_softmax

from bench import runtime
from bench.archs import ArchSpec
from bench.config import HardwareConfig, RunConfig, TrainConfig
from bench.runtime import host
from bench.styles import KERAS_STYLES, predict_logits, raw
from bench.styles.trainer_common import NumpyBatches, TraceCounter, burn, execution_delay_s, loss_weights
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


class _DelayCallback(keras.callbacks.Callback):
    """Burns time before every execution: an injected slowdown inside the timed interval."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        burn(self.delay_s)


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


def pipeline_kind(config: RunConfig) -> str:
    """The input pipeline a trial uses: `train.pipeline`, with auto meaning tf.data on the
    tensorflow backend and the framework-free NumPy pipeline on any other."""
    if config.train.pipeline != "auto":
        return config.train.pipeline
    return runtime.for_backend(config.backend).PIPELINE


def pipeline(
    images: np.ndarray,
    labels: Any,
    batch_size: int,
    seed: int,
    kind: str = "tfdata",
    keep_partial: bool = False,
) -> Any:
    """The one input pipeline every style of a trial is fed: shuffled, repeated, fixed-size
    batches, from tf.data (`tfdata`) or from NumPy (`numpy`, bench/styles/trainer_common.py).

    Primed before it is returned (one iterator run to its first batch), so the process's
    first-iterator costs (18-34 ms here for tf.data, against 6-8 ms for a later one) fall
    on no clock. Each fit (and each loop's fit) still opens its own iterator inside its
    first interval, as Keras's fit must: the same few ms of shuffle-buffer fill for every style.
    `keep_partial` (train.vary_batch) keeps each pass's last, smaller batch.

    A batch larger than the training set is refused: a pass would hold no full batch, so the
    NumPy pipeline would wait forever for one and tf.data would end empty."""
    if batch_size > len(images):
        raise ValueError(
            f"train.batch_size={batch_size} exceeds the {len(images):,} training samples; "
            "use a smaller train.batch_size, or more data (data=mnist, data.max_train_samples)"
        )
    if kind == "numpy":
        batches = NumpyBatches(images, labels, batch_size, seed, keep_partial)
        next(iter(batches))
        return batches
    import tensorflow as tf

    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=not keep_partial)
        .prefetch(tf.data.AUTOTUNE)
    )
    next(iter(dataset))
    return dataset


def pipeline_for(config: RunConfig, arrays: tuple[np.ndarray, Any]) -> Any:
    """A trial's pipeline over (images, labels): its batch size, seed and pipeline kind."""
    train = config.train
    return pipeline(*arrays, train.batch_size, train.seed, pipeline_kind(config), train.vary_batch)


def _fit_input(data: Any) -> Any:
    """What Keras's fit takes: a tf.data dataset as it is, the NumPy pipeline as a new
    generator (Keras wraps it in its generator adapter on every backend)."""
    return iter(data) if isinstance(data, NumpyBatches) else data


class KerasTrainer:
    """compile + fit, with callbacks that clock every execution and every epoch."""

    def __init__(
        self, model: keras.Model, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig
    ) -> None:
        self.model, self.spec, self.train, self.hardware = model, spec, train, hardware
        # Keras compiles train_step with tf.function (tensorflow) or jax.jit (jax); torch runs it
        # eagerly unless torch.compile'd, and torch.compile's traces are not Python calls.
        traced = runtime.for_backend().TRACES_TRAIN_STEP and not train.run_eagerly
        self.trace_counter = TraceCounter(compiled=traced)
        model.train_step = self.trace_counter.wrap(model.train_step)

    def traces(self) -> int | None:
        return self.trace_counter.traces

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

    def fit(self, data: Any, executions: int, clock: StepClock) -> None:
        steps = executions * self.train.steps_per_execution
        callbacks: list[keras.callbacks.Callback] = [_StepCallback(clock)]
        if self.train.inject_delay_ms > 0:
            callbacks.insert(0, _DelayCallback(execution_delay_s(self.train)))
        self.model.fit(
            _fit_input(data), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=callbacks
        )

    def fit_epochs(self, data: Any, steps_per_epoch: int, epochs: int) -> list[float]:
        """Seconds per epoch; no per-step callback, so Keras dispatches steps asynchronously
        (unless a slowdown is injected, which needs a per-step hook)."""
        seconds: list[float] = []
        callbacks: list[keras.callbacks.Callback] = [_EpochCallback(seconds)]
        if self.train.inject_delay_ms > 0:
            callbacks.insert(0, _DelayCallback(execution_delay_s(self.train)))
        self.model.fit(
            _fit_input(data),
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
        return seconds


def run_one_execution(trainer: Any, iterator: Any) -> Any:
    """One call of the compiled train function, fetched: a steady step without fit's loop
    (Keras's `model.train_function` as its fit calls it on each backend, bench/runtime, or
    the loop's execution). Keras builds `train_function` at the first fit, so call fit once
    before this, and `end_executions` after the last call."""
    if not isinstance(trainer, KerasTrainer):
        return host(trainer.execution(iterator))
    logs = runtime.for_backend().train_function_step(trainer, iterator)
    return {name: host(value) for name, value in logs.items()}


def end_executions(trainer: Any) -> None:
    """Hand the state `run_one_execution` threaded (on JAX) back to the model's variables."""
    runtime.for_backend().end_train_function_steps(trainer)


def trainer_for(style: str, model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> Any:
    """`fit` for a Keras style in the fit loop; the raw floor's own loop for raw, and (on
    TensorFlow) for a Keras style in train.loop=custom. Raises NotExpressible when the
    backend's floor cannot train this model."""
    if train.inject_into and train.inject_into != style:  # the fake slowdown goes to one style only
        train = dataclasses.replace(train, inject_delay_ms=0.0)
    if style in KERAS_STYLES and train.loop == "fit":
        return KerasTrainer(model, spec, train, hardware)
    return raw.trainer(model, spec, train, hardware)


def jit_compile_resolved(trainer: Any) -> str:
    """How the train step really ran, read back from the trainer: `xla` (TensorFlow's
    jit_compile, or jax.jit), `torch.compile`, `graph` (a tf.function without XLA) or `eager`."""
    compiled = bool(trainer.model.jit_compile if isinstance(trainer, KerasTrainer) else trainer.jit_compile)
    backend = runtime.for_backend()
    if compiled:
        return backend.COMPILED
    eager = trainer.model.run_eagerly if isinstance(trainer, KerasTrainer) else trainer.train.run_eagerly
    return "eager" if eager else backend.NOT_COMPILED


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
