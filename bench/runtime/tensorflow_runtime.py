"""The TensorFlow backend's runtime: settings applied and read back, start-up, accelerator
facts, the matmul peak, the anchor step, the blocking fetch and the compiled forward call.

Threads can only be set before TensorFlow's runtime starts, so an inline trial that asks
for other threads than the runtime already has fails with the reason and the fix.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.config import HardwareConfig
from bench.runtime import anchor
from bench.runtime.common import COMPUTE_DTYPES, SettingsNotApplied, available_cores, first_keras_use

# What the rest of the suite asks of this backend (bench/runtime/__init__.py says what each means).
PIPELINE = "tfdata"
TENSORFLOW_FREE = False
THREADS_REFUSED = ""
COMPILED = "xla"
TRACES_TRAIN_STEP = True
NOT_COMPILED = "graph"


def configure(hardware: HardwareConfig) -> dict[str, Any]:
    """Apply device and threads, start the runtime, read the settings back."""
    import tensorflow as tf

    try:
        if hardware.threads > 0:
            tf.config.threading.set_intra_op_parallelism_threads(hardware.threads)
        if hardware.device == "cpu":
            tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass  # the runtime had started already: the read-back below says whether that matters
    tf.config.experimental.enable_tensor_float_32_execution(hardware.tf32)
    if tf.config.experimental.tensor_float_32_execution_enabled() != hardware.tf32:
        raise SettingsNotApplied(f"hardware.tf32={hardware.tf32} asked, but TensorFlow did not take it")
    if hardware.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return {"skipped": "no GPU visible to TensorFlow on this machine"}
    started = time.perf_counter()
    (tf.constant(1.0) + 1.0).numpy()  # start the runtime, its thread pools and any accelerator
    first_keras_use()
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
    return {"runtime_init_ms": runtime_init_ms, "threads": threads or available_cores()}


def accelerator_environment() -> dict[str, Any]:
    """CUDA build version and GPU name, as the TensorFlow in this process sees them."""
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    gpus = tf.config.list_physical_devices("GPU")
    gpu_name = ""
    if gpus:
        gpu_name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return {"cuda_version": str(build.get("cuda_version", "")), "gpu_name": gpu_name}


def accelerator_peak_mb() -> float:
    """The process's peak GPU memory in MiB as TensorFlow's allocator counts it (NaN without a GPU)."""
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        return math.nan
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def host_pool_mb() -> tuple[float, float]:
    """MiB in use in TensorFlow's own CPU allocator now, and at its peak since
    `reset_host_pool_peak()`. With oneDNN (TensorFlow's default on x86) large host tensors
    come from a BFC pool that keeps what it frees, so a model built after another one was
    freed reuses its pages without any growth of the resident set (a 12.4 MiB build read
    0.67 MiB): the pool's own count still sees it. NaN where TensorFlow is not loaded or its
    allocator keeps no count."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return math.nan, math.nan
    try:
        info = tf.config.experimental.get_memory_info("CPU:0")
    except (ValueError, RuntimeError):  # an allocator without statistics
        return math.nan, math.nan
    return info["current"] / 2**20, info["peak"] / 2**20


def reset_host_pool_peak() -> None:
    """Set the pool's peak to what it holds now (`host_pool_mb`)."""
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        with contextlib.suppress(ValueError, RuntimeError):  # an allocator without statistics
            tf.config.experimental.reset_memory_stats("CPU:0")


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


def anchor_step() -> Callable[[], Any]:
    """The anchor's SGD step (bench/runtime/anchor.py), a tf.function on the trial's device."""
    import tensorflow as tf

    x = tf.random.stateless_uniform([anchor.BATCH, anchor.INPUTS], seed=[7, 1])
    y = tf.random.stateless_uniform([anchor.BATCH], seed=[7, 2], maxval=anchor.CLASSES, dtype=tf.int32)
    weights = [
        tf.Variable(tf.random.stateless_normal([anchor.INPUTS, anchor.HIDDEN], seed=[7, 3]) * 0.05),
        tf.Variable(tf.zeros([anchor.HIDDEN])),
        tf.Variable(tf.random.stateless_normal([anchor.HIDDEN, anchor.CLASSES], seed=[7, 4]) * 0.05),
        tf.Variable(tf.zeros([anchor.CLASSES])),
    ]

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            hidden = tf.nn.relu(x @ weights[0] + weights[1])
            logits = hidden @ weights[2] + weights[3]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        for variable, gradient in zip(weights, tape.gradient(loss, weights), strict=True):
            variable.assign_sub(anchor.LEARNING_RATE * gradient)
        return loss

    return lambda: step().numpy()


def fetch(value: Any) -> np.ndarray:
    """The value on the host: waits for the work that made it."""
    return np.asarray(value)


def compiled(function: Callable[..., Any], xla: bool) -> Callable[..., Any]:
    """The forward call compiled as the trial's train step is: a tf.function, XLA per toggle."""
    import tensorflow as tf

    return tf.function(function, jit_compile=xla)


def runtime_started() -> str:
    """Why forking this process now would be unsafe ('' when it would not): TensorFlow's
    eager context, and with it its thread pools, exists."""
    from tensorflow.python.eager import context

    handle = context.context_safe()
    if handle is not None and handle._context_handle is not None:
        return "TensorFlow's eager context is initialised"
    return ""


def train_function_step(trainer: Any, iterator: Any) -> dict[str, Any]:
    """One call of the model's compiled `train_function`, as Keras's fit makes it: it takes
    the iterator. The logs are not fetched."""
    return trainer.model.train_function(iterator)


def end_train_function_steps(trainer: Any) -> None:
    """Nothing to hand back: the model's variables were updated in place."""


def xla_auto(device: str) -> bool:
    """What Keras's `jit_compile="auto"` compiles to here: XLA where TensorFlow sees a device
    other than the CPU, none on a CPU-only process (Keras's `_resolve_auto_jit_compile`)."""
    return device == "gpu"


# The step breakdown (bench/measure/profile.py): TensorFlow's profiler, read by tensorflow_trace.py.
SPLITS_FIRST_EXECUTION = (
    True  # graph building, instantiation and XLA compilation (profile.first_execution_phase)
)


def annotation(name: str) -> Any:
    """A named range on TensorFlow's profiler time line."""
    import tensorflow as tf

    return tf.profiler.experimental.Trace(name)


def profile_window(run: Callable[[], None], device: str) -> dict[str, np.ndarray]:  # noqa: ARG001 - one reader for every device
    """`run()` under TensorFlow's profiler: the trace's events by kind, as wall-clock
    intervals in ns (tensorflow_trace.py `trace_intervals`)."""
    from bench.runtime import tensorflow_trace  # not at the top: it is only for a profiled trial

    return tensorflow_trace.tensorflow_window(run)
