"""Many trials: the job that any Hydra launcher runs, once per configuration.

A job is self-contained: a resolved config in, one result file out. It skips
a trial whose row already exists (so a killed sweep resumes), runs the trial
in a fresh Python process (or inline), and writes an `error` row when the
trial raises, crashes, is killed or times out; the sweep goes on.
The order of jobs is the sweeper's business (hydra_plugins/stylebench_sweeper).
"""

from __future__ import annotations

import datetime as dt
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

from bench import machine, results
from bench.config import RunConfig

STDERR_TAIL_LINES = 5


def run_job(config: RunConfig) -> dict[str, Any]:
    """Run one trial unless it is recorded already; return its row."""
    path = results.row_path(config)
    results.ensure_writable(path.parent)
    if path.exists():
        return results.load(path).iloc[0].to_dict()
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    peak = peak_gflops(path.parent, config.isolation)
    record = run_isolated(config, peak) if config.isolation == "process" else run_inline(config, peak)
    row = {
        **results.config_columns(config),
        **machine.host_environment(),
        **record,
        "started_at": pd.Timestamp(started_at),
        "duration_s": time.perf_counter() - started,
    }
    results.write_row(path, row)
    return row


def run_inline(config: RunConfig, peak: float | None) -> dict[str, Any]:
    """The trial in this process (tests, debugging): TF state carries over between trials."""
    from bench.trial import run_trial

    try:
        return run_trial(config, peak)
    except Exception as error:
        traceback.print_exc()
        return {"status": "error", "error": f"{type(error).__name__}: {error}"[:2000]}


def run_isolated(config: RunConfig, peak: float | None, module: str = "bench.worker") -> dict[str, Any]:
    """The trial in a fresh `python -m bench.worker`; a crash becomes an error record."""
    with tempfile.TemporaryDirectory(prefix="stylebench-trial-") as folder:
        config_path, record_path = Path(folder) / "config.json", Path(folder) / "record.json"
        config_path.write_text(json.dumps({"config": asdict(config), "peak_gflops": peak}, default=str))
        command = [sys.executable, "-m", module, str(config_path), str(record_path)]
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=config.trial_timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": "error", "error": f"trial timed out after {config.trial_timeout_s} s"}
        if finished.returncode == 0 and record_path.exists():
            return json.loads(record_path.read_text())
        return {"status": "error", "error": describe_failure(finished.returncode, finished.stderr)}


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


def peak_gflops(folder: Path, isolation: str) -> float | None:
    """The fp32 matmul peak of this host, probed once per sweep and kept beside the rows."""
    probe_file = folder / f"machine-{socket.gethostname()}.json"
    if probe_file.exists():
        return json.loads(probe_file.read_text())["peak_gflops"]
    if isolation == "process":
        command = [sys.executable, "-m", "bench.machine"]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if finished.returncode != 0:
            return None
        peak = json.loads(finished.stdout.strip().splitlines()[-1])["peak_gflops"]
    else:
        peak = machine.matmul_peak_gflops()
    payload = {
        "peak_gflops": peak,
        "probe": "fp32 matmul 1024x1024, best of 1 s",
        **machine.host_environment(),
    }
    results.write_atomic(probe_file, json.dumps(payload, indent=1).encode())
    return peak
