"""Where a result was measured: versions, hardware, git commit, and the machine's
fp32 matmul peak from a short probe (run once per sweep and host)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """The project's commit (with '+dirty' when the tree has changes), or '' outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{commit}+dirty" if commit and status else commit


def host_environment() -> dict[str, Any]:
    """What can be known without importing TensorFlow (the driver stays light)."""
    return {
        "host": socket.gethostname(),
        "python_version": platform.python_version(),
        "tensorflow_version": package_version("tensorflow"),
        "keras_version": package_version("keras"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "git_commit": git_commit(),
    }


def accelerator_environment() -> dict[str, Any]:
    """CUDA build version and GPU name, as the TensorFlow in this process sees them."""
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    gpus = tf.config.list_physical_devices("GPU")
    gpu_name = ""
    if gpus:
        gpu_name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return {"cuda_version": str(build.get("cuda_version", "")), "gpu_name": gpu_name}


def matmul_peak_gflops(size: int = 1024, seconds: float = 1.0) -> float:
    """Best fp32 GFLOP/s of a square matmul, fetched after each batch of 10 calls."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
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


if __name__ == "__main__":
    # `python -m bench.machine`: the peak probe in a fresh process, one JSON line out.
    import json

    import bench  # noqa: F401  (quiet TensorFlow logs)

    print(json.dumps({"peak_gflops": matmul_peak_gflops()}))
