"""Functions style: custom logic as plain Python functions over `keras.ops`.

The maths lives in small functions (`dense`, `conv2d`, `max_pool`, `flatten`,
`custom_add`, `mirror`, `rows`, `lstm`). Two custom layers, `DenseFn` and `Conv2DFn`, only own the weights
and call those functions; no built-in Dense or Conv layer is used. Models are
wired as a graph: weightless functions are called directly on the symbolic
tensors of `keras.Input`, which Keras 3 records as graph operations.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from bench.archs import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    BranchedSpec,
    CnnSpec,
    MlpSpec,
    RecurrentSpec,
    ResidualSpec,
    SharedSpec,
)

register = keras.saving.register_keras_serializable(package="stylebench.functions")


def dense(x: Any, kernel: Any, bias: Any) -> Any:
    return ops.matmul(x, kernel) + bias


def conv2d(x: Any, kernel: Any, bias: Any) -> Any:
    return ops.conv(x, kernel, strides=1, padding="valid") + bias


def max_pool(x: Any, pool_size: int) -> Any:
    return ops.max_pool(x, pool_size, strides=pool_size, padding="valid")


def flatten(x: Any) -> Any:
    return ops.reshape(x, (-1, math.prod(x.shape[1:])))


def custom_add(x1: Any, x2: Any) -> Any:
    return ops.add(x1, x2)


def relu(x: Any) -> Any:
    return ops.relu(x)


def mirror(x: Any) -> Any:
    return ops.flip(x, axis=2)  # left to right


def rows(x: Any) -> Any:
    return ops.reshape(x, (-1, *x.shape[1:3]))  # (batch, 28, 28, 1) -> 28 time steps of 28 features


def lstm(x: Any, kernel: Any, recurrent_kernel: Any, bias: Any) -> Any:
    """The last state of an LSTM over x's time steps, a plain Python loop over keras.ops
    (what a user writing the recurrence by hand writes): the gates in Keras's order."""
    units = recurrent_kernel.shape[0]
    h = c = ops.zeros((ops.shape(x)[0], units), dtype=x.dtype)
    for step in range(x.shape[1]):
        z = ops.matmul(x[:, step], kernel) + ops.matmul(h, recurrent_kernel) + bias
        i, f, g, o = ops.split(z, 4, axis=1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
    return h


class _WeightedFn(keras.layers.Layer):
    """A layer that owns a glorot-uniform kernel and a zero bias, nothing else."""

    def __init__(self, width: int, activation: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.width = width
        self.activation = activation
        # Made here, like a built-in layer's, so seeded builds draw the same weights.
        self.kernel_initializer = keras.initializers.get("glorot_uniform")

    def kernel_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def build(self, input_shape: tuple[int, ...]) -> None:
        shape = self.kernel_shape(input_shape)
        self.kernel = self.add_weight(shape=shape, initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.width,), initializer="zeros", name="bias")

    def activate(self, x: Any) -> Any:
        return relu(x) if self.activation == "relu" else x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "width": self.width, "activation": self.activation}


@register
class DenseFn(_WeightedFn):
    def kernel_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[-1], self.width)

    def call(self, x: Any) -> Any:
        return self.activate(dense(x, self.kernel, self.bias))


@register
class Conv2DFn(_WeightedFn):
    def __init__(self, width: int, kernel_size: int, **kwargs: Any) -> None:
        super().__init__(width, **kwargs)
        self.kernel_size = kernel_size

    def kernel_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.kernel_size, self.kernel_size, input_shape[-1], self.width)

    def call(self, x: Any) -> Any:
        return self.activate(conv2d(x, self.kernel, self.bias))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kernel_size": self.kernel_size}


@register
class LSTMFn(keras.layers.Layer):
    """Owns an LSTM's weights, drawn as Keras's LSTM draws them (a glorot-uniform kernel and an
    orthogonal recurrent kernel, their seeds taken here in that order, then the dropout seed
    generator's; the forget gate's bias ones), and calls `lstm`."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get("glorot_uniform")
        self.recurrent_initializer = keras.initializers.get("orthogonal")
        # Keras's LSTM cell holds a seed generator for dropout: this one takes the same draw
        # from Python's random, so the layers made after it draw what they draw after an LSTM.
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape: tuple[int, ...]) -> None:
        gates = 4 * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], gates), initializer=self.kernel_initializer, name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, gates), initializer=self.recurrent_initializer, name="recurrent_kernel"
        )
        forget = [0.0] * self.units + [1.0] * self.units + [0.0] * (2 * self.units)
        self.bias = self.add_weight(
            shape=(gates,), initializer=keras.initializers.Constant(forget), name="bias"
        )

    def call(self, x: Any) -> Any:
        return lstm(x, self.kernel, self.recurrent_kernel, self.bias)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def mlp(spec: MlpSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = DenseFn(spec.hidden_units, activation="relu")(flatten(inputs))
    return keras.Model(inputs, DenseFn(NUM_CLASSES)(x), name="functions_mlp")


def cnn(spec: CnnSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = inputs
    for filters in spec.filters:
        x = max_pool(Conv2DFn(filters, spec.kernel_size, activation="relu")(x), spec.pool_size)
    return keras.Model(inputs, DenseFn(NUM_CLASSES)(flatten(x)), name="functions_cnn")


def branched(spec: BranchedSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    features = DenseFn(spec.trunk_units, activation="relu")(flatten(inputs))
    hidden = DenseFn(spec.head_units, activation="relu")(features)
    class_logits = DenseFn(NUM_CLASSES, name="class")(hidden)
    coarse = DenseFn(spec.coarse_classes, name="coarse")(features)
    return keras.Model(inputs, {"class": class_logits, "coarse": coarse}, name="functions_branched")


def residual(spec: ResidualSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = DenseFn(spec.units, activation="relu")(flatten(inputs))
    for _ in range(spec.blocks):
        h = DenseFn(spec.units, activation="relu")(x)
        h = DenseFn(spec.units)(h)
        x = relu(custom_add(x, h))
    return keras.Model(inputs, DenseFn(NUM_CLASSES)(x), name="functions_residual")


def shared(spec: SharedSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    extract = DenseFn(spec.units, activation="relu")
    image_logits = DenseFn(NUM_CLASSES)(extract(flatten(inputs)))
    mirror_logits = DenseFn(NUM_CLASSES)(extract(flatten(mirror(inputs))))
    return keras.Model(inputs, custom_add(image_logits, mirror_logits), name="functions_shared")


def recurrent(spec: RecurrentSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    state = LSTMFn(spec.units)(rows(inputs))
    return keras.Model(inputs, DenseFn(NUM_CLASSES)(state), name="functions_recurrent")
