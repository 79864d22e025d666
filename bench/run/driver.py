"""The driver's side of a sweep, whatever launcher runs its jobs.

Before any job starts the driver plans the sweep (bench/run/plan.py), moves error rows aside
when asked to retry them, probes the matmul peak once per setting when the jobs run on
this host (so no job probes while another trains), and keeps only the jobs with a trial
still to record. A job that ends without its rows (killed, preempted, out of memory, a
node lost) becomes an error row written here, and the sweep goes on; a later run of that
job replaces it. The summary is read from the results folder, never from job callbacks,
which run on the job's node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench import results
from bench.config import RunConfig, members
from bench.measure import machine
from bench.run import jobs, plan, sweep

SETTLE_POLL_S = 1.0
SETTLE_GRACE_S = 3.0  # after the last marker of a failed batch is released: rows still arriving


@dataclass(frozen=True)
class Job:
    """One launch: its position in the interleaved order, its overrides and what they compose to."""

    order: int
    overrides: list[str]
    config: RunConfig

    @property
    def trials(self) -> list[RunConfig]:
        return members(self.config)

    def missing(self) -> list[RunConfig]:
        return [trial for trial in self.trials if not results.row_path(trial).exists()]


def _is_error_row(path: Path) -> bool:
    try:
        return results.read_fields(path, ["status"])["status"] == "error"
    except Exception:  # a damaged file is not retried: it stays for a person to look at
        return False


def retry_errors(batch: Sequence[Job]) -> int:
    """Move every error row of these jobs into superseded/ so that they run again; how many."""
    moved = 0
    for job in batch:
        for trial in job.trials:
            path = results.row_path(trial)
            if path.exists() and _is_error_row(path):
                results.archive(path)
                moved += 1
    return moved


def probe_once(folder: Path, pending: Sequence[Job], jobs_in_this_process: bool) -> list[dict[str, Any]]:
    """The peak for every distinct setting of the pending jobs, probed here before they start:
    in a fresh process, unless the jobs themselves run in this one (the basic launcher), where
    an inline trial's probe may run inline too."""
    probes: dict[str, dict[str, Any]] = {}
    for job in pending:
        name = sweep.probe_name(job.config)
        if name not in probes:
            fresh = None if jobs_in_this_process else True
            peak = sweep.peak_gflops(folder, job.config, fresh_process=fresh)
            probes[name] = {"file": name, "host": machine.host_environment()["host"], "peak_gflops": peak}
    return list(probes.values())


def prepare(
    planned: Sequence[Job], shuffle_seed: int, retry: bool, probe_here: bool, jobs_in_this_process: bool
) -> tuple[list[Job], dict[str, int]]:
    """Plan the sweep; return the jobs still to launch and counts for the opening line. The peak
    is probed here when the jobs run on this host (`probe_here`)."""
    folder = results.sweep_dir(planned[0].config)
    results.ensure_writable(folder)
    retried = retry_errors(planned) if retry else 0
    pending = [job for job in planned if job.missing()]
    probes = probe_once(folder, pending, jobs_in_this_process) if probe_here and pending else []
    entries = [plan.job_entry(job.order, job.overrides, job.config) for job in planned]
    plan.write(folder, planned[0].config.sweep_id, shuffle_seed, entries, probes)
    total = sum(len(job.trials) for job in planned)
    to_run = sum(len(job.missing()) for job in pending)
    return pending, {"planned": total, "recorded": total - to_run, "to_run": to_run, "retried": retried}


def _live(batch: Sequence[Job]) -> bool:
    return any(
        jobs.is_held(results.sweep_dir(job.config) / jobs.RUNNING / f"{plan.marker_name(job.config)}.json")
        for job in batch
    )


def one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()][:3]
    return f"{type(error).__name__}: {' | '.join(lines)}"[:600]


def settle(
    batch: Sequence[Job],
    failure: BaseException,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """After a launcher raised for a batch: wait while any of its jobs still holds its running
    marker, then write an error row (reason LOST) for every trial of the batch left without a
    row, naming the failure and, from the job's marker, its job id and host. Return them."""
    deadline = time.monotonic() + timeout_s
    while _live(batch) and time.monotonic() < deadline:
        sleep(SETTLE_POLL_S)
    sleep(SETTLE_GRACE_S)
    written = []
    for job in batch:
        marker = jobs.read_marker(
            results.sweep_dir(job.config) / jobs.RUNNING / f"{plan.marker_name(job.config)}.json"
        )
        where = (
            f"job {marker['job_id']} on {marker['host']}" if marker else "a job that never started its trial"
        )
        for trial in job.missing():
            row = {
                **results.config_columns(trial),
                **{k: marker[k] for k in ("host", "job_id", "launcher", "job_slot") if k in marker},
                "status": "error",
                "reason": results.LOST,
                "error": f"job ended without writing its result ({where}): {one_line(failure)}",
            }
            if "started_at" in marker:
                row["started_at"] = pd.Timestamp(marker["started_at"])
            results.write_row(results.row_path(trial), row)
            written.append(row)
    return written


def rows_of(batch: Sequence[Job]) -> list[dict[str, Any]]:
    """The stored rows of a batch's trials (a damaged file as a `damaged` stand-in)."""
    return [sweep.stored(results.row_path(trial)) for job in batch for trial in job.trials]


def summary(folder: Path) -> str:
    """The sweep's table from its folder, with any damaged files named."""
    from bench.present.summary import sweep_table

    frame, damaged = results.load_checked(folder)
    lines = [f"{folder}:", sweep_table(frame)]
    lines += [f"damaged result file, left out: {line}" for line in damaged]
    return "\n".join(lines)
