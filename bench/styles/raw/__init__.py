"""Raw style: no Keras at all, one floor per backend, the floor that shows what Keras costs.

Each backend's floor is written in its own framework and owns its model, its trainer
and its save path: TensorFlow (`tf.function` + `GradientTape`, tensorflow_floor.py),
JAX (`jax.jit` + `jax.grad` over a list of arrays, jax_floor.py), torch
(`torch.nn.functional` + autograd, eager or `torch.compile`, torch_floor.py). Every
floor draws the same initial weights as the Keras styles on its backend (Keras's
unseeded initializer draws, replayed), so `bench verify --backend B` proves it
identical. This module picks the floor of the backend this process runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import backends
from bench.archs import ArchSpec
from bench.config import HardwareConfig, TrainConfig


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


def trainer(model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> Any:
    """The floor's own trainer for its model (on TensorFlow, also for a Keras model in the custom loop)."""
    return floor().trainer(model, spec, train, hardware)


def is_raw(model: Any) -> bool:
    return isinstance(model, floor().RawModel)


def save(model: Any, folder: Path) -> Path:
    return floor().save(model, folder)


def load(path: Path, spec: ArchSpec) -> Any:
    """A callable that maps images to the saved model's outputs."""
    return floor().load(path, spec)
