"""Raw style: `tf.Variable` weights in a `tf.Module`, the forward pass a `tf.function`.

No Keras at all: the floor that shows what Keras itself costs. Weights are
created eagerly at construction, in the canonical order of `bench.archs`.

Initial values follow the draw Keras makes for a layer given no seed: each
kernel takes an integer seed from Python's `random` module and is filled by a
stateless glorot-uniform draw from it; biases start at zero. Seeding Python's
`random` (as `keras.utils.set_random_seed` does) therefore gives the raw model
the same initial weights as the Keras styles, which `bench.verify` checks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from bench.archs import IMAGE_SHAPE, NUM_CLASSES, BranchedSpec, CnnSpec, MlpSpec, ResidualSpec

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
            x = tf.nn.max_pool2d(x, spec.pool_size, strides=spec.pool_size, padding="VALID")
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
