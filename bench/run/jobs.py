"""Where a trial ran and beside what: its job, its slot on the host, its accelerator, and
how many trials shared the host while it ran.

Any Hydra launcher may run a job (basic, submitit local or SLURM, Ray); the job learns
which from the environment the launcher set. Two kinds of lock files, both released by
the kernel when a job dies however it dies, so nothing goes stale:

- a host-wide *slot* (`slot-<i>.lock` in the host's temp folder): the lowest free one is
  this job's slot; the number of held slots is how many stylebench trials run on the host
  now, whatever sweep they belong to (sampled while the trial runs: `concurrent_trials`);
- a *running marker* per job in the sweep folder (`running/<block key>.json`), holding the
  job's host, pid, job id and slot, locked while the job runs: `bench status` tells running
  from lost by trying the lock, and the driver reads a lost job's id from it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SAMPLE_EVERY_S = 0.25
RUNNING = "running"  # the sweep folder's subfolder of running markers


def slots_dir() -> Path:
    """One folder per host and user: every stylebench job on this host takes a slot in it."""
    return Path(tempfile.gettempdir()) / f"stylebench-slots-{os.getuid()}"


def launcher_name() -> str:
    """Which launcher started this process, from what each one sets in the environment."""
    if "SLURM_JOB_ID" in os.environ:
        return "submitit_slurm" if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" else "slurm"
    if os.environ.get("SUBMITIT_EXECUTOR") == "local":
        return "submitit_local"
    if _ray_context() is not None:
        return "ray"
    return "basic"


def _ray_context() -> Any:
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return ray.get_runtime_context()


def job_id() -> str:
    """The scheduler's name for this job: SLURM's array or job id, submitit's local job id,
    Ray's task id, else this process's pid."""
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    if "SLURM_JOB_ID" in env:
        return env["SLURM_JOB_ID"]
    if "SUBMITIT_LOCAL_JOB_ID" in env:
        return env["SUBMITIT_LOCAL_JOB_ID"]
    context = _ray_context()
    if context is not None:
        task = context.get_task_id()
        if task:
            return str(task)
    return f"pid-{os.getpid()}"


def assign_accelerator(device: str, slot: int, environ: dict[str, str] | None = None) -> str:
    """This job's CUDA_VISIBLE_DEVICES, set in `environ` (default: os.environ) and returned.

    SLURM and Ray give each job its own devices: kept as they are. submitit's local executor
    gives every job the same list (`range(gpus_per_node)`), so its jobs would pile onto one GPU:
    there each job takes the list's entry number `slot` (modulo its length). CPU trials: as is.
    """
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = [item for item in visible.split(",") if item.strip()]
    if device == "gpu" and environ.get("SUBMITIT_EXECUTOR") == "local" and len(ids) > 1:
        visible = ids[slot % len(ids)]
        environ["CUDA_VISIBLE_DEVICES"] = visible
    return visible


def _try_lock(handle: IO[Any], mode: int) -> bool:
    try:
        fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def is_held(path: Path) -> bool:
    """Whether some process holds the lock on `path` now (a dead process holds nothing)."""
    try:
        with open(path, "rb") as handle:
            if _try_lock(handle, fcntl.LOCK_SH):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                return False
            return True
    except FileNotFoundError:
        return False


def trials_on_host(folder: Path | None = None) -> int:
    """How many stylebench jobs hold a slot on this host now."""
    folder = folder or slots_dir()
    return sum(is_held(path) for path in folder.glob("slot-*.lock"))


def _take_slot(folder: Path) -> tuple[int, IO[Any]]:
    folder.mkdir(parents=True, exist_ok=True)
    index = 0
    while True:
        handle = open(folder / f"slot-{index}.lock", "a+b")  # noqa: SIM115 (held open as the lock)
        if _try_lock(handle, fcntl.LOCK_EX):
            return index, handle
        handle.close()
        index += 1


def read_marker(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


@dataclass
class Placement:
    """A running job's place: filled on entry, `concurrent_trials` kept up to date while it runs."""

    host: str
    job_id: str
    launcher: str
    slot: int
    visible_devices: str
    concurrent_trials: int = 1
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def columns(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "job_id": self.job_id,
            "launcher": self.launcher,
            "job_slot": self.slot,
            "visible_devices": self.visible_devices,
            "concurrent_trials": self.concurrent_trials,
        }

    def _sample(self, folder: Path) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.concurrent_trials = max(self.concurrent_trials, trials_on_host(folder))


@contextlib.contextmanager
def placed(
    sweep_folder: Path, marker_name: str, trial_keys: list[str], device: str, slots: Path | None = None
) -> Iterator[Placement]:
    """Hold a slot on this host and a running marker in the sweep folder while the job runs;
    sample how many trials share the host all the while (the timed phases included)."""
    slots = slots or slots_dir()
    slot, slot_handle = _take_slot(slots)
    place = Placement(
        host=socket.gethostname(),
        job_id=job_id(),
        launcher=launcher_name(),
        slot=slot,
        visible_devices=assign_accelerator(device, slot),
    )
    marker = sweep_folder / RUNNING / f"{marker_name}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        facts = {
            **place.columns(),
            "pid": os.getpid(),
            "trial_keys": trial_keys,
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        handle.write(json.dumps(facts).encode())
        handle.flush()
        place.concurrent_trials = max(1, trials_on_host(slots))
        sampler = threading.Thread(target=place._sample, args=(slots,), daemon=True)
        sampler.start()
        try:
            yield place
        finally:
            place._stop.set()
            sampler.join()
            place.concurrent_trials = max(place.concurrent_trials, trials_on_host(slots))
            marker.unlink(missing_ok=True)
            slot_handle.close()
