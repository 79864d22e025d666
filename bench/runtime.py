"""The TensorFlow runtime a trial runs in: its settings applied and read back, its start-up
timed apart from every style, the accelerator it sees, and the matmul peak under the same
settings.

A setting TensorFlow did not take is an error, never a silent no-op: threads can only be
set before the runtime starts, so an inline trial that asks for other threads than the
runtime already has fails with the reason and the fix.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.config import HardwareConfig

COMPUTE_DTYPES = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


class SettingsNotApplied(RuntimeError):
    """The runtime runs with other settings than the trial asked for."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure(hardware: HardwareConfig) -> dict[str, Any]:
    """Apply device, threads and precision, start the runtime, read the settings back.

    Returns the record columns `runtime_init_ms` and `threads` (the intra-op threads the
    runtime runs with; all cores when not set), or `{"skipped": reason}` when the device
    is missing. Raises SettingsNotApplied when a setting did not take.
    """
    import keras
    import tensorflow as tf

    try:
        if hardware.threads > 0:
            tf.config.threading.set_intra_op_parallelism_threads(hardware.threads)
        if hardware.device == "cpu":
            tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass  # the runtime had started already: the read-back below says whether that matters
    if hardware.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return {"skipped": "no GPU visible to TensorFlow on this machine"}
    started = time.perf_counter()
    (tf.constant(1.0) + 1.0).numpy()  # start the runtime, its thread pools and any accelerator
    _first_use(keras)
    runtime_init_ms = (time.perf_counter() - started) * 1000.0
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    if hardware.threads > 0 and threads != hardware.threads:
        raise SettingsNotApplied(
            f"hardware.threads={hardware.threads} asked, but TensorFlow runs with "
            f"{threads or 'all cores'}: its runtime had started before this trial; run it with isolation=process"
        )
    if hardware.device == "cpu" and tf.config.get_visible_devices("GPU"):
        raise SettingsNotApplied(
            "hardware.device=cpu asked, but a GPU stays visible: TensorFlow's runtime had started "
            "before this trial; run it with isolation=process"
        )
    keras.mixed_precision.set_global_policy(hardware.precision)
    if keras.mixed_precision.global_policy().name != hardware.precision:
        raise SettingsNotApplied(f"hardware.precision={hardware.precision} did not take")
    return {"runtime_init_ms": runtime_init_ms, "threads": threads or available_cores()}


def _first_use(keras: Any) -> None:
    """Keras's one-off costs (the first symbolic layer call, the first eager layer call),
    paid by a throw-away one-unit model so that no style's construct or build pays them."""
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model(keras.ops.zeros((1, 1)))


def accelerator_environment() -> dict[str, Any]:
    """CUDA build version and GPU name, as the TensorFlow in this process sees them."""
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    gpus = tf.config.list_physical_devices("GPU")
    gpu_name = ""
    if gpus:
        gpu_name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return {"cuda_version": str(build.get("cuda_version", "")), "gpu_name": gpu_name}


def probe_key(hardware: HardwareConfig) -> str:
    """What the peak depends on: the device, the compute precision and the threads."""
    return f"{hardware.device}-{hardware.precision}-threads{hardware.threads or 'all'}"


def matmul_peak_gflops(hardware: HardwareConfig, size: int = 1024, seconds: float = 1.0) -> float:
    """Best GFLOP/s of a square matmul in the precision's compute dtype on the trial's
    device, fetched after each batch of 10 calls; call after `configure`."""
    import tensorflow as tf

    dtype = COMPUTE_DTYPES[hardware.precision]
    with tf.device("/GPU:0" if hardware.device == "gpu" else "/CPU:0"):
        a = tf.cast(tf.random.normal((size, size)), dtype)
        b = tf.cast(tf.random.normal((size, size)), dtype)
        tf.matmul(a, b).numpy()  # warm-up: kernel selection, thread pool start
        best = 0.0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            for _ in range(10):
                product = tf.matmul(a, b)
            product.numpy()
            best = max(best, 10 * 2 * size**3 / (time.perf_counter() - started) / 1e9)
    return best


def probe(hardware: HardwareConfig) -> dict[str, Any]:
    """The peak under these settings, with what it was measured under."""
    settings = configure(hardware)
    if "skipped" in settings:
        return {"peak_gflops": None, "reason": settings["skipped"]}
    return {
        "peak_gflops": matmul_peak_gflops(hardware),
        "probe": f"{COMPUTE_DTYPES[hardware.precision]} matmul 1024x1024 on {hardware.device}, best of 1 s",
        "threads": settings["threads"],
    }


if __name__ == "__main__":
    # `python -m bench.runtime DEVICE PRECISION THREADS`: the peak probe in a fresh process, one JSON line out.
    import json
    import sys

    import bench  # noqa: F401  (quiet TensorFlow logs)

    device, precision, threads = sys.argv[1:4]
    print(json.dumps(probe(HardwareConfig(device=device, precision=precision, threads=int(threads)))))
