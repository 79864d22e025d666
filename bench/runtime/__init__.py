"""The runtime a trial runs in, one module per Keras backend behind one interface.

Each backend's module (`tensorflow_runtime`, `jax_runtime`, `torch_runtime`) owns what
is specific to its framework: applying device and threads and reading them back, the
runtime's start-up, accelerator facts, the matmul peak, the anchor step, the blocking
fetch that ends a timed interval and the compiled forward call. This module picks the
one for the trial's backend and does what is common: the mixed-precision policy (read
back), the backend Keras actually runs (read back), seeding, and the peak probe in a fresh
process (`python -m bench.runtime BACKEND DEVICE PRECISION THREADS`).

A setting that did not take is an error, never a silent no-op.

A backend's module is the one place that knows the backend; nothing outside `bench/runtime/`
and the raw floors (`bench/styles/raw/`) branches on a backend's name
(tests/test_runtime_seam.py). Besides the functions above, each module answers:

- `PIPELINE`: the input pipeline `train.pipeline=auto` means (`tfdata` or `numpy`);
- `TENSORFLOW_FREE`: a trial never imports TensorFlow (no TFDS, no tf.data, no TF profiler);
- `THREADS_REFUSED`: why `hardware.threads` cannot be set ('' where it can);
- `COMPILED`, `NOT_COMPILED`: what a train step is called when compiled, and when neither
  compiled nor run eagerly (`jit_compile_resolved`);
- `xla_auto(device)`: whether Keras's `jit_compile="auto"` compiles the step on that
  device (the default of `hardware.xla`, conf/backend/);
- `TRACES_TRAIN_STEP`: Keras traces `train_step` into a graph when not run eagerly (a
  trace is a Python call of it, which the trace counter counts);
- `runtime_started()`: why forking the process now would be unsafe ('' when it would not);
- `train_function_step(trainer, iterator)`, `end_train_function_steps(trainer)`: one call of
  Keras's compiled train function as fit makes it, and handing its state back.

What a process must set before the framework is imported (the CPU-only environment, the
install command) is in `bench/backends.py`, which nothing framework-side may import first.

The folder also owns the machine-speed anchor (`anchor`), the reading of TensorFlow's
profiler traces (`tensorflow_trace`) and fetching a backend's tensor to the host
(`host`). It imports only data-free ground modules (config, backends, timing) and must
not import a style, the measuring code, or anything that runs, decides or presents
(tests/test_layout.py).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from bench import backends
from bench.config import HardwareConfig
from bench.runtime.common import COMPUTE_DTYPES, SettingsNotApplied, available_cores, keep_tensorflow_out

__all__ = [
    "COMPUTE_DTYPES",
    "SettingsNotApplied",
    "available_cores",
    "configure",
    "host",
    "for_backend",
    "probe",
    "seed",
    "use",
]


def for_backend(backend: str | None = None) -> ModuleType:
    """The runtime module of `backend` (default: the one this process runs)."""
    return importlib.import_module(f"bench.runtime.{backend or backends.current()}_runtime")


def use(backend: str, device: str = "cpu") -> None:
    """Make `backend` this process's Keras backend (before Keras is imported; raises
    BackendMismatch after) and, on jax or torch, keep TensorFlow out of the process."""
    backends.select(backend, device)
    if for_backend(backend).TENSORFLOW_FREE:
        keep_tensorflow_out()


def seed(value: int) -> None:
    """Python's, NumPy's and Keras's generators, and TensorFlow's in a TensorFlow process
    (`keras.utils.set_random_seed`; `use` keeps it from importing TensorFlow elsewhere)."""
    import keras

    keras.utils.set_random_seed(value)


def configure(hardware: HardwareConfig, backend: str = backends.DEFAULT) -> dict[str, Any]:
    """Select the backend, apply device, threads and precision, start the runtime, read back.

    Returns the record columns `runtime_init_ms` and `threads` (the intra-op threads the
    runtime runs with), or `{"skipped": reason}` when the backend is not installed or the
    device is missing. Raises SettingsNotApplied when a setting did not take.
    """
    if not backends.installed(backend):
        return {"skipped": backends.missing_reason(backend)}
    try:
        use(backend, hardware.device)
    except backends.BackendMismatch as error:
        raise SettingsNotApplied(str(error)) from error
    import keras

    if keras.backend.backend() != backend:
        raise SettingsNotApplied(f"backend={backend} asked, but Keras runs on {keras.backend.backend()}")
    settings = for_backend(backend).configure(hardware)
    if "skipped" in settings:
        return settings
    keras.mixed_precision.set_global_policy(hardware.precision)
    if keras.mixed_precision.global_policy().name != hardware.precision:
        raise SettingsNotApplied(f"hardware.precision={hardware.precision} did not take")
    return settings


def probe_key(hardware: HardwareConfig, backend: str = backends.DEFAULT) -> str:
    """What the peak depends on: the backend, the device, the compute precision (with TF32),
    and the threads."""
    prefix = "" if backend == backends.DEFAULT else f"{backend}-"  # TensorFlow's files keep their old names
    tf32 = "-tf32" if hardware.tf32 else ""  # files from before TF32 was a setting keep their names
    return f"{prefix}{hardware.device}-{hardware.precision}{tf32}-threads{hardware.threads or 'all'}"


def probe(hardware: HardwareConfig, backend: str = backends.DEFAULT) -> dict[str, Any]:
    """The peak under these settings, with what it was measured under."""
    settings = configure(hardware, backend)
    if "skipped" in settings:
        return {"peak_gflops": None, "reason": settings["skipped"]}
    return {
        "peak_gflops": for_backend(backend).matmul_peak_gflops(hardware),
        "probe": f"{COMPUTE_DTYPES[hardware.precision]} matmul 1024x1024 on {backend} {hardware.device}, best of 1 s",
        "threads": settings["threads"],
    }


def host(value: Any) -> np.ndarray:
    """A backend's tensor as a NumPy array, fetched (waits for the work that made it)."""
    return for_backend().fetch(value)
