"""Many trials: the job that any Hydra launcher runs, once per configuration.

A job is self-contained: a resolved config in, one result file out. It skips
a trial whose row already exists (so a killed sweep resumes), runs the trial
in a fresh Python process (or inline), and writes an `error` row when the
trial raises, crashes, is killed or times out; the sweep goes on.
The order of jobs is the sweeper's business (hydra_plugins/stylebench_sweeper).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from bench import results
from bench.config import RunConfig, members
from bench.measure import machine
from bench.run import jobs, plan
from bench.runtime import SettingsNotApplied, probe, probe_key

STDERR_TAIL_LINES = 5


def run_job(config: RunConfig) -> list[dict[str, Any]]:
    """Run one trial (or one block of trials) unless recorded already; return its rows.

    A row file that cannot be read is named on stderr and left untouched: that trial
    counts as recorded (move the file aside to re-run it), so the sweep goes on. A row the
    driver wrote for a job it lost (`reason` LOST) gives way to this job's own row.
    """
    trials = members(config)
    paths = [results.row_path(trial) for trial in trials]
    folder = paths[0].parent
    results.ensure_writable(folder)
    if all(path.exists() for path in paths):
        return [stored(path) for path in paths]
    keys = [results.trial_key(trial) for trial in trials]
    with jobs.placed(folder, plan.marker_name(config), keys, config.hardware.device) as place:
        started_at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        peak = peak_gflops(folder, config)
        records = RUNNERS[config.isolation](config, peak)
        duration = time.perf_counter() - started
    rows = []
    for trial, record, path in zip(trials, records, paths, strict=True):
        if path.exists() and not results.supersede_lost(path):
            rows.append(stored(path))  # recorded by an earlier, interrupted run of this block: keep it
            continue
        row = {
            **results.config_columns(trial),
            **machine.host_environment(),
            **place.columns(),
            **record,
            "started_at": pd.Timestamp(started_at),
            "duration_s": duration,
        }
        results.write_row(path, row)
        rows.append(row)
    return rows


def error_records(config: RunConfig, message: str) -> list[dict[str, Any]]:
    """One error record per trial of the job: a crashed block fails every style in it."""
    return [{"status": "error", "error": message[:2000]} for _ in members(config)]


def stored(path: Path) -> dict[str, Any]:
    try:
        return results.load(path).iloc[0].to_dict()
    except results.ResultsError as error:
        print(f"bench: {error}", file=sys.stderr, flush=True)
        return {"status": "damaged", "error": str(error), "style": path.name}


def run_inline(config: RunConfig, peak: float | None) -> list[dict[str, Any]]:
    """The trial(s) in this process (tests, debugging): TF state carries over between trials."""
    from bench.measure.trial import run_block, run_trial

    try:
        return run_block(config, peak) if config.block.styles else [run_trial(config, peak)]
    except Exception as error:
        traceback.print_exc()
        return error_records(config, f"{type(error).__name__}: {error}")


def run_isolated(
    config: RunConfig, peak: float | None, module: str = "bench.run.worker"
) -> list[dict[str, Any]]:
    """The trial(s) in a fresh `python -m bench.run.worker`; a crash becomes an error record each."""
    with tempfile.TemporaryDirectory(prefix="stylebench-trial-") as folder:
        config_path, record_path = Path(folder) / "config.json", Path(folder) / "record.json"
        config_path.write_text(json.dumps({"config": asdict(config), "peak_gflops": peak}, default=str))
        command = [sys.executable, "-m", module, str(config_path), str(record_path)]
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=config.trial_timeout_s)
        except subprocess.TimeoutExpired:
            return error_records(config, f"trial timed out after {config.trial_timeout_s} s")
        if finished.returncode == 0 and record_path.exists():
            return json.loads(record_path.read_text())["records"]
        return error_records(config, describe_failure(finished.returncode, finished.stderr))


def run_forked(config: RunConfig, peak: float | None) -> list[dict[str, Any]]:
    """The trial(s) in a child of this process's fork server (bench/run/forkserver.py): the same
    `bench.run.worker` as `run_isolated`, without paying the import again; a crash becomes an
    error record each."""
    from bench.run import forkserver

    with tempfile.TemporaryDirectory(prefix="stylebench-trial-") as folder:
        config_path, record_path = Path(folder) / "config.json", Path(folder) / "record.json"
        config_path.write_text(json.dumps({"config": asdict(config), "peak_gflops": peak}, default=str))
        try:
            server = forkserver.server_for(config.backend, config.hardware.device)
            finished = server.run(
                "bench.run.worker",
                [config_path, record_path],
                Path(folder) / "log.txt",
                config.trial_timeout_s,
            )
        except forkserver.ServerError as error:
            return error_records(config, str(error))
        if finished.timed_out:
            return error_records(config, f"trial timed out after {config.trial_timeout_s} s")
        if finished.returncode == 0 and record_path.exists():
            return json.loads(record_path.read_text())["records"]
        return error_records(config, describe_failure(finished.returncode, finished.log))


RUNNERS = {"process": run_isolated, "fork": run_forked, "inline": run_inline}


def describe_failure(returncode: int, stderr: str) -> str:
    """'killed by SIGKILL (out of memory?): <last stderr lines>' or 'exited with 3: ...'."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        cause = f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        cause = f"trial process exited with status {returncode}"
    tail = " | ".join(
        line.strip() for line in stderr.strip().splitlines()[-STDERR_TAIL_LINES:] if line.strip()
    )
    return f"{cause}: {tail}" if tail else cause


def peak_gflops(folder: Path, config: RunConfig, fresh_process: bool | None = None) -> float | None:
    """The matmul peak under this trial's backend, device, precision and threads, probed once
    per sweep, host and settings and kept beside the rows. Jobs on one host take turns (a file
    lock): the first probes, the others read its file. The probe runs in a fresh process when
    `fresh_process` (default: when the trial does)."""
    probe_file = folder / probe_name(config)
    with open(probe_file.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if probe_file.exists():
            return json.loads(probe_file.read_text())["peak_gflops"]
        if config.isolation != "inline" if fresh_process is None else fresh_process:
            measured = probe_in_process(config)
        else:
            try:
                measured = probe(config.hardware, config.backend)
            except SettingsNotApplied:
                return None  # the trial itself will say so, as an error row
        if measured is None or measured["peak_gflops"] is None:
            return None
        facts = {**measured, **machine.host_environment(), "trials_on_host": jobs.trials_on_host()}
        results.write_atomic(probe_file, json.dumps(facts, indent=1).encode())
        return measured["peak_gflops"]


def probe_name(config: RunConfig) -> str:
    return f"machine-{socket.gethostname()}-{probe_key(config.hardware, config.backend)}.json"


def probe_in_process(config: RunConfig) -> dict[str, Any] | None:
    """The peak probed in a fresh `python -m bench.runtime` under the trial's settings (in a
    child of the fork server under `isolation=fork`)."""
    hardware = config.hardware
    argv = [config.backend, hardware.device, hardware.precision, str(hardware.threads)]
    if config.isolation == "fork":
        from bench.run import forkserver

        with tempfile.TemporaryDirectory(prefix="stylebench-probe-") as folder:
            try:
                server = forkserver.server_for(config.backend, hardware.device)
                finished = server.run("bench.runtime.__main__", argv, Path(folder) / "log.txt", 300)
            except forkserver.ServerError:
                return None
            returncode, output = finished.returncode, finished.log
    else:
        done = subprocess.run(
            [sys.executable, "-m", "bench.runtime", *argv], capture_output=True, text=True, timeout=300
        )
        returncode, output = done.returncode, done.stdout
    lines = [line for line in output.strip().splitlines() if line.startswith("{")]
    if returncode != 0 or not lines:
        return None
    return json.loads(lines[-1])
