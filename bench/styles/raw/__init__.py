"""Raw style: no Keras at all, one floor per backend, the floor that shows what Keras costs.

Each backend's floor is written in its own framework and owns its model, its trainer
and its save path: TensorFlow (`tf.function` + `GradientTape`, tensorflow_floor.py),
JAX (`jax.jit` + `jax.grad` over a list of arrays, jax_floor.py), torch
(`torch.nn.functional` + autograd, eager or `torch.compile`, torch_floor.py). Every
floor draws the same initial weights as the Keras styles on its backend (Keras's
unseeded initializer draws, replayed), so `bench verify --backend B` proves it
identical. This module picks the floor of the backend this process runs. A user's
own model gets a floor derived from its graph (derived.py), in each framework's operations.
"""

from __future__ import annotations

import importlib
import math
import random
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import backends
from bench.archs import IMAGE_SHAPE, NUM_CLASSES, ArchSpec, CnnSpec
from bench.config import HardwareConfig, TrainConfig
from bench.styles import NotExpressible
from bench.styles.trainer_common import load_arrays, save_arrays

# Python's `random.randint(1, 1e9)`: the integer seed Keras draws for an unseeded initializer.
SEED_RANGE = (1, int(1e9))


class Draws:
    """Kernel/bias pairs drawn in call order as Keras draws them (glorot-uniform kernels, each
    from an integer seed out of Python's `random`; zero biases) into one flat list; each
    pair's index into it. A floor's subclass draws with its framework: `kernel`, `bias`."""

    def __init__(self) -> None:
        self.arrays: list[Any] = []

    def kernel(self, shape: tuple[int, ...], limit: float, seed: int) -> Any:
        raise NotImplementedError

    def bias(self, size: int) -> Any:
        raise NotImplementedError

    def orthogonal(self, shape: tuple[int, int], seed: int) -> Any:
        """Keras's orthogonal draw: a standard normal (max, min)-shaped draw from the seed, its
        reduced QR's Q with each column's sign set by R's diagonal, transposed when wide."""
        raise NotImplementedError

    def constant(self, values: list[float]) -> Any:
        raise NotImplementedError

    def _pair(self, kernel_shape: tuple[int, ...], fan_in: int, fan_out: int) -> int:
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        self.arrays += [
            self.kernel(kernel_shape, limit, random.randint(*SEED_RANGE)),
            self.bias(kernel_shape[-1]),
        ]
        return len(self.arrays) - 2

    def dense(self, units_in: int, units_out: int) -> int:
        return self._pair((units_in, units_out), units_in, units_out)

    def lstm(self, features: int, units: int) -> int:
        """An LSTM's kernel (glorot-uniform), recurrent kernel (orthogonal) and bias (ones for the
        forget gate), their seeds drawn in that order as Keras's LSTM cell draws them, then the
        seed its dropout generator takes (unused: no dropout here)."""
        gates = 4 * units
        kernel_seed, recurrent_seed = random.randint(*SEED_RANGE), random.randint(*SEED_RANGE)
        random.randint(*SEED_RANGE)
        self.arrays += [
            self.kernel((features, gates), math.sqrt(6.0 / (features + gates)), kernel_seed),
            self.orthogonal((units, gates), recurrent_seed),
            self.constant([0.0] * units + [1.0] * units + [0.0] * (2 * units)),
        ]
        return len(self.arrays) - 3

    def conv(self, kernel_size: int, channels_in: int, filters: int) -> int:
        area = kernel_size * kernel_size
        return self._pair(
            (kernel_size, kernel_size, channels_in, filters), area * channels_in, area * filters
        )


def cnn_draws(spec: CnnSpec, weights: Draws) -> tuple[list[int], int]:
    """The cnn's weights in Keras's order: one conv pair per filter count, then the
    classifier; their indexes into the flat list."""
    channels = [IMAGE_SHAPE[-1], *spec.filters]
    convs = [
        weights.conv(spec.kernel_size, c_in, c_out)
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
    ]
    return convs, weights.dense(spec.flat_features(), NUM_CLASSES)


def floor(backend: str | None = None) -> ModuleType:
    """The raw floor module of `backend` (default: the one this process runs)."""
    return importlib.import_module(f"bench.styles.raw.{backend or backends.current()}_floor")


def mlp(spec: ArchSpec) -> Any:
    return floor().mlp(spec)


def cnn(spec: ArchSpec) -> Any:
    return floor().cnn(spec)


def branched(spec: ArchSpec) -> Any:
    return floor().branched(spec)


def residual(spec: ArchSpec) -> Any:
    return floor().residual(spec)


def shared(spec: ArchSpec) -> Any:
    return floor().shared(spec)


def recurrent(spec: ArchSpec) -> Any:
    return floor().recurrent(spec)


def custom(spec: ArchSpec) -> Any:
    """A user's model (a CustomSpec): its floor derived from the graph of the model they wrote
    (bench/styles/raw/derived.py); bench/styles/derive.py says first whether it can be."""
    from bench.styles.graph import describe  # Keras: only a process with a user's model reads one

    return floor().custom(describe(spec.model), spec)


def trainer(model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> Any:
    """The floor's own trainer for its model; on TensorFlow also for a Keras model in the
    custom loop and in half precision. Raises NotExpressible where the floor has neither."""
    module = floor()
    if hasattr(module, "trainer"):
        return module.trainer(model, spec, train, hardware)
    backend = backends.current()
    if not is_raw(model):
        raise NotExpressible(
            f"train.loop=custom is a TensorFlow GradientTape loop; on {backend}, Keras styles train with fit"
        )
    if hardware.precision != "float32":
        raise NotExpressible(f"the raw floor on {backend} computes in float32 only, not {hardware.precision}")
    return module.LoopTrainer(model, spec, train, hardware)


def is_raw(model: Any) -> bool:
    return isinstance(model, floor().RawModel)


def save(model: Any, folder: Path) -> Path:
    """The floor's own format (a SavedModel on TensorFlow), else its weights as NumPy arrays."""
    module = floor()
    return module.save(model, folder) if hasattr(module, "save") else save_arrays(model.get_weights(), folder)


def load(path: Path, spec: ArchSpec) -> Any:
    """A callable that maps images to the saved model's outputs."""
    module = floor()
    if hasattr(module, "load"):
        return module.load(path, spec)
    model = custom(spec) if spec.name == "custom" else getattr(module, spec.name)(spec)
    model.set_weights(load_arrays(path))
    return model
