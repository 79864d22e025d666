"""The PyTorch backend's runtime: threads and device read back, start-up, accelerator facts,
the matmul peak, the anchor step, the blocking fetch and the compiled forward call.
TensorFlow-free.

On a CPU torch runs each op to completion before it returns; on a GPU its kernels run
asynchronously, so every timed interval ends with a device synchronize (through `fetch`,
which copies to the host). A CPU trial hides CUDA before torch is imported
(bench/backends.py `select`), because Keras's torch backend puts every tensor on the GPU
whenever one is visible.
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
    first_keras_use,
    intervals,
)

# What the rest of the suite asks of this backend (bench/runtime/__init__.py says what each means).
PIPELINE = "numpy"
TENSORFLOW_FREE = True
THREADS_REFUSED = ""
COMPILED = "torch.compile"
TRACES_TRAIN_STEP = False
NOT_COMPILED = "eager"


def _device(hardware: HardwareConfig) -> str:
    return "cuda" if hardware.device == "gpu" else "cpu"


def configure(hardware: HardwareConfig) -> dict[str, Any]:
    """Apply threads, start torch on the trial's device, read both back."""
    import torch

    if hardware.threads > 0:
        torch.set_num_threads(hardware.threads)
    # torch's defaults differ by op (float32 matmuls, TF32 cuDNN convolutions): both set alike
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = hardware.tf32
    if (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) != (hardware.tf32,) * 2:
        raise SettingsNotApplied(f"hardware.tf32={hardware.tf32} asked, but torch did not take it")
    if hardware.device == "gpu" and not torch.cuda.is_available():
        return {"skipped": "no GPU visible to torch on this machine"}
    started = time.perf_counter()
    (torch.ones(1, device=_device(hardware)) + 1.0).cpu()  # start the runtime (and CUDA's context)
    first_keras_use()
    runtime_init_ms = (time.perf_counter() - started) * 1000.0
    threads = torch.get_num_threads()
    if hardware.threads > 0 and threads != hardware.threads:
        raise SettingsNotApplied(f"hardware.threads={hardware.threads} asked, but torch runs with {threads}")
    from keras.src.backend.torch.core import get_device

    if not get_device().startswith(_device(hardware)):
        raise SettingsNotApplied(
            f"hardware.device={hardware.device} asked, but Keras puts tensors on {get_device()}: "
            "CUDA was initialised before this trial; run it with isolation=process"
        )
    return {"runtime_init_ms": runtime_init_ms, "threads": threads}


def accelerator_environment() -> dict[str, Any]:
    """The CUDA version torch was built with and the GPU's name ('' on a CPU)."""
    import torch

    gpu_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return {"cuda_version": str(torch.version.cuda or ""), "gpu_name": gpu_name}


def host_pool_mb() -> tuple[float, float]:
    """NaN: torch exposes no count of its host allocations; its CPU tensors come from the C
    heap, whose freed pages the memory phases hand back to the kernel before they start."""
    return math.nan, math.nan


def reset_host_pool_peak() -> None:
    """Nothing to reset (`host_pool_mb`)."""


def accelerator_peak_mb() -> float:
    """The process's peak GPU memory in MiB as torch's caching allocator counts it (NaN without a GPU)."""
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return math.nan
    return torch.cuda.max_memory_allocated() / 2**20


def _synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak_gflops(hardware: HardwareConfig, size: int = 1024, seconds: float = 1.0) -> float:
    """Best GFLOP/s of a square matmul in the precision's compute dtype on the trial's
    device, synchronized after each batch of 10 calls."""
    import torch

    device = _device(hardware)
    dtype = getattr(torch, COMPUTE_DTYPES[hardware.precision])
    generator = torch.Generator().manual_seed(0)
    a = torch.randn((size, size), generator=generator).to(device=device, dtype=dtype)
    b = torch.randn((size, size), generator=generator).to(device=device, dtype=dtype)
    torch.matmul(a, b)
    _synchronize(device)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        for _ in range(10):
            torch.matmul(a, b)
        _synchronize(device)
        best = max(best, 10 * 2 * size**3 / (time.perf_counter() - started) / 1e9)
    return best


def anchor_step() -> Callable[[], Any]:
    """The anchor's SGD step (bench/runtime/anchor.py) in plain autograd, fetched after every call,
    on the trial's device (where Keras puts its tensors), as the other backends' anchors run
    on theirs. The values are drawn on the CPU, so they are the same on every device."""
    import torch
    from keras.src.backend.torch.core import get_device

    device = get_device()
    generator = torch.Generator().manual_seed(7)
    x = torch.rand((anchor.BATCH, anchor.INPUTS), generator=generator).to(device)
    y = torch.randint(0, anchor.CLASSES, (anchor.BATCH,), generator=generator).to(device)
    weights = [
        (torch.randn((anchor.INPUTS, anchor.HIDDEN), generator=generator) * 0.05).to(device).requires_grad_(),
        torch.zeros(anchor.HIDDEN, device=device, requires_grad=True),
        (torch.randn((anchor.HIDDEN, anchor.CLASSES), generator=generator) * 0.05)
        .to(device)
        .requires_grad_(),
        torch.zeros(anchor.CLASSES, device=device, requires_grad=True),
    ]

    def step() -> Any:
        logits = torch.relu(x @ weights[0] + weights[1]) @ weights[2] + weights[3]
        loss = torch.nn.functional.cross_entropy(logits, y)
        gradients = torch.autograd.grad(loss, weights)
        with torch.no_grad():
            for weight, gradient in zip(weights, gradients, strict=True):
                weight.sub_(anchor.LEARNING_RATE * gradient)
        return loss.detach().cpu().numpy()

    return step


def fetch(value: Any) -> np.ndarray:
    """The value on the host (a copy from the GPU synchronizes with it)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def compiled(function: Callable[..., Any], xla: bool) -> Callable[..., Any] | None:
    """The forward call under `torch.compile` when the trial compiles (hardware.xla), else
    None: torch has no graph mode between eager and torch.compile."""
    import torch

    return torch.compile(function) if xla else None


def runtime_started() -> str:
    """Why forking this process now would be unsafe ('' when it would not): CUDA's context
    exists (torch's CPU thread pools survive a fork)."""
    import torch

    if torch.cuda.is_initialized():
        return "torch has initialised CUDA"
    return ""


def train_function_step(trainer: Any, iterator: Any) -> dict[str, Any]:
    """One call of the model's `train_function`, as Keras's fit makes it on torch: it takes
    a list of batches, converted to tensors on the device. The logs are not fetched."""
    import keras

    batch = keras.tree.map_structure(keras.ops.convert_to_tensor, next(iterator))
    return trainer.model.train_function([batch])


def end_train_function_steps(trainer: Any) -> None:
    """Nothing to hand back: the model's variables were updated in place."""


def xla_auto(device: str) -> bool:
    """What Keras's `jit_compile="auto"` compiles to on torch, on any device: nothing (eager)."""
    return False


# The step breakdown (bench/measure/profile.py): torch's profiler (Kineto), read from its events.
SPLITS_FIRST_EXECUTION = False  # the first-execution split reads TensorFlow's graph-building events
DEVICE_ACTIVITIES = ("kernel", "gpu_memcpy", "gpu_memset")  # Kineto's device-side work


def annotation(name: str) -> Any:
    """A named range on torch's profiler time line."""
    import torch

    return torch.profiler.record_function(name)


def trace_kind(activity: str, name: str, device: str) -> str | None:
    """What an event of torch's trace is: `compute` (on a CPU, an ATen op, which runs its
    kernel before it returns; on a GPU, a kernel or copy on the device), `input` (the
    pipeline's range), `framework` (every other host event: autograd's engine, the
    optimizer's step, on a GPU the ATen ops that launch kernels and CUDA's runtime calls)
    or None (a device-side copy of a host range)."""
    if name == PROFILE_INPUT and activity == "user_annotation":
        return "input"
    if activity in DEVICE_ACTIVITIES:
        return "compute"
    if activity.startswith("gpu_"):
        return None
    if device == "cpu" and activity == "cpu_op" and name.startswith("aten::"):
        return "compute"
    return "framework"


def profile_window(run: Callable[[], None], device: str) -> dict[str, np.ndarray]:
    """`run()` under torch's profiler (CPU activities, and CUDA's on a GPU): the trace's
    events by kind (`trace_kind`), as wall-clock intervals in ns since the epoch (Kineto's
    clock; it agreed with `time.time_ns` within 5 µs here)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "gpu" else [])
    with profile(activities=activities) as profiler:
        run()
    kinds: dict[str, list[tuple[float, float]]] = {kind: [] for kind in TRACE_KINDS}
    for event in profiler.profiler.kineto_results.events():
        kind = trace_kind(event.activity_type(), event.name(), device)
        if kind is not None:
            kinds[kind].append((event.start_ns(), event.end_ns()))
    return intervals(kinds)
