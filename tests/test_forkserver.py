"""isolation=fork: a block forked from a server that imported the framework once gives the
numbers a fresh process gives; a child that fails, hangs or is refused costs one error
row, never the server; the server never forks after a runtime started, and dies with its
parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from bench.config import ResultsConfig
from bench.run import forkserver, sweep

pytestmark = pytest.mark.slow
TINY_BLOCK = [
    "block.styles=[functional,raw]",
    "block.rounds=2",
    "train.warmup_steps=1",
    "train.timed_steps=4",
    "train.epochs=0",
    "train.anchor_steps=5",
    "train.latency_repeats=0",
    "train.save_load=false",
    "train.block_clock_steps=0",
    "data.max_train_samples=512",
    "data.max_test_samples=128",
]
# What a block computes, not how fast: equal to the bit in a fork and in a fresh process.
SAME = (
    "status", "style", "test_accuracy", "test_loss", "params", "matches_reference", "traces_to_first_step",
    "retraces_steady", "layer_calls", "graph_ops", "data_sha256", "threads", "block_position",
)  # fmt: skip


@pytest.fixture(scope="module")
def server():
    started = forkserver.Server("tensorflow", "cpu")
    yield started
    started.close()


@pytest.fixture
def block(run_config, tmp_path):
    return replace(run_config(*TINY_BLOCK, "sweep_id=f"), results=ResultsConfig(dir=str(tmp_path)))


def test_a_forked_block_computes_what_a_fresh_process_computes(block, server, monkeypatch):
    monkeypatch.setattr(
        forkserver, "_SERVERS", {("tensorflow", "cpu", os.environ.get("CUDA_VISIBLE_DEVICES")): server}
    )
    fresh = sweep.run_isolated(replace(block, isolation="process"), None)
    forked = sweep.run_forked(replace(block, isolation="fork"), None)
    assert [r["status"] for r in fresh] == [r["status"] for r in forked] == ["ok", "ok"]
    for one, other in zip(fresh, forked, strict=True):
        assert {k: one.get(k) for k in SAME} == {k: other.get(k) for k in SAME}
        assert other["step_ms_median"] > 0 and other["time_to_first_step_ms"] > 0
    # the fork's import is the server's one import, paid before the fork, not in the block
    assert {r["import_s"] for r in forked} == {server.import_s}
    assert all(r["import_s"] > 0.5 for r in fresh)
    assert forkserver.server_for("tensorflow", "cpu") is server  # reused, not restarted


def test_a_failing_or_hanging_child_is_reported_and_the_server_goes_on(block, server, tmp_path):
    missing = server.run(
        "bench.run.worker", [tmp_path / "nowhere.json", tmp_path / "r.json"], tmp_path / "a.log", 60
    )
    assert missing.returncode == 1 and not missing.timed_out
    assert "FileNotFoundError" in missing.log and "nowhere.json" in missing.log
    config = tmp_path / "config.json"
    slow = replace(block, train=replace(block.train, inject_delay_ms=5000.0))
    config.write_text(json.dumps({"config": asdict(slow), "peak_gflops": None}, default=str))
    started = time.monotonic()
    hung = server.run("bench.run.worker", [config, tmp_path / "r.json"], tmp_path / "b.log", 3)
    assert hung.timed_out and hung.returncode == -9 and time.monotonic() - started < 30
    assert not (tmp_path / "r.json").exists()
    probe = server.run(
        "bench.runtime.__main__", ["tensorflow", "cpu", "float32", "0"], tmp_path / "c.log", 120
    )
    assert probe.returncode == 0 and json.loads(probe.log.strip().splitlines()[-1])["peak_gflops"] > 0
    with pytest.raises(forkserver.ServerError, match="did not fork.*unknown module 'os'"):
        server.run("os", [], tmp_path / "d.log", 10)
    assert server.alive()


def test_run_forked_turns_a_hang_into_an_error_row_for_each_style(block, server, monkeypatch):
    monkeypatch.setattr(
        forkserver, "_SERVERS", {("tensorflow", "cpu", os.environ.get("CUDA_VISIBLE_DEVICES")): server}
    )
    slow = replace(
        block, isolation="fork", trial_timeout_s=3, train=replace(block.train, inject_delay_ms=5000.0)
    )
    records = sweep.run_forked(slow, None)
    assert [r["status"] for r in records] == ["error", "error"]
    assert all(r["error"] == "trial timed out after 3 s" for r in records)


def test_the_server_forks_only_before_the_runtime_starts():
    import tensorflow as tf

    tf.constant(1.0).numpy()  # this test process's runtime has started
    assert "eager context" in forkserver.runtime_started("tensorflow")


def test_the_server_dies_with_its_parent(tmp_path):
    script = (
        "import os, signal, sys\n"
        "from bench.run import forkserver\n"
        "server = forkserver.Server('tensorflow', 'cpu')\n"
        "print(server.process.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    pid = int(finished.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            break  # a zombie waiting for init to reap it: dead
        time.sleep(0.2)
    gone = not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert gone, "the fork server outlived the process that started it"


def test_a_server_that_cannot_start_says_why(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a "Python" that exits at once
    with pytest.raises(
        forkserver.ServerError, match="tensorflow fork server did not start: it exited with status 1"
    ):
        forkserver.Server("tensorflow", "cpu", start_timeout_s=30)
