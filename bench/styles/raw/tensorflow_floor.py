"""The raw style on TensorFlow: `tf.Variable` weights in a `tf.Module`, the forward pass a
`tf.function`, trained by `LoopTrainer` (a GradientTape step, Keras's Adam written out),
saved as a SavedModel.

No Keras at all: the floor that shows what Keras itself costs. Weights are
created eagerly at construction, in the canonical order of `bench.archs`.
The same loop also trains a Keras model (`train.loop=custom` on TensorFlow).

Initial values follow the draw Keras makes for a layer given no seed: each
kernel takes an integer seed from Python's `random` module and is filled by a
stateless glorot-uniform draw from it; biases start at zero. Seeding Python's
`random` (as `keras.utils.set_random_seed` does) therefore gives the raw model
the same initial weights as the Keras styles, which `bench.styles.verify` checks.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from bench.archs import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    ArchSpec,
    BranchedSpec,
    CnnSpec,
    MlpSpec,
    RecurrentSpec,
    ResidualSpec,
    SharedSpec,
)  # fmt: skip
from bench.config import HardwareConfig, TrainConfig
from bench.styles.raw import derived
from bench.styles.trainer_common import LoopDriver, NumpyBatches, TraceCounter, loss_weights

Layer = tuple[tf.Variable, tf.Variable]

# Python's `random.randint(1, 1e9)`, the integer seed Keras draws for an unseeded initializer.
_SEED_RANGE = (1, int(1e9))


class Params:
    """Creates kernel/bias pairs in call order and remembers that order."""

    def __init__(self) -> None:
        self.variables: list[tf.Variable] = []

    def _pair(self, kernel_shape: tuple[int, ...], fan_in: int, fan_out: int) -> Layer:
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        seed = tf.constant([random.randint(*_SEED_RANGE), 0], dtype=tf.int32)
        kernel = tf.random.stateless_uniform(kernel_shape, seed=seed, minval=-limit, maxval=limit)
        pair = (tf.Variable(kernel, name="kernel"), tf.Variable(tf.zeros(kernel_shape[-1]), name="bias"))
        self.variables += pair
        return pair

    def dense(self, units_in: int, units_out: int) -> Layer:
        return self._pair((units_in, units_out), units_in, units_out)

    def lstm(self, features: int, units: int) -> tuple[tf.Variable, tf.Variable, tf.Variable]:
        """Keras's LSTM draw: the kernel's and the recurrent kernel's seeds in that order (then
        the dropout generator's), a
        glorot-uniform kernel, an orthogonal recurrent kernel (a stateless normal draw, its
        reduced QR's Q signed by R's diagonal, transposed), ones for the forget gate's bias."""
        gates = 4 * units
        kernel_seed = tf.constant([random.randint(*_SEED_RANGE), 0], dtype=tf.int32)
        recurrent_seed = tf.constant([random.randint(*_SEED_RANGE), 0], dtype=tf.int32)
        random.randint(*_SEED_RANGE)  # the cell's dropout seed generator takes one (unused here)
        limit = math.sqrt(6.0 / (features + gates))
        kernel = tf.random.stateless_uniform((features, gates), seed=kernel_seed, minval=-limit, maxval=limit)
        q, r = tf.linalg.qr(
            tf.random.stateless_normal((gates, units), seed=recurrent_seed), full_matrices=False
        )
        recurrent = tf.transpose(q * tf.sign(tf.linalg.diag_part(r)))
        bias = tf.constant([0.0] * units + [1.0] * units + [0.0] * (2 * units))
        cell = (
            tf.Variable(kernel, name="kernel"),
            tf.Variable(recurrent, name="recurrent_kernel"),
            tf.Variable(bias, name="bias"),
        )
        self.variables += cell
        return cell

    def conv(self, kernel_size: int, channels_in: int, filters: int) -> Layer:
        area = kernel_size * kernel_size
        shape = (kernel_size, kernel_size, channels_in, filters)
        return self._pair(shape, area * channels_in, area * filters)


class RawModel(tf.Module):
    """A forward function over an ordered list of variables, with Keras-like accessors."""

    built = True

    def __init__(self, params: Params, forward: Callable[[tf.Tensor], Any], name: str) -> None:
        super().__init__(name=name)
        self.params = params.variables
        # float32 weights always; float16/bfloat16 compute under a mixed precision setting.
        # Read when the forward pass is first traced, so set it before the first call.
        self.compute_dtype = tf.float32

        def mixed_forward(images: tf.Tensor) -> Any:
            outputs = forward(tf.cast(images, self.compute_dtype))
            return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), outputs)

        signature = [tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32)]
        self.forward = tf.function(mixed_forward, input_signature=signature)

    def __call__(self, images: Any) -> Any:
        return self.forward(tf.convert_to_tensor(images, dtype=tf.float32))

    def eager_forward(self) -> Callable[[Any], Any]:
        """The forward pass run eagerly, not through its tf.function."""
        return self.forward.python_function

    def get_weights(self) -> list[np.ndarray]:
        return [variable.numpy() for variable in self.params]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        if len(weights) != len(self.params):
            raise ValueError(f"expected {len(self.params)} weight arrays, got {len(weights)}")
        for variable, value in zip(self.params, weights, strict=True):
            variable.assign(value)

    def count_params(self) -> int:
        return sum(int(np.prod(variable.shape)) for variable in self.params)


def dense(x: tf.Tensor, layer: Layer) -> tf.Tensor:
    kernel, bias = layer
    return tf.matmul(x, tf.cast(kernel, x.dtype)) + tf.cast(bias, x.dtype)


def conv(x: tf.Tensor, layer: Layer) -> tf.Tensor:
    kernel, bias = layer
    return tf.nn.conv2d(x, tf.cast(kernel, x.dtype), strides=1, padding="VALID") + tf.cast(bias, x.dtype)


def max_pool(x: tf.Tensor, size: int) -> tf.Tensor:
    return tf.nn.max_pool2d(x, size, strides=size, padding="VALID")


def flatten(x: tf.Tensor) -> tf.Tensor:
    return tf.reshape(x, (-1, math.prod(x.shape[1:])))


def mlp(spec: MlpSpec) -> RawModel:
    params = Params()
    hidden = params.dense(math.prod(IMAGE_SHAPE), spec.hidden_units)
    classifier = params.dense(spec.hidden_units, NUM_CLASSES)

    def forward(images: tf.Tensor) -> tf.Tensor:
        return dense(tf.nn.relu(dense(flatten(images), hidden)), classifier)

    return RawModel(params, forward, "raw_mlp")


def cnn(spec: CnnSpec) -> RawModel:
    params = Params()
    channels = [IMAGE_SHAPE[-1], *spec.filters]
    convs = [
        params.conv(spec.kernel_size, c_in, c_out)
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
    ]
    classifier = params.dense(spec.flat_features(), NUM_CLASSES)

    def forward(images: tf.Tensor) -> tf.Tensor:
        x = images
        for layer in convs:
            x = tf.nn.relu(conv(x, layer))
            x = max_pool(x, spec.pool_size)
        return dense(flatten(x), classifier)

    return RawModel(params, forward, "raw_cnn")


def branched(spec: BranchedSpec) -> RawModel:
    params = Params()
    trunk = params.dense(math.prod(IMAGE_SHAPE), spec.trunk_units)
    class_hidden = params.dense(spec.trunk_units, spec.head_units)
    class_logits = params.dense(spec.head_units, NUM_CLASSES)
    coarse = params.dense(spec.trunk_units, spec.coarse_classes)

    def forward(images: tf.Tensor) -> dict[str, tf.Tensor]:
        features = tf.nn.relu(dense(flatten(images), trunk))
        return {
            "class": dense(tf.nn.relu(dense(features, class_hidden)), class_logits),
            "coarse": dense(features, coarse),
        }

    return RawModel(params, forward, "raw_branched")


def residual(spec: ResidualSpec) -> RawModel:
    params = Params()
    stem = params.dense(math.prod(IMAGE_SHAPE), spec.units)
    blocks = [
        (params.dense(spec.units, spec.units), params.dense(spec.units, spec.units))
        for _ in range(spec.blocks)
    ]
    classifier = params.dense(spec.units, NUM_CLASSES)

    def forward(images: tf.Tensor) -> tf.Tensor:
        x = tf.nn.relu(dense(flatten(images), stem))
        for inner, outer in blocks:
            x = tf.nn.relu(x + dense(tf.nn.relu(dense(x, inner)), outer))
        return dense(x, classifier)

    return RawModel(params, forward, "raw_residual")


def shared(spec: SharedSpec) -> RawModel:
    params = Params()
    extract = params.dense(math.prod(IMAGE_SHAPE), spec.units)
    image_head = params.dense(spec.units, NUM_CLASSES)
    mirror_head = params.dense(spec.units, NUM_CLASSES)

    def forward(images: tf.Tensor) -> tf.Tensor:
        image = dense(tf.nn.relu(dense(flatten(images), extract)), image_head)
        mirror = tf.reverse(images, axis=[2])  # left to right
        return image + dense(tf.nn.relu(dense(flatten(mirror), extract)), mirror_head)

    return RawModel(params, forward, "raw_shared")


def recurrent(spec: RecurrentSpec) -> RawModel:
    params = Params()
    kernel, recurrent_kernel, bias = params.lstm(IMAGE_SHAPE[1], spec.units)
    classifier = params.dense(spec.units, NUM_CLASSES)

    def forward(images: tf.Tensor) -> tf.Tensor:
        rows = tf.reshape(images, (-1, *IMAGE_SHAPE[:2]))
        k, r, b = (tf.cast(v, rows.dtype) for v in (kernel, recurrent_kernel, bias))
        h = c = tf.zeros((tf.shape(rows)[0], spec.units), rows.dtype)
        for step in range(IMAGE_SHAPE[0]):  # unrolled into the traced graph: 28 steps
            z = tf.matmul(rows[:, step], k) + tf.matmul(h, r) + b
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
        return dense(h, classifier)

    return RawModel(params, forward, "raw_recurrent")


KIT = derived.Kit(
    linear=lambda _, layer, x: dense(x, layer),
    conv=lambda _, layer, x: conv(x, layer),
    max_pool=max_pool,
    relu=tf.nn.relu,
    reshape=lambda x, shape: tf.reshape(x, (-1, *shape)),
    concat=lambda xs, axis: tf.concat(xs, axis=axis),
    mean=lambda x, axis: tf.reduce_mean(x, axis=axis),
)


def custom(graph: Any, spec: ArchSpec) -> RawModel:
    """A user's model, its floor derived from its graph (bench/styles/raw/derived.py)."""
    params = Params()
    # The steps are replayed by Python over a fixed graph: nothing for AutoGraph to convert, and
    # converting the replay loop's branches made multi_input's first step 986 ms (369 ms without;
    # the cnn floor's 476); a floor written by hand is straight-line code.
    run = tf.autograph.experimental.do_not_convert(derived.forward(graph, params, KIT))
    return RawModel(params, lambda images: run(None, images), "raw_custom")


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


class LoopTrainer(LoopDriver):
    """A train step over a GradientTape with Keras's Adam (or SGD) arithmetic by hand.

    Mirrors Keras's structure: the step itself may be XLA-compiled, and an outer
    tf.function pulls `steps_per_execution` batches from the iterator and runs it.
    The same loop for the raw model (its `forward` and `params`) and for a Keras
    model (`model(x, training=True)` and its trainable variables).
    """

    def __init__(self, model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> None:
        self.model, self.spec, self.train, self.hardware = model, spec, train, hardware
        self.jit_compile = hardware.xla and not train.run_eagerly
        if isinstance(model, RawModel):
            self.forward, self.params = model.forward, model.params
        else:  # a Keras model
            self.forward = functools.partial(model.__call__, training=True)
            self.params = list(model.trainable_variables)

    def compile(self) -> None:
        variables = self.params
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.moments = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]
        self.velocities = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]
        self.loss_scale = LossScale() if self.hardware.precision == "mixed_float16" else None
        self.trace_counter = TraceCounter(compiled=not self.train.run_eagerly)
        if self.train.run_eagerly:
            self.one_step, self.execution = self._step, self._execution
        else:
            # Plain Python loops over constants: nothing for autograph to convert, so skip it.
            step = self.trace_counter.wrap(self._step)
            self.one_step = tf.function(step, jit_compile=self.hardware.xla, autograph=False)
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

    def iterate(self, data: Any) -> Any:
        return iter(as_dataset(data))

    def fetch(self, value: tf.Tensor) -> np.ndarray:
        return value.numpy()

    def _execution(self, iterator: Any) -> tf.Tensor:
        loss = tf.constant(0.0)
        for _ in range(self.train.steps_per_execution):
            images, labels = next(iterator)
            loss = self.one_step(images, labels)
        return loss


def _mean_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    labels = tf.cast(labels, tf.int32)
    logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


COMPUTE_DTYPES = {"float32": tf.float32, "mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}


def trainer(model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> LoopTrainer:
    """The loop for the raw model (computing in the precision's dtype: it reads no Keras
    policy) or for a Keras model in train.loop=custom."""
    if isinstance(model, RawModel):
        model.compute_dtype = COMPUTE_DTYPES[hardware.precision]
    return LoopTrainer(model, spec, train, hardware)


def as_dataset(data: Any) -> tf.data.Dataset:
    """tf.data as it is, or the NumPy pipeline wrapped the way Keras's fit wraps a generator on
    TensorFlow (`from_generator`): a loop compiled with tf.function must pull its batches
    from a tf.data iterator, or it would trace one batch in as a constant."""
    if not isinstance(data, NumpyBatches):
        return data
    images, labels = next(iter(data))
    batch = None if data.keep_partial else data.batch_size  # a pass's last batch may be smaller
    signature = tf.nest.map_structure(
        lambda a: tf.TensorSpec((batch, *a.shape[1:]), tf.as_dtype(a.dtype)), (images, labels)
    )
    return tf.data.Dataset.from_generator(lambda: iter(data), output_signature=signature)


def save(model: RawModel, folder: Path) -> Path:
    tf.saved_model.save(model, str(folder / "saved_model"))
    return folder / "saved_model"


def load(path: Path, spec: ArchSpec) -> Callable[[np.ndarray], Any]:
    restored = tf.saved_model.load(str(path))
    return lambda images: restored.forward(tf.convert_to_tensor(images, tf.float32))
