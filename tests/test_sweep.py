"""Sweeps: Hydra multirun, interleaved order, resume after SIGKILL, error rows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from overrides import TINY_TRIAL

from bench import cli, results, runtime
from bench.archs import default_spec
from bench.config import HardwareConfig, ResultsConfig, RunConfig
from bench.run import sweep
from hydra_plugins.stylebench_sweeper.interleaved_sweeper import interleave

pytestmark = pytest.mark.slow
TINY = [*TINY_TRIAL, "train.latency_repeats=2", "train.latency_budget_ms=0"]
BENCH = str(Path(sys.executable).parent / "bench")


def test_interleave_runs_each_repeat_in_turn_shuffled_by_seed():
    jobs = [[f"style={s}", f"arch={a}", f"repeat={r}"] for s in "ab" for a in "xy" for r in (1, 2)]
    ordered = interleave(jobs, seed=3)
    assert [job[2] for job in ordered] == ["repeat=1"] * 4 + ["repeat=2"] * 4
    assert sorted(map(tuple, ordered)) == sorted(map(tuple, jobs))
    assert ordered == interleave(jobs, seed=3) and ordered != interleave(jobs, seed=4)


def test_sweep_writes_one_typed_row_per_trial_with_metadata(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    overrides = [
        "style=raw,functional",
        "arch=mlp,cnn",
        "repeat=1,2",
        "sweep_id=s",
        f"results.dir={tmp_path}",
        "isolation=inline",
    ]
    assert cli.main(["run", "-m", *overrides, *TINY]) == 0
    frame = results.load(tmp_path / "s")
    assert len(frame) == 8 and frame["trial_key"].is_unique
    assert set(frame["status"]) == {"ok"}
    assert frame.dtypes.astype(str).to_dict() == {k: str(frame[k].dtype) for k in results.SCHEMA}
    assert (frame["schema_version"] == results.SCHEMA_VERSION).all()
    assert sorted(frame["sweep_order"]) == list(range(8))
    assert (frame.loc[frame["repeat"] == 1, "sweep_order"] < 4).all()  # repeat 1 ran first
    assert (frame["isolation"] == "inline").all() and frame["import_s"].isna().all()
    for column in (
        "tensorflow_version",
        "keras_version",
        "python_version",
        "cpu_model",
        "git_commit",
        "host",
    ):
        assert frame[column].str.len().min() > 0, column
    assert (frame["cpu_count"] >= 1).all() and (frame["duration_s"] > 0).all()
    assert frame["started_at"].notna().all() and frame["matches_reference"].all()
    assert (frame["data_source"] == "embedded").all() and (frame["data_train_samples"] == 512).all()
    assert (frame["peak_gflops"] > 0).all() and (tmp_path / "s").glob("machine-*.json")
    assert set(frame["arch"]) == {"mlp", "cnn"} and set(frame["style"]) == {"raw", "functional"}


def test_a_process_isolated_trial_imports_tensorflow_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A peak probe already on file: its own process would double this test's time (make bench runs it).
    (tmp_path / "p").mkdir()
    probe_key = runtime.probe_key(HardwareConfig())
    (tmp_path / "p" / f"machine-{socket.gethostname()}-{probe_key}.json").write_text('{"peak_gflops": 100.0}')
    overrides = ["style=subclass", "sweep_id=p", f"results.dir={tmp_path}"]
    assert cli.main(["run", *overrides, *TINY]) == 0
    row = results.load(tmp_path / "p").iloc[0]
    assert row["status"] == "ok" and row["isolation"] == "process"
    assert row["import_s"] > 0.5  # TensorFlow and Keras were imported in the trial's own process
    assert row["save_load_ok"] and row["peak_rss_mb"] > 100 and row["peak_gflops"] == 100.0


def _row_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet"))


def test_killed_sweep_resumes_without_duplicates(tmp_path):
    folder = tmp_path / "k"
    command = [
        BENCH,
        "run",
        "-m",
        "style=raw",
        "arch=mlp",
        "repeat=1,2,3,4",
        "isolation=inline",
    ]
    command += ["sweep_id=k", f"results.dir={tmp_path}", *TINY]
    runner = subprocess.Popen(
        command, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while len(_row_files(folder)) < 2 and time.monotonic() < deadline and runner.poll() is None:
        time.sleep(0.2)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    before = {path.name: path.stat().st_mtime_ns for path in _row_files(folder)}
    assert 2 <= len(before) < 4, "the runner must be killed midway"

    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    frame = results.load(folder)
    assert len(frame) == 4 and frame["trial_key"].is_unique  # none lost, none twice
    assert {
        path.name: path.stat().st_mtime_ns for path in _row_files(folder) if path.name in before
    } == before


def test_a_crashing_trial_leaves_an_error_row_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A 30x30 kernel does not fit a 28x28 digit: building that model raises.
    overrides = ["style=raw", "arch=cnn", "arch.kernel_size=3,30", "isolation=inline", "sweep_id=c"]
    assert cli.main(["run", "-m", *overrides, f"results.dir={tmp_path}", *TINY]) == 0
    frame = results.load(tmp_path / "c").set_index("arch_config")
    statuses = dict(zip(frame.index.str.contains('"kernel_size": 30'), frame["status"], strict=True))
    assert statuses == {False: "ok", True: "error"}
    assert frame["error"].dropna().str.len().min() > 0


def test_a_killed_trial_process_becomes_an_error_record():
    config = RunConfig(style="raw", arch=default_spec("mlp"))
    [record] = sweep.run_isolated(config, None, module="tests.fixtures.selfkill_worker")
    assert record["status"] == "error"
    assert record["error"].startswith("killed by SIGKILL (out of memory?)")
    assert "allocating a very large tensor" in record["error"]


def test_gpu_request_without_a_gpu_records_a_skipped_row(tmp_path, monkeypatch):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible here")
    monkeypatch.chdir(tmp_path)
    overrides = ["hardware.device=gpu", "isolation=inline", "sweep_id=g", f"results.dir={tmp_path}"]
    assert cli.main(["run", *overrides, *TINY]) == 0
    row = results.load(tmp_path / "g").iloc[0]
    assert row["status"] == "skipped" and "no GPU visible" in row["reason"]


def test_rerun_of_a_finished_trial_returns_the_stored_row(tmp_path):
    folder = ResultsConfig(dir=str(tmp_path))
    config = RunConfig(style="sequential", arch=default_spec("residual"), isolation="inline", results=folder)
    first = sweep.run_job(config)
    second = sweep.run_job(config)
    assert first[0]["status"] == second[0]["status"] == "not_applicable"
    assert len(list((tmp_path / config.sweep_id).glob("*.parquet"))) == 1
