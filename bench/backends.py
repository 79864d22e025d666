"""The Keras 3 backends a trial can run on, and choosing one before anything imports Keras.

Keras picks its backend once per process, at its first import, from KERAS_BACKEND.
A trial's `backend` is configuration: the trial process calls `select` before it
imports Keras (bench/run/worker.py), and an inline trial asking for another backend
than the one this process already runs fails with the fix. Nothing here imports a
framework.
"""

from __future__ import annotations

import importlib.util
import os
import sys

BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")
DEFAULT = "tensorflow"
# The pip command that installs a backend into this project (pyproject.toml extras).
INSTALL = {
    "tensorflow": "pip install -e .",
    "jax": "pip install -e '.[jax]'",
    "torch": "pip install -e '.[torch]'",
}

# What a CPU trial sets before the framework's import, which reads it once: JAX would take
# a GPU, and Keras's torch backend puts every tensor on a GPU whenever one is visible.
# TensorFlow's GPUs are hidden by its runtime module, which can do it after the import.
CPU_ONLY: dict[str, dict[str, str]] = {
    "tensorflow": {},
    "jax": {"JAX_PLATFORMS": "cpu"},
    "torch": {"CUDA_VISIBLE_DEVICES": ""},
}


class BackendMismatch(RuntimeError):
    """This process runs another backend than the trial asks for."""


def installed(backend: str) -> bool:
    """Whether the backend's framework can be imported here (found, not imported)."""
    return importlib.util.find_spec(backend) is not None


def missing_reason(backend: str) -> str:
    """Why a trial on a backend that is not installed was skipped, with the fix."""
    return f"{backend} is not installed: {INSTALL[backend]}"


def current() -> str:
    """The backend this process runs (or will run) Keras on."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT)


def select(backend: str, device: str = "cpu") -> None:
    """Make `backend` this process's Keras backend, before Keras is imported.

    Also sets what each framework reads once, at its import: JAX allocates GPU memory
    as it needs it instead of taking 75% up front (XLA_PYTHON_CLIENT_PREALLOCATE), and a
    CPU trial hides the GPUs from JAX and torch (TensorFlow's are hidden by its runtime
    module, which can do it after import).
    """
    if "keras" in sys.modules and current() != backend:
        raise BackendMismatch(
            f"backend={backend} asked, but this process runs Keras on {current()}; "
            "run it with isolation=process"
        )
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if device == "cpu":
        for name, value in CPU_ONLY[backend].items():
            os.environ.setdefault(name, value)
