"""The GPU toggle: the `gpu` tests run each installed backend's trial, block, verify and
report paths on the device, and are skipped with the reason on a machine without one
(tests/conftest.py). The CPU-side test checks what such a machine must still do: a GPU
trial becomes a `skipped` row with its reason, and `bench status --require-ran` (the end
of `make gpu-check`) fails on it instead of passing a check that ran nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import backends, cli, results
from tests.conftest import gpu_missing

ROOT = Path(__file__).resolve().parent.parent
STYLES = "block.styles=[sequential,functional,subclass,functions,raw]"
SHORT = ["train.warmup_steps=2", "train.timed_steps=12", "block.rounds=2", "train.anchor_steps=5", "train.latency_repeats=1"]  # fmt: skip
INSTALLED = [pytest.param(b, marks=pytest.mark.skipif(not backends.installed(b), reason=backends.missing_reason(b))) for b in backends.BACKENDS]  # fmt: skip


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`bench ...` in a fresh process (a GPU trial's backend and device are set at its start)."""
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, timeout=900, cwd=cwd
    )


@pytest.mark.slow
def test_without_a_gpu_a_gpu_sweep_gives_skipped_rows_and_the_gpu_check_fails(tmp_path, monkeypatch, capsys):
    if not gpu_missing():
        pytest.skip("a GPU is visible here: the gpu tests run instead")
    monkeypatch.chdir(tmp_path)
    overrides = [
        "hardware=gpu",
        "data=embedded",
        "arch=mlp",
        "block.styles=[functional,raw]",
        "isolation=inline",
    ]
    assert cli.main(["run", "-m", *overrides, "sweep_id=g", *SHORT]) == 0
    frame = results.load(tmp_path / "results" / "g")
    assert list(frame["status"]) == ["skipped", "skipped"]
    assert frame["reason"].str.contains("no GPU visible").all()
    capsys.readouterr()
    assert cli.main(["status", str(tmp_path / "results" / "g")]) == 0  # every trial has its row
    assert cli.main(["status", "--require-ran", str(tmp_path / "results" / "g")]) == 1
    assert "2 of 2 trials skipped, not run: no GPU visible" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.parametrize("backend", INSTALLED)
def test_every_style_runs_its_block_on_the_gpu_with_default_phases(backend, tmp_path):
    """Epochs, block clock, latency and save/load at their defaults; every row ok, on the GPU."""
    done = bench("run", "-m", f"backend={backend}", "hardware=gpu", "data=embedded", "arch=mlp,cnn,residual",
                 STYLES, "sweep_id=gpu", *SHORT, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    frame = results.load(tmp_path / "results" / "gpu")
    ran = frame[frame["status"] != "not_applicable"]
    assert (ran["status"] == "ok").all(), ran.loc[
        ran["status"] != "ok", ["style", "arch", "error"]
    ].to_string()
    assert (ran["gpu_name"].astype(str) != "").all() and (ran["hardware_device"] == "gpu").all()
    status = bench("status", "--require-ran", str(tmp_path / "results" / "gpu"), cwd=tmp_path)
    assert status.returncode == 0, status.stdout
    report = bench("report", str(tmp_path / "results" / "gpu"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "reports" / "gpu" / "index.html").exists()


@pytest.mark.gpu
@pytest.mark.parametrize("backend", INSTALLED)
def test_verify_proves_the_styles_identical_on_the_gpu(backend, tmp_path):
    done = bench("verify", "--backend", backend, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
