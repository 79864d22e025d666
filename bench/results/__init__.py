"""The results table: a typed, versioned schema; one Parquet file per trial, written
atomically; `load(sweep_dir)` concatenates them into one DataFrame.

Append-only: a trial's file is written once (temp file, fsync, rename) and a
re-run of the sweep skips every trial whose file exists.

The folder owns the results table: its schema and column words, atomic writes and
loading. It imports only the ground modules (config, archs, timing): never a
backend, a style, or anything that measures, runs, decides or presents
(tests/test_layout.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import tempfile
import types
import typing
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from bench import archs
from bench.config import RunConfig
from bench.timing import LATENCY_BATCHES, LATENCY_KINDS

SCHEMA_VERSION = 1
STATUSES = ("ok", "error", "skipped", "not_applicable")

S, N, F, B, T = "string", "Int64", "float64", "boolean", "datetime64[ns, UTC]"  # N: nullable int
DTYPES = {str: S, int: N, float: F, bool: B}
# Config fields that are not columns: where the results go (the folder is the sweep).
NOT_COLUMNS = {"results", "arch"}
RENAMED = {"data_source": "data_source_requested"}  # `data_source` is the source actually used


# The step breakdown's columns and their words (bench/measure/profile.py), in the order of its parts.
FIRST_EXECUTION_COLUMNS = {
    "prof_first_trace_ms": "graph building (profiled)",
    "prof_first_instantiate_ms": "graph optimisation and instantiation (profiled)",
    "prof_first_xla_ms": "XLA compilation (profiled)",
    "prof_first_rest_ms": "the first run and the rest (profiled)",
}
PROFILE_COLUMNS = {
    "prof_compute_ms": "op compute",
    "prof_input_ms": "input wait",
    "prof_framework_ms": "framework runtime",
    "prof_untraced_ms": "Python and idle (untraced)",
}

def _field_dtype(annotation: Any) -> str:
    """A dataclass field's pandas dtype: X | None is X (nullable), lists are JSON strings."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = (
        args[0] if args and typing.get_origin(annotation) in (typing.Union, types.UnionType) else annotation
    )
    return DTYPES.get(base, S)


def _config_fields(schema: type, prefix: str = "") -> dict[str, str]:
    """Column name -> dtype for every (nested) field of a config dataclass, generated, never typed twice."""
    columns: dict[str, str] = {}
    hints = typing.get_type_hints(schema)
    for item in dataclasses.fields(schema):
        if not prefix and item.name in NOT_COLUMNS:
            continue
        name = f"{prefix}{item.name}"
        if dataclasses.is_dataclass(hints[item.name]):
            columns.update(_config_fields(hints[item.name], f"{name}_"))
        else:
            columns[RENAMED.get(name, name)] = _field_dtype(hints[item.name])
    return columns


CONFIG_COLUMNS: dict[str, str] = {
    "arch": S, "arch_config": S, "design": S, **_config_fields(RunConfig), "config_json": S,
}  # fmt: skip
# column -> pandas dtype. COLUMN_DOCS says what each means (docs/results.md is generated from it).
SCHEMA: dict[str, str] = {
    "schema_version": N, "trial_key": S, "block_key": S, "block_position": N,
    "status": S, "error": S, "reason": S,
    **CONFIG_COLUMNS, "threads": N,
    # phases and metrics
    "import_s": F, "runtime_init_ms": F, "construct_ms": F, "build_ms": F, "compile_ms": F, "first_step_ms": F,
    "time_to_first_step_ms": F, "step_ms_median": F, "step_ms_iqr": F, "step_ms_p95": F, "step_ms_block": F,
    "samples_per_s": F, "epoch_s": F, "test_accuracy": F, "test_loss": F,
    "coarse_test_accuracy": F, "coarse_test_loss": F, "params": N, "matches_reference": B,
    "traces_to_first_step": N, "retraces_steady": N, "trace_ms": F, "graph_ops": N, "layer_calls": N,
    "mem_build_mb": F, "mem_first_step_mb": F, "mem_steady_mb": F, "rss_after_data_mb": F, "accelerator_peak_mb": F,
    "prof_compute_ms": F, "prof_input_ms": F, "prof_framework_ms": F, "prof_untraced_ms": F,
    "prof_step_ms": F, "prof_unprofiled_step_ms": F, "prof_overhead": F, "prof_first_step_ms": F,
    "prof_first_trace_ms": F, "prof_first_instantiate_ms": F, "prof_first_xla_ms": F, "prof_first_rest_ms": F,
    "prof_first_unprofiled_ms": F, "prof_first_overhead": F,
    "peak_rss_mb": F, "save_ms": F, "load_ms": F, "saved_bytes": N, "save_load_ok": B, "save_load_error": S,
    **{f"{kind}_ms_b{size}": F for kind in LATENCY_KINDS for size in LATENCY_BATCHES},
    "train_gflop_per_step": F, "gflops_per_s": F, "peak_gflops": F, "pct_of_peak": F,
    "anchor_version": N, "anchor_step_ms": F,
    # data provenance
    "data_source": S, "data_location": S, "data_train_samples": N, "data_test_samples": N,
    "data_sha256": S, "data_note": S,
    # environment
    "jit_compile_resolved": S, "framework_version": S, "tensorflow_version": S, "keras_version": S, "python_version": S, "cuda_version": S,
    "cpu_model": S, "cpu_count": N, "gpu_name": S, "host": S, "git_commit": S,
    # where the job ran and beside what (bench/run/jobs.py)
    "launcher": S, "job_id": S, "job_slot": N, "visible_devices": S, "concurrent_trials": N,
    "started_at": T, "duration_s": F,
}  # fmt: skip

# What every column means, one entry per group: docs/results.md is generated from this
# (docs/hooks.py) and tests/test_results.py checks that every column of SCHEMA has exactly
# one entry. `data_*`, `train_*`, `hardware_*` and `block_*` stand for the configuration
# columns with that prefix (generated from the config dataclasses, config.py comments each).
COLUMN_DOCS: tuple[tuple[str, str], ...] = (
    ("schema_version sweep_id trial_key", "format version; the sweep folder; a hash of the trial's identity (its config minus sweep id, folder and order)"),
    ("status error reason", "`ok`, `error` (with the message), `skipped` (with the reason, e.g. no GPU visible), `not_applicable` (with the reason)"),
    ("style variant arch arch_config repeat isolation trial_timeout_s sweep_order sweep_shuffle_seed",
     "the style (and its copy in an A/A block), the architecture and its sizes as JSON, the repeat, how (`process`, `fork`, `inline`) and in which position it ran"),
    ("design block_* block_key block_position",
     "`trial` or `block`; the block's styles (JSON) and rounds; which block (process) a row was timed in and its place in the build order"),
    ("backend data_* train_* hardware_* config_json",
     "the configuration as typed columns (`data_source_requested` is `data.source`; `hardware_tf32` TF32 arithmetic; `hardware_xla` whether the step was asked to compile); `config_json` holds all of it"),
    ("threads", "the intra-op threads the framework reported back"),
    ("import_s runtime_init_ms", "seconds the process spent importing Keras and the framework (with `isolation=fork`, the server's one import), and milliseconds to start the runtime"),
    ("construct_ms build_ms compile_ms first_step_ms time_to_first_step_ms",
     "the cold path: Python construction, weight creation, `compile` (the optimizer's state included), the first train execution, and their sum"),
    ("step_ms_median step_ms_iqr step_ms_p95 samples_per_s",
     "the steady step from the per-step clock over the timed steps: median, interquartile range, 95th percentile (ms), and samples per second at the median"),
    ("step_ms_block", "the second clock: `train.block_clock_steps` steps timed as one interval without a per-step callback, ms per step"),
    ("epoch_s", "seconds per full pass over the training set after the timed steps (`train.epochs`)"),
    ("test_accuracy test_loss coarse_test_accuracy coarse_test_loss", "accuracy and mean cross-entropy on the test set, computed outside Keras for every style (`coarse_*`: the branched model's second head)"),
    ("params matches_reference", "the parameter count, and whether the weights' shapes and count match the reference style's build"),
    ("traces_to_first_step retraces_steady trace_ms",
     "traces of the train step up to the first step, new ones during the timed steps, and the milliseconds spent running the step's Python body to trace it"),
    ("graph_ops layer_calls",
     "ops in the TensorFlow graph of the train step (its last trace; empty on JAX and eager torch), and Keras `Layer.__call__` calls in one eager forward pass, the model's own included (0 for raw)"),
    ("mem_build_mb mem_first_step_mb mem_steady_mb",
     "host memory growth of construct + build + compile, of the first execution, and of the timed steps (the largest round in a block): the phase's peak resident set over the resident set at its start, MiB"),
    ("prof_compute_ms prof_input_ms prof_framework_ms prof_untraced_ms prof_step_ms prof_unprofiled_step_ms prof_overhead",
     "with `train.profile=true`: the profiled step's parts (ms per step, adding up to `prof_step_ms`), the unprofiled median step of the same trial, and profiled / unprofiled"),
    ("prof_first_step_ms prof_first_trace_ms prof_first_instantiate_ms prof_first_xla_ms prof_first_rest_ms prof_first_unprofiled_ms prof_first_overhead",
     "with `train.profile=true`: a second build's first execution, profiled, and its parts (graph building, optimisation and instantiation, XLA compilation, the rest), a third build's unprofiled first execution, and profiled / unprofiled"),
    ("rss_after_data_mb peak_rss_mb accelerator_peak_mb",
     "the process's resident set once the data is loaded, its peak over the whole trial (block), and the GPU allocator's peak over the process (NaN on a CPU)"),
    ("save_ms load_ms saved_bytes save_load_ok save_load_error",
     "saving and loading through the style's own format, each timed; bytes on disk; whether the loaded model gives the same outputs, and why not"),
    (" ".join(f"{kind}_ms_b{size}" for kind in LATENCY_KINDS for size in LATENCY_BATCHES),
     "forward-pass latency at each batch size: the eager call, the compiled call, `predict_on_batch` and `predict` (median of fetched calls, ms; NaN for raw's Keras-only calls)"),
    ("train_gflop_per_step gflops_per_s peak_gflops pct_of_peak",
     "the train step's GFLOP (counted from the architecture), the achieved GFLOP/s at the median step, the machine's matmul peak under the same settings, and the share of it"),
    ("anchor_version anchor_step_ms", "the machine-speed anchor: its workload's version and ms per step of it on the trial's device"),
    ("data_source data_location data_train_samples data_test_samples data_sha256 data_note",
     "the data actually used (the fallback note when `auto` chose the embedded subset)"),
    ("jit_compile_resolved",
     "how the train step really ran, read back from the trainer: `xla` (TensorFlow's jit_compile or jax.jit), `torch.compile`, `graph` (a tf.function without XLA) or `eager`"),
    ("framework_version tensorflow_version keras_version python_version cuda_version gpu_name", "software (the backend's framework version) and accelerator"),
    ("cpu_model cpu_count host git_commit", "machine and project commit (`+dirty` with local changes)"),
    ("launcher job_id job_slot visible_devices concurrent_trials",
     "which launcher and job ran it, its slot on the host, the CUDA devices it saw, the most stylebench trials on its host at once while it ran"),
    ("started_at duration_s", "when the trial (its block, in the block design) started (UTC) and how long its job took, start-up included"),
)  # fmt: skip


def documented_columns() -> list[tuple[list[str], str]]:
    """COLUMN_DOCS with its prefixes (`train_*`) spelled out as the configuration columns
    they stand for, in schema order."""
    expanded = []
    for names, meaning in COLUMN_DOCS:
        columns: list[str] = []
        for name in names.split():
            if name.endswith("*"):
                columns += [c for c in CONFIG_COLUMNS if c.startswith(name[:-1]) and c != name[:-1]]
            else:
                columns.append(name)
        expanded.append((columns, meaning))
    return expanded


class ResultsError(Exception):
    """A results folder that cannot be written or read; the message is one line."""


def identity(config: RunConfig) -> dict[str, Any]:
    """What makes a trial the trial it is: everything but where and in which order it ran."""
    fields = asdict(config)
    for key in ("sweep_id", "results", "sweep_order", "sweep_shuffle_seed", "trial_timeout_s"):
        fields.pop(key, None)
    if fields["data"]["loader"] is None:  # the keys of every trial before the user's own data
        fields["data"].pop("loader")
    return fields


def _key(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def trial_key(config: RunConfig) -> str:
    return _key(identity(config))


def block_key(config: RunConfig) -> str:
    """The block a trial was timed in: its identity without the style and its copy."""
    fields = identity(config)
    fields.pop("style"), fields.pop("variant")
    return _key(fields)


def sweep_dir(config: RunConfig) -> Path:
    return Path(config.results.dir) / config.sweep_id


def row_path(config: RunConfig) -> Path:
    """results/<sweep_id>/<style>[-v<variant>]_<arch>_r<repeat>_<key>.parquet"""
    copy = f"-v{config.variant}" if config.variant > 1 else ""
    name = f"{config.style}{copy}_{config.arch.name}_r{config.repeat}_{trial_key(config)}.parquet"
    return sweep_dir(config) / name


def _flatten(fields: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}_"))
        else:
            name = RENAMED.get(f"{prefix}{key}", f"{prefix}{key}")
            flat[name] = json.dumps(value) if isinstance(value, list) else value
    return flat


def config_columns(config: RunConfig) -> dict[str, Any]:
    """The configuration as typed columns (generated from the dataclasses), plus all of it as JSON."""
    fields = asdict(config)
    arch = fields.pop("arch")
    columns = {k: v for k, v in _flatten(fields).items() if k in CONFIG_COLUMNS}
    if config.data.loader:  # the user's data is named as their model is: MODULE:FUNCTION
        columns["data_dataset"] = config.data.loader
    return {
        **columns,
        "trial_key": trial_key(config),
        "block_key": block_key(config),
        "arch": archs.label(config.arch),
        "arch_config": json.dumps(arch, sort_keys=True),
        "design": "block" if config.block.styles else "trial",
        "config_json": json.dumps(asdict(config), sort_keys=True, default=str),
    }


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


SUPERSEDED = "superseded"  # a sweep folder's subfolder of rows a later run replaced (kept, not read)
LOST = "job_lost"  # `reason` of the error row the driver writes for a job that ended without one


def archive(path: Path) -> Path:
    """Move a row file out of the sweep (into superseded/, stamped): nothing is deleted."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    target = path.parent / SUPERSEDED / f"{path.stem}.{stamp}{path.suffix}"
    target.parent.mkdir(exist_ok=True)
    os.replace(path, target)
    return target


def read_fields(path: Path, columns: list[str]) -> pd.Series:
    """A few fields of a one-row file. Without threads: pandas' threaded read of a column subset
    aborted the interpreter at exit 8 times in 30 here (pyarrow 25; 3 in 30 with 26), never so."""
    return pd.read_parquet(path, columns=columns, use_threads=False).iloc[0]


def supersede_lost(path: Path) -> bool:
    """Archive the row at `path` if the driver wrote it for a lost job; whether it did."""
    try:
        row = read_fields(path, ["status", "reason"])
    except Exception:  # a damaged or foreign file stays where it is
        return False
    if row["status"] != "error" or row["reason"] != LOST:
        return False
    archive(path)
    return True


def write_row(path: Path, row: dict[str, Any]) -> None:
    """One trial's row as its own Parquet file, atomically."""
    write_atomic(path, to_frame([row]).to_parquet(index=False))


def _defaults() -> dict[str, Any]:
    """Config columns of a default trial: what a file written before a field existed ran with."""
    from bench.archs import default_spec

    columns = config_columns(RunConfig(style="functional", arch=default_spec("mlp")))
    return {k: v for k, v in columns.items() if k not in ("trial_key", "block_key", "config_json")}


def _read(file: Path) -> pd.DataFrame:
    frame = pd.read_parquet(file)
    if "schema_version" not in frame or "status" not in frame:
        raise ValueError("not a stylebench result file (no schema_version/status column)")
    return frame


def load_checked(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """All readable rows of a sweep folder (or one exported Parquet file) as a typed DataFrame,
    and one line per file that could not be read ("name: why"); damaged files are left untouched."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    if not files:
        raise ResultsError(f"no results in {path}; run a sweep with sweep_id=<name> first")
    frames, damaged = [], []
    for file in files:
        try:
            frames.append(_read(file))
        except Exception as error:  # pyarrow raises several types; any of them means "damaged"
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            damaged.append(f"{file.name}: {type(error).__name__}: {reason}"[:300])
    if not frames:
        raise ResultsError(f"no readable results in {path}: {damaged[0]}")
    versions = {int(v) for frame in frames for v in frame["schema_version"].dropna().unique()}
    if versions - {SCHEMA_VERSION}:
        raise ResultsError(
            f"{path}: schema version {sorted(versions)}, this stylebench reads {SCHEMA_VERSION}"
        )
    frame = pd.concat(frames, ignore_index=True)
    # Config columns added after a file was written read as the default that file ran with;
    # metric columns as missing values.
    defaults = _defaults()
    missing = {
        column: pd.Series([defaults.get(column)] * len(frame), dtype=object)
        for column in SCHEMA
        if column not in frame
    }
    return frame.assign(**missing)[list(SCHEMA)].astype(SCHEMA), damaged


def load(path: str | Path) -> pd.DataFrame:
    """Like load_checked, but a damaged file is a ResultsError naming it (one line)."""
    frame, damaged = load_checked(path)
    if damaged:
        raise ResultsError(f"damaged result file {damaged[0]}; move it aside to re-run that trial")
    return frame
