"""The raw style on JAX: a list of arrays and pure forward functions, trained by a
`jax.grad` step under `jax.jit` (XLA) with Keras's Adam written out, saved as NumPy arrays.

No Keras at all. Initial values follow the draw Keras makes on JAX for a layer given no
seed: each kernel takes an integer seed from Python's `random` module and is filled by
`jax.random.uniform` keyed by `[seed, 0]` (uint32); biases start at zero. Seeding
Python's `random` (as `keras.utils.set_random_seed` does) gives the raw model the same
initial weights as the Keras styles on JAX, which `bench verify --backend jax` checks.
`hardware.xla=false` runs the step op by op, as Keras's `jit_compile=False` does on JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench.archs import ArchSpec, BranchedSpec, CnnSpec, MlpSpec, RecurrentSpec, ResidualSpec, SharedSpec
from bench.config import HardwareConfig, TrainConfig
from bench.styles.raw import Draws, cnn_draws, dense, derived
from bench.styles.trainer_common import LoopDriver, TraceCounter, loss_weights

Params = list[jax.Array]
Forward = Callable[[Params, jax.Array], Any]


class Weights(Draws):
    """Keras's draw on JAX: `jax.random.uniform` keyed by `[seed, 0]` (uint32)."""

    def kernel(self, shape: tuple[int, ...], limit: float, seed: int) -> jax.Array:
        key = jnp.asarray([seed, 0], dtype=jnp.uint32)
        return jax.random.uniform(key, shape, dtype=jnp.float32, minval=-limit, maxval=limit)

    def bias(self, size: int) -> jax.Array:
        return jnp.zeros(size, jnp.float32)

    def orthogonal(self, shape: tuple[int, int], seed: int) -> jax.Array:
        rows, cols = shape
        key = jnp.asarray([seed, 0], dtype=jnp.uint32)
        q, r = jnp.linalg.qr(jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32))
        q = q * jnp.sign(jnp.diag(r))
        return (q.T if rows < cols else q).reshape(shape)

    def constant(self, values: list[float]) -> jax.Array:
        return jnp.asarray(values, jnp.float32)


class RawModel:
    """A pure forward function over a flat list of arrays, with Keras-like accessors."""

    built = True

    def __init__(self, weights: Weights, forward: Forward, spec: ArchSpec) -> None:
        self.params, self.apply, self.spec = weights.arrays, forward, spec
        self._compiled = jax.jit(forward)

    def __call__(self, images: Any) -> Any:
        return self._compiled(self.params, jnp.asarray(images, jnp.float32))

    def eager_forward(self) -> Callable[[Any], Any]:
        """The forward pass run op by op, not compiled."""
        return functools.partial(self.apply, self.params)

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(p) for p in self.params]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        if len(weights) != len(self.params):
            raise ValueError(f"expected {len(self.params)} weight arrays, got {len(weights)}")
        self.params = [jnp.asarray(w, jnp.float32) for w in weights]

    def count_params(self) -> int:
        return sum(int(np.prod(p.shape)) for p in self.params)


def mlp(spec: MlpSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.mlp(spec, weights, jax.nn.relu), spec)


def branched(spec: BranchedSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.branched(spec, weights, jax.nn.relu), spec)


def residual(spec: ResidualSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.residual(spec, weights, jax.nn.relu), spec)


def shared(spec: SharedSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.shared(spec, weights, jax.nn.relu, lambda x: jnp.flip(x, axis=2)), spec)


_LSTM_STEP = dense.lstm_cell(jax.nn.sigmoid, jnp.tanh)


def _scan_lstm(params: Params, index: int, rows: jax.Array) -> jax.Array:
    """The LSTM's steps under `jax.lax.scan`, as Keras's LSTM on JAX runs them."""
    units = params[index + 1].shape[0]
    zeros = jnp.zeros((rows.shape[0], units), rows.dtype)

    def step(state: tuple[jax.Array, jax.Array], x: jax.Array) -> tuple[tuple[jax.Array, jax.Array], None]:
        return _LSTM_STEP(params, index, state, x), None

    (h, _), _ = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(rows, 0, 1))
    return h


def recurrent(spec: RecurrentSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.recurrent(spec, weights, _scan_lstm), spec)


def _conv(params: Params, index: int, x: jax.Array) -> jax.Array:
    """A valid convolution of stride 1 and its bias, channels-last (NHWC, kernels HWIO)."""
    kernel, bias = params[index], params[index + 1]
    return (
        jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        + bias
    )


def _max_pool(x: jax.Array, size: int) -> jax.Array:
    window = (1, size, size, 1)
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window, "VALID")


def cnn(spec: CnnSpec) -> RawModel:
    weights = Weights()
    convs, classifier = cnn_draws(spec, weights)

    def forward(params: Params, images: jax.Array) -> jax.Array:
        x = images
        for index in convs:
            x = _max_pool(jax.nn.relu(_conv(params, index, x)), spec.pool_size)
        return dense.linear(params, classifier, dense.flatten(x))

    return RawModel(weights, forward, spec)


KIT = derived.Kit(
    linear=dense.linear,
    conv=_conv,
    max_pool=_max_pool,
    relu=jax.nn.relu,
    reshape=lambda x, shape: x.reshape(-1, *shape),
    concat=lambda xs, axis: jnp.concatenate(xs, axis=axis),
    mean=lambda x, axis: jnp.mean(x, axis=axis),
)


def custom(graph: Any, spec: ArchSpec) -> RawModel:
    """A user's model, its floor derived from its graph (bench/styles/raw/derived.py)."""
    weights = Weights()
    return RawModel(weights, derived.forward(graph, weights, KIT), spec)


def _mean_cross_entropy(labels: jax.Array, logits: jax.Array) -> jax.Array:
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
    return -jnp.mean(jnp.take_along_axis(log_probs, labels.astype(jnp.int32)[:, None], axis=1))


class LoopTrainer(LoopDriver):
    """The floor's train step: loss, `jax.grad`, Keras's Adam (or SGD) by hand, as one pure
    function of (params, Adam moments, step count, batch), under `jax.jit` (XLA) unless
    hardware.xla is off or train.run_eagerly is set. The state is donated to the
    compiled step, as Keras's JAX trainer donates its own."""

    def __init__(self, model: RawModel, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> None:
        self.model, self.spec, self.train, self.hardware = model, spec, train, hardware
        self.jit_compile = hardware.xla and not train.run_eagerly

    def compile(self) -> None:
        zeros = [jnp.zeros_like(p) for p in self.model.params]
        self.state = (self.model.params, zeros, [z.copy() for z in zeros], jnp.zeros((), jnp.int32))
        self.trace_counter = TraceCounter(compiled=self.jit_compile)
        step = self.trace_counter.wrap(self._step)
        self.one_step = jax.jit(step, donate_argnums=0) if self.jit_compile else step

    def _loss(self, params: Params, images: jax.Array, labels: Any) -> jax.Array:
        outputs = self.model.apply(params, images)
        if not isinstance(outputs, dict):
            return _mean_cross_entropy(labels, outputs)
        weights = loss_weights(self.spec) or {}
        return sum(w * _mean_cross_entropy(labels[k], outputs[k]) for k, w in weights.items())

    def _step(self, state: tuple, images: jax.Array, labels: Any) -> tuple[tuple, jax.Array]:
        params, moments, velocities, iterations = state
        loss, gradients = jax.value_and_grad(self._loss)(params, images, labels)
        iterations = iterations + 1
        rate = self.train.learning_rate
        if self.train.optimizer == "sgd":
            return (
                [p - rate * g for p, g in zip(params, gradients, strict=True)],
                moments,
                velocities,
                iterations,
            ), loss
        beta_1, beta_2, step = 0.9, 0.999, iterations.astype(jnp.float32)
        alpha = rate * jnp.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
        moments = [m + (g - m) * (1.0 - beta_1) for m, g in zip(moments, gradients, strict=True)]
        velocities = [v + (g * g - v) * (1.0 - beta_2) for v, g in zip(velocities, gradients, strict=True)]
        params = [
            p - alpha * m / (jnp.sqrt(v) + 1e-7) for p, m, v in zip(params, moments, velocities, strict=True)
        ]
        return (params, moments, velocities, iterations), loss

    def execution(self, iterator: Any) -> jax.Array:
        loss = None
        for _ in range(self.train.steps_per_execution):
            images, labels = next(iterator)
            self.state, loss = self.one_step(self.state, images, labels)
        self.model.params = self.state[0]
        return loss
