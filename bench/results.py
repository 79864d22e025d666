"""The results table: a typed, versioned schema; one Parquet file per trial, written
atomically; `load(sweep_dir)` concatenates them into one DataFrame.

Append-only: a trial's file is written once (temp file, fsync, rename) and a
re-run of the sweep skips every trial whose file exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import RunConfig

SCHEMA_VERSION = 1
STATUSES = ("ok", "error", "skipped", "not_applicable")

S, N, F, B, T = "string", "Int64", "float64", "boolean", "datetime64[ns, UTC]"  # N: nullable int
# column -> pandas dtype. README "Results schema" documents each column.
SCHEMA: dict[str, str] = {
    # identity and configuration
    "schema_version": N, "sweep_id": S, "trial_key": S, "status": S, "error": S, "reason": S,
    "style": S, "arch": S, "arch_config": S, "repeat": N, "isolation": S, "sweep_order": N, "sweep_shuffle_seed": N,
    "data_dataset": S, "data_source_requested": S, "data_max_train_samples": N, "data_max_test_samples": N,
    "train_batch_size": N, "train_warmup_steps": N, "train_timed_steps": N, "train_epochs": N,
    "train_optimizer": S, "train_learning_rate": F, "train_seed": N, "train_steps_per_execution": N,
    "train_run_eagerly": B, "train_latency_repeats": N, "train_eval_batch_size": N, "train_inject_delay_ms": F,
    "train_anchor_steps": N,
    "hardware_device": S, "hardware_xla": B, "hardware_precision": S, "hardware_threads": N, "threads": N,
    "config_json": S,
    # phases and metrics
    "import_s": F, "construct_ms": F, "build_ms": F, "compile_ms": F, "first_step_ms": F,
    "time_to_first_step_ms": F, "step_ms_median": F, "step_ms_iqr": F, "step_ms_p95": F,
    "samples_per_s": F, "epoch_s": F, "test_accuracy": F, "test_loss": F,
    "coarse_test_accuracy": F, "coarse_test_loss": F, "params": N, "matches_reference": B,
    "peak_rss_mb": F, "save_load_ms": F, "save_load_ok": B, "save_load_error": S,
    "predict_ms_b1": F, "predict_ms_b128": F, "call_ms_b1": F, "call_ms_b128": F,
    "train_gflop_per_step": F, "gflops_per_s": F, "peak_gflops": F, "pct_of_peak": F,
    "anchor_version": N, "anchor_step_ms": F,
    # data provenance
    "data_source": S, "data_location": S, "data_train_samples": N, "data_test_samples": N,
    "data_sha256": S, "data_note": S,
    # environment
    "backend": S, "tensorflow_version": S, "keras_version": S, "python_version": S, "cuda_version": S,
    "cpu_model": S, "cpu_count": N, "gpu_name": S, "host": S, "git_commit": S,
    "started_at": T, "duration_s": F,
}  # fmt: skip


class ResultsError(Exception):
    """A results folder that cannot be written or read; the message is one line."""


def identity(config: RunConfig) -> dict[str, Any]:
    """What makes a trial the trial it is: everything but where and in which order it ran."""
    fields = asdict(config)
    for key in ("sweep_id", "results", "sweep_order", "sweep_shuffle_seed", "trial_timeout_s"):
        fields.pop(key, None)
    return fields


def trial_key(config: RunConfig) -> str:
    text = json.dumps(identity(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sweep_dir(config: RunConfig) -> Path:
    return Path(config.results.dir) / config.sweep_id


def row_path(config: RunConfig) -> Path:
    """results/<sweep_id>/<style>_<arch>_r<repeat>_<key>.parquet"""
    name = f"{config.style}_{config.arch.name}_r{config.repeat}_{trial_key(config)}.parquet"
    return sweep_dir(config) / name


def config_columns(config: RunConfig) -> dict[str, Any]:
    """The configuration as typed columns, plus the whole of it as JSON."""
    columns: dict[str, Any] = {
        "sweep_id": config.sweep_id,
        "trial_key": trial_key(config),
        "style": config.style,
        "arch": config.arch.name,
        "arch_config": json.dumps(asdict(config.arch), sort_keys=True),
        "repeat": config.repeat,
        "isolation": config.isolation,
        "sweep_order": config.sweep_order,
        "sweep_shuffle_seed": config.sweep_shuffle_seed,
        "data_dataset": config.data.dataset,
        "data_source_requested": config.data.source,
        "data_max_train_samples": config.data.max_train_samples,
        "data_max_test_samples": config.data.max_test_samples,
        "config_json": json.dumps(asdict(config), sort_keys=True, default=str),
    }
    columns.update({f"train_{k}": v for k, v in asdict(config.train).items() if f"train_{k}" in SCHEMA})
    columns.update({f"hardware_{k}": v for k, v in asdict(config.hardware).items()})
    return columns


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly the schema's columns and dtypes."""
    unknown = {key for row in rows for key in row} - SCHEMA.keys()
    if unknown:
        raise KeyError(f"columns not in the results schema: {sorted(unknown)}")
    statuses = {row.get("status") for row in rows} - set(STATUSES)
    if statuses:
        raise ValueError(f"status {sorted(map(str, statuses))} is not one of {', '.join(STATUSES)}")
    frame = pd.DataFrame.from_records(rows, columns=list(SCHEMA))
    frame["schema_version"] = SCHEMA_VERSION
    return frame.astype(SCHEMA)


def ensure_writable(directory: Path) -> None:
    """Create the folder or raise ResultsError naming it and the fix."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ResultsError(
            f"results folder {directory} is not writable ({error.strerror}); pass results.dir=<a writable folder>"
        ) from error


def write_atomic(path: Path, payload: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename over `path`, fsync the folder."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temp_name, 0o666 & ~_umask())  # mkstemp makes 0600; others on shared storage must read it
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_row(path: Path, row: dict[str, Any]) -> None:
    """One trial's row as its own Parquet file, atomically."""
    write_atomic(path, to_frame([row]).to_parquet(index=False))


def load(path: str | Path) -> pd.DataFrame:
    """All rows of one sweep folder (or one exported Parquet file) as a typed DataFrame."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    if not files:
        raise ResultsError(f"no results in {path}; run a sweep with sweep_id=<name> first")
    frames = [pd.read_parquet(file) for file in files]
    versions = {int(v) for frame in frames for v in frame["schema_version"].dropna().unique()}
    if versions - {SCHEMA_VERSION}:
        raise ResultsError(
            f"{path}: schema version {sorted(versions)}, this stylebench reads {SCHEMA_VERSION}"
        )
    frame = pd.concat(frames, ignore_index=True)
    # Columns added to the schema after a file was written read as missing values.
    missing = {
        column: pd.Series([None] * len(frame), dtype=object) for column in SCHEMA if column not in frame
    }
    return frame.assign(**missing)[list(SCHEMA)].astype(SCHEMA)
