"""The JAX backend's runtime: device read back, start-up, accelerator facts, the matmul
peak, the anchor step, the blocking fetch and the compiled forward call. TensorFlow-free.

JAX dispatches asynchronously: a call returns before its work is done, so every timed
interval here ends in a host fetch (`np.asarray`, which waits) or `block_until_ready`.
Facts that bite, handled where the process starts (bench/backends.py `select`): JAX
takes 75% of a GPU's memory at its first use unless XLA_PYTHON_CLIENT_PREALLOCATE=false,
and a CPU trial sets JAX_PLATFORMS=cpu. JAX computes in float32 unless x64 is enabled,
which the suite never does: every style's weights and inputs are float32. XLA sizes its
CPU thread pool itself; `hardware.threads` is refused at the door for jax.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.config import HardwareConfig
from bench.runtime import anchor
from bench.runtime.common import (
    COMPUTE_DTYPES,
    PROFILE_INPUT,
    TRACE_KINDS,
    SettingsNotApplied,
    available_cores,
    first_keras_use,
    intervals,
)

# What the rest of the suite asks of this backend (bench/runtime/__init__.py says what each means).
PIPELINE = "numpy"
TENSORFLOW_FREE = True
THREADS_REFUSED = "XLA sizes its own CPU thread pool"
COMPILED = "xla"
TRACES_TRAIN_STEP = True
NOT_COMPILED = "eager"


MATMUL_PRECISION = {False: "float32", True: "tensorfloat32"}  # hardware.tf32 -> jax_default_matmul_precision


def _platform(hardware: HardwareConfig) -> str:
    return "gpu" if hardware.device == "gpu" else "cpu"


def configure(hardware: HardwareConfig) -> dict[str, Any]:
    """Start JAX on the trial's device and read the device back."""
    import jax

    if hardware.device == "gpu":
        try:
            jax.devices("gpu")
        except RuntimeError:
            return {"skipped": "no GPU visible to JAX on this machine"}
    # float32 dots and convolutions in full float32 (JAX's default on a GPU is TF32), or TF32
    jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION[hardware.tf32])
    if jax.config.jax_default_matmul_precision != MATMUL_PRECISION[hardware.tf32]:
        raise SettingsNotApplied(f"hardware.tf32={hardware.tf32} asked, but JAX did not take it")
    started = time.perf_counter()
    jax.numpy.ones(1).block_until_ready()  # start the runtime and its client
    first_keras_use()
    runtime_init_ms = (time.perf_counter() - started) * 1000.0
    if jax.default_backend() != _platform(hardware):
        raise SettingsNotApplied(
            f"hardware.device={hardware.device} asked, but JAX runs on {jax.default_backend()}: it had "
            "started before this trial; run it with isolation=process"
        )
    return {"runtime_init_ms": runtime_init_ms, "threads": available_cores()}


def accelerator_environment() -> dict[str, Any]:
    """The GPU's name as JAX sees it and the CUDA version its plugin runs ('' on a CPU)."""
    import jax

    if jax.default_backend() != "gpu":
        return {"cuda_version": "", "gpu_name": ""}
    return device_facts()


def device_facts() -> dict[str, str]:
    """The default device's kind and its platform's version (on a GPU, the CUDA version),
    on whatever device JAX runs: the GPU branch above, testable on a CPU. `jax.extend` is a
    submodule `import jax` does not load."""
    import jax
    import jax.extend.backend

    version = getattr(jax.extend.backend.get_backend(), "platform_version", "")
    return {"cuda_version": str(version), "gpu_name": str(jax.devices()[0].device_kind)}


def host_pool_mb() -> tuple[float, float]:
    """NaN: XLA exposes no count of its host allocations; its CPU tensors come from the C
    heap, whose freed pages the memory phases hand back to the kernel before they start."""
    return math.nan, math.nan


def reset_host_pool_peak() -> None:
    """Nothing to reset (`host_pool_mb`)."""


def accelerator_peak_mb() -> float:
    """The process's peak GPU memory in MiB as XLA's allocator counts it (NaN without a GPU)."""
    import jax

    if jax.default_backend() != "gpu":
        return math.nan
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use", math.nan) / 2**20


def matmul_peak_gflops(hardware: HardwareConfig, size: int = 1024, seconds: float = 1.0) -> float:
    """Best GFLOP/s of a jitted square matmul in the precision's compute dtype, waited on
    after each batch of 10 calls."""
    import jax
    import jax.numpy as jnp

    dtype = COMPUTE_DTYPES[hardware.precision]
    keys = jax.random.split(jax.random.key(0))
    a = jax.random.normal(keys[0], (size, size)).astype(dtype)
    b = jax.random.normal(keys[1], (size, size)).astype(dtype)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()  # warm-up: compile, thread pool start
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        for _ in range(10):
            product = matmul(a, b)
        product.block_until_ready()
        best = max(best, 10 * 2 * size**3 / (time.perf_counter() - started) / 1e9)
    return best


def anchor_step() -> Callable[[], Any]:
    """The anchor's SGD step (bench/runtime/anchor.py), jitted, fetched after every call."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.key(7), 4)
    x = jax.random.uniform(keys[0], (anchor.BATCH, anchor.INPUTS))
    y = jax.random.randint(keys[1], (anchor.BATCH,), 0, anchor.CLASSES)
    weights = [
        jax.random.normal(keys[2], (anchor.INPUTS, anchor.HIDDEN)) * 0.05,
        jnp.zeros(anchor.HIDDEN),
        jax.random.normal(keys[3], (anchor.HIDDEN, anchor.CLASSES)) * 0.05,
        jnp.zeros(anchor.CLASSES),
    ]

    def loss(params: list[Any]) -> Any:
        logits = jax.nn.relu(x @ params[0] + params[1]) @ params[2] + params[3]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(anchor.BATCH), y])

    @jax.jit
    def step(params: list[Any]) -> tuple[list[Any], Any]:
        value, gradients = jax.value_and_grad(loss)(params)
        return [p - anchor.LEARNING_RATE * g for p, g in zip(params, gradients, strict=True)], value

    def run() -> Any:
        nonlocal weights
        weights, value = step(weights)
        return np.asarray(value)

    return run


def fetch(value: Any) -> np.ndarray:
    """The value on the host: `np.asarray` waits for the asynchronous work that made it."""
    return np.asarray(value)


def compiled(function: Callable[..., Any], xla: bool) -> Callable[..., Any]:
    """The forward call under `jax.jit` (XLA; the weights of a Keras model it closes over are
    compiled in as constants); without XLA it is the eager call, as Keras's own is."""
    import jax

    return jax.jit(function) if xla else function


def runtime_started() -> str:
    """Why forking this process now would be unsafe ('' when it would not): a JAX backend
    (and its threads) exists."""
    from jax._src import xla_bridge

    if xla_bridge._backends:
        return f"JAX's backends are initialised: {sorted(xla_bridge._backends)}"
    return ""


_STATE = ("trainable_variables", "non_trainable_variables", "optimizer_variables", "metrics_variables")


def train_function_step(trainer: Any, iterator: Any) -> dict[str, Any]:
    """One call of the model's compiled `train_function`, as Keras's fit makes it: a pure
    function of the state, threaded through `trainer.jax_state` from call to call (handed
    back to the model's variables by `end_train_function_steps`). The logs are not fetched."""
    model = trainer.model
    state = getattr(trainer, "jax_state", None) or model._get_jax_state(
        **dict.fromkeys(_STATE, True), purge_model_variables=False
    )
    logs, trainer.jax_state = model.train_function(state, iterator)
    return logs


def end_train_function_steps(trainer: Any) -> None:
    """Hand the state `train_function_step` threaded back to the model's variables."""
    state = getattr(trainer, "jax_state", None)
    if state is not None:
        trainer.model._jax_state = dict(zip(_STATE, state, strict=True))
        trainer.model._jax_state_synced = False
        trainer.model.jax_state_sync()
        trainer.jax_state = None


def xla_auto(device: str) -> bool:
    """What Keras's `jit_compile="auto"` compiles to on JAX, on any device: jax.jit (XLA)."""
    return True


# The step breakdown (bench/measure/profile.py): JAX's profiler, parsed from its XSpace with JAX's own reader.
SPLITS_FIRST_EXECUTION = False  # the first-execution split reads TensorFlow's graph-building events
XLA_CPU_LINE = "tf_XLA"  # the host plane's lines of XLA's CPU threads, where a CPU step's kernels run
IDLE_EVENTS = ("ThreadpoolListener",)  # the thread pools' bookkeeping markers: not work
DEVICE_LINES = ("Stream", "XLA Ops")  # a GPU plane's kernel and copy lines (not its per-module spans)
# on XLA's CPU threads, the executor waiting for its kernels and handing over transfers: no kernel
NOT_KERNELS = ("wait for completion", "Await", "Dispatch")


def annotation(name: str) -> Any:
    """A named range on JAX's profiler time line."""
    import jax

    return jax.profiler.TraceAnnotation(name)


def trace_kind(plane: str, line: str, name: str, device: str) -> str | None:
    """What an event of JAX's trace is: `compute` (a kernel on the trial's device: on a CPU,
    XLA's CPU threads running the program's thunks; on a GPU, the device's streams), `input`
    (the pipeline's range), `framework` (any other host event: dispatch, argument handling,
    transfers, the executor waiting between kernels) or None (thread pools' markers, and a
    GPU's per-module summary lines).

    A process that has imported TensorFlow records none of JAX's events here (the two
    share the profiler's machinery): a jax trial never imports it (bench/runtime
    `keep_tensorflow_out`), and `profile_phase` refuses a trace without a kernel."""
    if name == PROFILE_INPUT:
        return "input"
    if name.startswith(IDLE_EVENTS):
        return None
    if plane.startswith("/device:"):
        return "compute" if line.startswith(DEVICE_LINES) else None
    if device == "cpu" and line.startswith(XLA_CPU_LINE) and not any(part in name for part in NOT_KERNELS):
        return "compute"
    return "framework"


def profile_window(run: Callable[[], None], device: str) -> dict[str, np.ndarray]:
    """`run()` under JAX's profiler (host tracer level 2, no Python tracer): the trace's
    events by kind (`trace_kind`), as wall-clock intervals in ns since the epoch."""
    import glob
    import tempfile

    import jax
    from jax.profiler import ProfileData, ProfileOptions

    options = ProfileOptions()
    options.host_tracer_level, options.python_tracer_level = 2, 0
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder, profiler_options=options)
        try:
            run()
        finally:
            jax.profiler.stop_trace()
        paths = sorted(glob.glob(f"{folder}/plugins/profile/*/*.xplane.pb"))
        if not paths:
            raise ValueError(f"JAX's profiler wrote no trace under {folder}")
        trace = ProfileData.from_file(paths[-1])
    start_ns = dict(trace.find_plane_with_name("Task Environment").stats)["profile_start_time"]
    kinds: dict[str, list[tuple[float, float]]] = {kind: [] for kind in TRACE_KINDS}
    for plane in trace.planes:
        for line in plane.lines:
            for event in line.events:
                kind = trace_kind(plane.name, line.name, event.name, device)
                if kind is not None:
                    begin = start_ns + event.start_ns
                    kinds[kind].append((begin, begin + event.duration_ns))
    return intervals(kinds)
