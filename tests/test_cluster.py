"""Beyond one machine: sweeps through Hydra's submitit and Ray launchers, contention recorded,
lost jobs as error rows, `bench status`, and exports to a real MLflow server and to
github-action-benchmark's JSON."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from overrides import TINY_TRIAL

from bench import cli, results
from bench.present.render import SUMMARY_LIMIT, within_limit
from bench.present.summarize import summarize
from bench.run import driver, jobs, plan, sweep
from hydra_plugins.stylebench_sweeper.interleaved_sweeper import launches_here, quoted

pytestmark = pytest.mark.slow
BENCH = str(Path(sys.executable).parent / "bench")
TINY = ["isolation=inline", *TINY_TRIAL, "train.latency_repeats=0", "train.save_load=false"]
GRID = ["style=raw,functional", "arch=mlp,cnn", "repeat=1,2"]


def bench_run(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """`bench run -m ...` as its own driver process, as a user runs it."""
    return subprocess.run(
        [BENCH, "run", "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def rows(folder: Path) -> pd.DataFrame:
    return results.load(folder).sort_values("trial_key").reset_index(drop=True)


@pytest.fixture(scope="module")
def submitit_sweep(tmp_path_factory) -> tuple[Path, str]:
    """2 styles × 2 archs × 2 repeats through submitit_local, two jobs at a time; the folder
    and the driver's standard output."""
    work = tmp_path_factory.mktemp("submitit")
    done = bench_run(
        *GRID, *TINY, "sweep_id=local", "results.dir=res",
        "hydra/launcher=submitit_local", "hydra.sweeper.max_batch_size=2",
        cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "res" / "local", done.stdout


@pytest.mark.long
def test_submitit_local_records_what_the_basic_launcher_records(submitit_sweep, tmp_path):
    folder, stdout = submitit_sweep
    assert cli.main(["run", "-m", *GRID, *TINY, "sweep_id=basic", f"results.dir={tmp_path}"]) == 0
    local, basic = rows(folder), rows(tmp_path / "basic")
    assert len(local) == 8 and list(local["trial_key"]) == list(basic["trial_key"])
    assert (local.dtypes == basic.dtypes).all() and list(local.columns) == list(basic.columns)
    assert list(local["status"]) == list(basic["status"]) == ["ok"] * 8
    # where each ran: two jobs at once on this host, each in its own slot, under submitit
    assert set(local["launcher"]) == {"submitit_local"} and set(basic["launcher"]) == {"basic"}
    assert set(local["concurrent_trials"]) == {2} and set(basic["concurrent_trials"]) == {1}
    assert set(local["job_slot"]) == {0, 1} and local["job_id"].nunique() == 8
    # the report warns about the shared host for the submitit sweep only
    assert any("same host" in b for b in summarize(results.load(folder)).banners)
    assert not any("same host" in b for b in summarize(results.load(tmp_path / "basic")).banners)
    # the driver printed the summary from the folder although every job ran in another process
    assert "sweep local: 8 trials planned, 0 recorded already, 8 to run" in stdout
    assert str(folder) in stdout and "functional" in stdout.split(str(folder))[-1]
    # the plan lists every trial in run order, and the driver probed the peak before any job
    written = plan.read(folder)
    assert sorted(t["trial_key"] for job in written["jobs"] for t in job["trials"]) == sorted(
        local["trial_key"]
    )
    assert [job["order"] for job in written["jobs"]] == list(range(8))
    assert len(written["probes"]) == 1 and written["probes"][0]["peak_gflops"] > 0
    assert local["peak_gflops"].nunique() == 1


@pytest.mark.long
def test_a_killed_submitit_job_becomes_an_error_row_and_a_rerun_fills_exactly_it(tmp_path):
    slow = ["train.timed_steps=300", "train.inject_delay_ms=40"]  # about 12 s of timed steps
    args = [
        "style=functional", "arch=mlp", "repeat=1,2", *TINY, *slow, "sweep_id=k", "results.dir=res",
        "hydra/launcher=submitit_local", "hydra.sweeper.max_batch_size=2",
    ]  # fmt: skip
    driver_process = subprocess.Popen(
        [BENCH, "run", "-m", *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    running = tmp_path / "res" / "k" / jobs.RUNNING
    deadline, victim = time.monotonic() + 120, None
    while victim is None and time.monotonic() < deadline:
        held = [m for m in running.glob("*.json")] if running.exists() else []
        facts = [jobs.read_marker(m) for m in held if jobs.is_held(m)]
        victim = next((f for f in facts if f.get("pid")), None)
        time.sleep(0.2)
    assert victim is not None, "no job started its trial"
    time.sleep(8.0)  # TensorFlow imported (about 6 s), training: mid-trial
    os.kill(victim["pid"], signal.SIGKILL)
    stdout, stderr = driver_process.communicate(timeout=300)
    assert driver_process.returncode == 0, stderr[-3000:]
    frame = rows(tmp_path / "res" / "k")
    lost = frame[frame["status"] == "error"]
    assert len(frame) == 2 and len(lost) == 1 and (frame["status"] == "ok").sum() == 1
    assert lost["reason"].iloc[0] == results.LOST and lost["trial_key"].iloc[0] in victim["trial_keys"]
    assert victim["job_id"] in lost["error"].iloc[0] and lost["job_id"].iloc[0] == victim["job_id"]
    survivor = frame[frame["status"] == "ok"].iloc[0]
    survivor_file = next((tmp_path / "res" / "k").glob(f"*_{survivor['trial_key']}.parquet"))
    stamp = survivor_file.stat().st_mtime_ns

    again = bench_run(*args, cwd=tmp_path)  # without --retry-errors: nothing to run
    assert again.returncode == 0 and "2 trials planned, 2 recorded already, 0 to run" in again.stdout
    retried = bench_run(*args, "--retry-errors", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr[-3000:]
    assert "1 recorded already, 1 to run, 1 error rows moved aside" in retried.stdout
    frame = rows(tmp_path / "res" / "k")
    assert list(frame["status"]) == ["ok", "ok"] and survivor_file.stat().st_mtime_ns == stamp
    kept = list((tmp_path / "res" / "k" / results.SUPERSEDED).glob("*.parquet"))
    assert len(kept) == 1 and pd.read_parquet(kept[0])["reason"].iloc[0] == results.LOST


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray_processes() -> list[str]:
    found = subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True, text=True)
    return found.stdout.split()


@pytest.mark.long
def test_a_sweep_through_the_ray_launcher_on_a_local_ray_instance(tmp_path):
    """The launcher starts a local Ray instance on 127.0.0.1, without dashboard, for this sweep;
    it is gone when the sweep ends. (`ray start` + joining it by address failed on this machine
    with "ConnectionError: Failed to connect to Ray cluster": docs/clusters.md "Running on a cluster".)"""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="pip install -e '.[ray]'")
    assert not _ray_processes(), "a Ray instance is running already"
    done = bench_run(
        "style=raw,functional", "arch=mlp", *TINY, "sweep_id=r", "results.dir=res", "hydra/launcher=ray",
        "+hydra.launcher.ray.init._node_ip_address=127.0.0.1",
        "+hydra.launcher.ray.init.include_dashboard=false", "hydra.sweeper.max_batch_size=2",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    frame = rows(tmp_path / "res" / "r")
    assert list(frame["status"]) == ["ok", "ok"] and set(frame["launcher"]) == {"ray"}
    assert frame["job_id"].nunique() == 2 and not frame["job_id"].str.startswith("pid-").any()
    deadline = time.monotonic() + 30
    while _ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_processes(), "the Ray instance outlived the sweep"


def _held_marker(folder: Path, job: dict, ready: threading.Event, release: threading.Event) -> None:
    config = pd.Series(job["trials"][0])
    keys = [t["trial_key"] for t in job["trials"]]
    slots = folder / "slots"
    with jobs.placed(folder, job["marker"], keys, str(config["hardware_device"]), slots=slots):
        ready.set()
        release.wait(30)


@pytest.mark.long
def test_status_of_a_half_finished_sweep(submitit_sweep, tmp_path):
    folder = tmp_path / "half"
    shutil.copytree(submitit_sweep[0], folder)
    planned = plan.read(folder)["jobs"]
    (folder / planned[0]["trials"][0]["file"]).unlink()  # missing
    (folder / planned[1]["trials"][0]["file"]).unlink()  # running, below
    failed = folder / planned[2]["trials"][0]["file"]
    row = results.load(failed).iloc[0].to_dict()
    results.archive(failed)
    results.write_row(
        failed, {**row, "status": "error", "error": "MemoryError: out of memory", "job_id": "77_3"}
    )
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_held_marker, args=(folder, planned[1], ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        text = plan.status_table(folder)
        code = cli.main(["status", str(folder)])
    finally:
        release.set()
        holder.join()
    assert text.splitlines()[0] == "sweep local: 8 trials planned, 5 done, 1 running, 1 error, 1 missing"
    overall = next(line for line in text.splitlines() if line.strip().startswith("all")).split()
    assert overall == ["all", "8", "5", "1", "1", "1"]
    assert f"(job 77_3 on {socket.gethostname()}): MemoryError: out of memory" in text
    assert f"job pid-{os.getpid()} on {socket.gethostname()}" in text.split("running:")[1]
    assert code == 1
    after = plan.status_table(folder).splitlines()[0]  # the marker released: running -> missing
    assert after == "sweep local: 8 trials planned, 5 done, 0 running, 1 error, 2 missing"


def test_status_of_a_folder_without_a_plan_names_the_fix(tmp_path, capsys):
    assert cli.main(["status", str(tmp_path)]) == 2
    assert "no plan.json" in capsys.readouterr().err


@pytest.fixture
def mlflow_server(tmp_path):
    pytest.importorskip("mlflow", reason="pip install -e '.[mlflow]'")
    port = _free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail(f"mlflow server did not start: {server.stderr.read()[-2000:] if server.stderr else ''}")
    yield url
    server.terminate()
    server.wait(30)


@pytest.mark.long
def test_export_to_a_real_mlflow_server_is_one_run_per_trial_and_idempotent(
    submitit_sweep, mlflow_server, tmp_path, capsys
):
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "sweep"
    shutil.copytree(submitit_sweep[0], folder)
    report = tmp_path / "report"
    report.mkdir()
    (report / "summary.md").write_text("## stylebench\n")
    export = ["export", "mlflow", str(folder), "--tracking-uri", mlflow_server, "--report", str(report)]
    assert cli.main(export) == 0
    assert "8 trial runs created, 0 replaced, 0 already there" in capsys.readouterr().out
    assert cli.main(export) == 0
    assert "0 trial runs created, 0 replaced, 8 already there" in capsys.readouterr().out
    # a retried trial's new row replaces its run: still one run per trial
    first = sorted(folder.glob("*.parquet"))[0]
    row = results.load(first).iloc[0].to_dict()
    results.archive(first)
    results.write_row(first, {**row, "started_at": row["started_at"] + pd.Timedelta(seconds=1)})
    assert cli.main(export) == 0
    assert "0 trial runs created, 1 replaced, 7 already there" in capsys.readouterr().out

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("stylebench").experiment_id
    trials = client.search_runs([experiment], "tags.`stylebench.role` = 'trial'", max_results=100)
    frame = rows(folder).set_index("trial_key")
    assert sorted(run.data.tags["stylebench.trial_key"] for run in trials) == sorted(frame.index)
    for run in trials:
        expected = frame.loc[run.data.tags["stylebench.trial_key"]]
        assert run.data.params["style"] == expected["style"] and run.data.params["arch"] == expected["arch"]
        assert run.data.params["repeat"] == str(expected["repeat"])
        assert run.data.metrics["step_ms_median"] == pytest.approx(expected["step_ms_median"])
        assert run.data.tags["stylebench.status"] == "ok" and run.data.tags["stylebench.sweep_id"] == "local"
    (parent,) = client.search_runs([experiment], "tags.`stylebench.role` = 'sweep'")
    assert {run.data.tags["mlflow.parentRunId"] for run in trials} == {parent.info.run_id}
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "report")] == ["report/summary.md"]


@pytest.mark.long
def test_github_benchmark_export_is_the_custom_smaller_is_better_list(submitit_sweep, tmp_path):
    folder = submitit_sweep[0]
    out = tmp_path / "bench.json"
    assert cli.main(["export", "github-benchmark", str(folder), "-o", str(out)]) == 0
    entries = json.loads(out.read_text())
    frame = rows(folder)
    assert len(entries) == 4 * 2  # 4 cells × (steady step, time to first step)
    assert all(set(e) == {"name", "unit", "value", "extra"} for e in entries)  # 2 repeats: no range
    step = next(e for e in entries if e["name"] == "raw/cnn steady step")
    cell = frame[(frame["style"] == "raw") & (frame["arch"] == "cnn")]
    assert step["value"] == pytest.approx(cell["step_ms_median"].median()) and step["unit"] == "ms"
    assert "no interval: 2 repeats" in step["extra"]


def test_github_benchmark_range_is_the_median_interval_once_there_are_enough_repeats(tmp_path):
    from bench.archs import default_spec
    from bench.config import RunConfig
    from bench.present import export

    for repeat, value in enumerate([10.0, 11.0, 12.0, 13.0, 14.0, 15.0], start=1):
        config = RunConfig(style="raw", arch=default_spec("mlp"), repeat=repeat, sweep_id="g")
        row = {**results.config_columns(config), "status": "ok", "step_ms_median": value}
        results.write_row(tmp_path / f"r{repeat}.parquet", {**row, "time_to_first_step_ms": 100.0})
    entry = next(e for e in export.github_benchmark(tmp_path) if e["name"] == "raw/mlp steady step")
    assert entry["value"] == 12.5 and entry["range"] == "± 2.5"  # 6 repeats: the interval is [10, 15]
    assert "95% interval of the median 10–15 ms" in entry["extra"]


def test_summary_markdown_stays_under_githubs_limit():
    big = "\n".join(f"| row {i} | {'x' * 200} |" for i in range(20_000))
    cut = within_limit(big)
    assert len(cut.encode()) <= SUMMARY_LIMIT < len(big.encode())
    assert "Truncated" in cut and cut.splitlines()[-3].startswith("| row ")
    assert within_limit("short\n") == "short\n"


def test_submitit_local_gives_each_concurrent_gpu_job_its_own_device():
    local = {"SUBMITIT_EXECUTOR": "local", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    assert [jobs.assign_accelerator("gpu", slot, dict(local)) for slot in range(5)] == [
        "0",
        "1",
        "2",
        "3",
        "0",
    ]
    slurm = {"SUBMITIT_EXECUTOR": "slurm", "CUDA_VISIBLE_DEVICES": "5"}
    assert jobs.assign_accelerator("gpu", 1, slurm) == "5"  # the scheduler's choice stays
    assert jobs.assign_accelerator("cpu", 1, dict(local)) == "0,1,2,3"


def test_slots_count_the_trials_on_this_host(tmp_path):
    slots = tmp_path / "slots"
    with jobs.placed(tmp_path, "a", ["a"], "cpu", slots=slots) as first:
        assert first.slot == 0 and jobs.trials_on_host(slots) == 1
        with jobs.placed(tmp_path, "b", ["b"], "cpu", slots=slots) as second:
            assert second.slot == 1 and jobs.trials_on_host(slots) == 2
            assert jobs.is_held(tmp_path / jobs.RUNNING / "b.json")
            time.sleep(3 * jobs.SAMPLE_EVERY_S)  # the first job samples its host every SAMPLE_EVERY_S
        assert second.concurrent_trials == 2
    assert first.concurrent_trials == 2 and jobs.trials_on_host(slots) == 0


def test_jobs_on_one_host_probe_the_peak_once(tmp_path, monkeypatch):
    from bench.archs import default_spec
    from bench.config import ResultsConfig, RunConfig

    calls = []

    def slow_probe(config):
        calls.append(config)
        time.sleep(0.5)
        return {"peak_gflops": 123.0}

    monkeypatch.setattr(sweep, "probe_in_process", slow_probe)
    config = RunConfig(style="raw", arch=default_spec("mlp"), results=ResultsConfig(str(tmp_path)))
    peaks = []
    threads = [
        threading.Thread(target=lambda: peaks.append(sweep.peak_gflops(tmp_path, config))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peaks == [123.0] * 3 and len(calls) == 1


def test_slurm_example_config_reaches_sbatch(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e '.[slurm]'")
    from hydra import compose, initialize_config_dir

    from bench.config import CONF_DIR, register

    register()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.gpus_per_node == 1
    assert not launches_here(launcher)
    from submitit.slurm.slurm import _make_sbatch_string  # what sbatch gets (no srun needed)

    script = _make_sbatch_string(
        command="python -m x", folder=tmp_path, partition=launcher.partition,
        gpus_per_node=launcher.gpus_per_node, cpus_per_task=launcher.cpus_per_task,
    )  # fmt: skip
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --gpus-per-node=1" in script
    assert "#SBATCH --cpus-per-task=8" in script


def test_which_launchers_run_here_and_override_quoting():
    assert launches_here({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"})
    assert launches_here({"_target_": "x.LocalLauncher"})
    assert launches_here({"_target_": "x.RayLauncher", "ray": {"init": {"address": None}}})
    assert not launches_here({"_target_": "x.RayLauncher", "ray": {"init": {"address": "10.0.0.5:6379"}}})
    assert quoted("/tmp/res-1/a.b") == "/tmp/res-1/a.b"
    assert quoted("/tmp/my results/it's") == "'/tmp/my results/it\\'s'"


def test_a_failed_batch_leaves_error_rows_only_for_trials_without_one(tmp_path):
    from bench.archs import default_spec
    from bench.config import ResultsConfig, RunConfig

    made = [
        driver.Job(i, [], RunConfig(style="raw", arch=default_spec("mlp"), repeat=i + 1, sweep_id="f",
                                     results=ResultsConfig(str(tmp_path))))
        for i in range(2)
    ]  # fmt: skip
    results.ensure_writable(tmp_path / "f")
    results.write_row(
        results.row_path(made[0].config), {**results.config_columns(made[0].config), "status": "ok"}
    )
    lost = driver.settle(made, RuntimeError("job 12 FAILED\nmore"), timeout_s=5, sleep=lambda s: None)
    assert len(lost) == 1 and lost[0]["repeat"] == 2
    stored = results.load(results.row_path(made[1].config)).iloc[0]
    assert stored["reason"] == results.LOST and "RuntimeError: job 12 FAILED | more" in stored["error"]
    assert results.load(results.row_path(made[0].config)).iloc[0]["status"] == "ok"
    # a job that finishes after all replaces the lost row; the lost row is kept aside
    assert results.supersede_lost(results.row_path(made[1].config))
    assert not results.row_path(made[1].config).exists()
    assert len(list((tmp_path / "f" / results.SUPERSEDED).glob("*.parquet"))) == 1


def _write_rows(folder: Path, cpu_models: list[str], style: str = "raw") -> None:
    from bench.archs import default_spec
    from bench.config import RunConfig

    for repeat, cpu in enumerate(cpu_models, start=1):
        config = RunConfig(style=style, arch=default_spec("mlp"), repeat=repeat, sweep_id=folder.name)
        row = {**results.config_columns(config), "status": "ok", "cpu_model": cpu, "cpu_count": 2}
        row |= {"step_ms_median": 2.0 + repeat / 10, "time_to_first_step_ms": 300.0, "test_accuracy": 0.9}
        results.write_row(folder / f"{style}-{repeat}.parquet", row)


def test_rows_from_different_hardware_are_not_put_in_one_ratio_unless_asked(tmp_path, capsys):
    from bench.decide.cells import MixedHardware

    folder = tmp_path / "mixed"
    folder.mkdir()
    _write_rows(folder, ["EPYC 9R14"] * 3 + ["Xeon 8375C"] * 3)
    frame = results.load(folder)
    with pytest.raises(MixedHardware, match="2 kinds of hardware .*--allow-mixed-hardware"):
        summarize(frame)
    assert any(
        "--allow-mixed-hardware was given" in b for b in summarize(frame, allow_mixed_hardware=True).banners
    )
    assert cli.main(["report", str(folder), "--out", str(tmp_path / "reports")]) == 2
    error = capsys.readouterr().err
    assert "EPYC 9R14 × 2 cores; Xeon 8375C × 2 cores" in error and "--allow-mixed-hardware" in error
    assert not (tmp_path / "reports").exists()


def test_compare_refuses_a_baseline_from_other_hardware_unless_anchored_or_asked(tmp_path, capsys):
    from bench.decide import compare

    base, current = tmp_path / "base", tmp_path / "current"
    base.mkdir(), current.mkdir()
    _write_rows(base, ["EPYC 9R14"] * 6)
    _write_rows(current, ["Xeon 8375C"] * 6)
    assert cli.main(["compare", str(base), str(current)]) == 2
    assert "baseline and current come from 2 kinds of hardware" in capsys.readouterr().err
    one, other = results.load(base), results.load(current)
    compare.check_hardware(one, other, anchored=True, allowed=False)  # the anchor divides the machine out
    compare.check_hardware(one, other, anchored=False, allowed=True)
    assert "--allow-mixed-hardware was given" in capsys.readouterr().err
    assert cli.main(["compare", str(base), str(current), "--allow-mixed-hardware"]) in (0, 1)
