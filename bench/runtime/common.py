"""What every backend's runtime module shares: the error for a setting that did not take,
the cores, the compute dtypes, Keras's one-off first-use costs, keeping TensorFlow out
of a trial on another backend, and the shape of a profiler trace's parts."""

from __future__ import annotations

import os

import numpy as np

COMPUTE_DTYPES = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
# The name of the profiler range around each batch the NumPy pipeline gathers (bench/measure/profile.py):
# a trace's "input" part on every backend.
PROFILE_INPUT = "bench.input"
TRACE_KINDS = ("compute", "input", "framework")  # what a trace reader returns, in order of precedence


def intervals(kinds: dict[str, list[tuple[float, float]]]) -> dict[str, np.ndarray]:
    """Each kind's (begin, end) pairs as an n x 2 array of wall-clock ns (epoch)."""
    return {kind: np.array(found, dtype=float).reshape(-1, 2) for kind, found in kinds.items()}


class SettingsNotApplied(RuntimeError):
    """The runtime runs with other settings than the trial asked for."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def first_keras_use() -> None:
    """Keras's one-off costs (the first symbolic layer call, the first eager layer call),
    paid by a throw-away one-unit model so that no style's construct or build pays them."""
    import keras

    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model(keras.ops.zeros((1, 1)))


def keep_tensorflow_out() -> None:
    """Keras imports TensorFlow whenever it is installed, whatever the backend: to seed it in
    `keras.utils.set_random_seed` and to recognise its types when saving a model. A trial on
    jax or torch marks Keras's lazy TensorFlow module unavailable, so it never does
    (tests/test_backends.py checks `tensorflow` stays out of `sys.modules`)."""
    from keras.src.utils import module_utils

    module_utils.tensorflow._available = False
