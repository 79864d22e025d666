"""Where a result was measured: versions, hardware and git commit, known without
importing TensorFlow (the runtime's own facts and the matmul peak: bench/runtime/)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]  # bench/measure/machine.py -> the project root


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
    """The project's commit (with '+dirty' when tracked files other than results/ have changes:
    results are data, and `make baseline` replaces results/baseline/ while it measures), or ''
    outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
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
