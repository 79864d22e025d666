"""Results where teams already look: MLflow runs and github-action-benchmark's JSON.

`to_mlflow`: one parent run per sweep (the report attached as artifacts) and one child run
per trial: params = the trial's configuration columns, metrics = its numeric measurements,
tags = sweep, trial key, cell and status. Re-exporting is idempotent: a trial whose run
exists with the same row (its `started_at`) is left alone; a trial whose row was replaced
(`bench run --retry-errors`) gets its old run deleted and a new one, so there is always
exactly one run per trial.

`github_benchmark`: the `customSmallerIsBetter` list (name, unit, value, range, extra)
that github-action-benchmark charts and alerts on: the median over repeats of each cell's
time metrics, its distribution-free 95% interval in `extra`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench import results
from bench.decide import cells, stats

TAG = "stylebench"  # tag prefix
INSTALL = "pip install -e '.[mlflow]'"
SMALLER_IS_BETTER = {"step_ms_median": "steady step", "time_to_first_step_ms": "time to first step"}
NOT_PARAMS = ("config_json",)
BATCH = 100  # MLflow's log_batch takes at most 100 params per call


class ExportError(results.ResultsError):
    """An export that cannot start; the message is one line naming the fix."""


def _label(row: pd.Series) -> str:
    setting = f" [{row['setting']}]" if row["setting"] else ""
    return f"{row['who']}/{row['arch']}{setting}"


def _rows(folder: str | Path) -> pd.DataFrame:
    frame, damaged = results.load_checked(folder)
    for line in damaged:
        print(f"bench export: damaged result file left out: {line}")
    return cells.with_labels(frame)


def params_of(row: pd.Series) -> dict[str, str]:
    return {
        column: str(row[column])
        for column in results.CONFIG_COLUMNS
        if column not in NOT_PARAMS and not pd.isna(row[column])
    }


def metrics_of(row: pd.Series) -> dict[str, float]:
    numeric = [
        column
        for column, dtype in results.SCHEMA.items()
        if dtype in ("float64", "Int64") and column not in results.CONFIG_COLUMNS
    ]
    values = {column: row[column] for column in numeric if not pd.isna(row[column])}
    return {column: float(value) for column, value in values.items() if math.isfinite(float(value))}


def _client(tracking_uri: str | None) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as error:
        raise ExportError(f"MLflow is not installed here; {INSTALL}") from error
    return MlflowClient(tracking_uri=tracking_uri)


def _search(client: Any, experiment_id: str, query: str) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], query, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def to_mlflow(
    folder: str | Path,
    tracking_uri: str | None = None,
    experiment: str = "stylebench",
    report_dir: str | Path | None = None,
) -> dict[str, int]:
    """Export a sweep folder; return how many trial runs were created, replaced and kept."""
    from mlflow.entities import Metric, Param, RunStatus

    frame = _rows(folder)
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    sweep_id = ", ".join(sorted(frame["sweep_id"].dropna().unique()))
    in_sweep = f"tags.`{TAG}.sweep_id` = '{sweep_id}'"
    parents = _search(client, experiment_id, f"{in_sweep} and tags.`{TAG}.role` = 'sweep'")
    parent = parents[0].info.run_id if parents else None
    if parent is None:
        tags = {f"{TAG}.sweep_id": sweep_id, f"{TAG}.role": "sweep"}
        parent = client.create_run(experiment_id, run_name=sweep_id, tags=tags).info.run_id
    existing = {
        run.data.tags.get(f"{TAG}.trial_key"): run
        for run in _search(client, experiment_id, f"{in_sweep} and tags.`{TAG}.role` = 'trial'")
    }
    counts = {"created": 0, "replaced": 0, "kept": 0}
    now = int(time.time() * 1000)
    for _, row in frame.iterrows():
        started = str(row["started_at"])
        old = existing.get(row["trial_key"])
        if old is not None and old.data.tags.get(f"{TAG}.started_at") == started:
            counts["kept"] += 1
            continue
        if old is not None:
            client.delete_run(old.info.run_id)
        tags = {
            "mlflow.parentRunId": parent,
            f"{TAG}.role": "trial",
            f"{TAG}.sweep_id": sweep_id,
            f"{TAG}.trial_key": row["trial_key"],
            f"{TAG}.cell": _label(row),
            f"{TAG}.status": row["status"],
            f"{TAG}.started_at": started,
        }
        run_id = client.create_run(
            experiment_id, run_name=f"{_label(row)} r{row['repeat']}", tags=tags
        ).info.run_id
        params = [Param(k, v) for k, v in params_of(row).items()]
        metrics = [Metric(k, v, now, 0) for k, v in metrics_of(row).items()]
        for start in range(0, max(len(params), len(metrics)), BATCH):
            client.log_batch(
                run_id, metrics=metrics[start : start + BATCH], params=params[start : start + BATCH]
            )
        ended = RunStatus.FINISHED if row["status"] != "error" else RunStatus.FAILED
        client.set_terminated(run_id, RunStatus.to_string(ended))
        counts["replaced" if old is not None else "created"] += 1
    report = Path(report_dir) if report_dir else None
    if report is not None and report.is_dir():
        client.log_artifacts(parent, str(report), artifact_path="report")
    client.set_terminated(parent)
    return counts


def github_benchmark(folder: str | Path) -> list[dict[str, Any]]:
    """github-action-benchmark `customSmallerIsBetter` entries, one per cell and time metric."""
    frame = _rows(folder)
    ok = frame[frame["status"] == "ok"]
    entries = []
    for (arch, setting, who), group in ok.groupby(["arch", "setting", "who"], sort=True):
        label = _label(pd.Series({"arch": arch, "setting": setting, "who": who}))
        for metric, words in SMALLER_IS_BETTER.items():
            estimate = stats.median_ci(group[metric])
            if estimate.n == 0:
                continue
            entry = {"name": f"{label} {words}", "unit": "ms", "value": round(float(estimate.median), 6)}
            backend = ", ".join(sorted(group["backend"].astype(str).unique()))
            if estimate.has_interval:
                half = max(estimate.high - estimate.median, estimate.median - estimate.low)
                entry["range"] = f"± {half:.4g}"
                spread = f"95% interval of the median {estimate.low:.4g}–{estimate.high:.4g} ms"
            else:
                spread = f"no interval: {estimate.n} repeats (an interval needs {stats.min_repeats_for_interval()})"
            entry["extra"] = (
                f"median of {estimate.n} repeats; {spread}; backend {backend}; sweep {group['sweep_id'].iloc[0]}"
            )
            entries.append(entry)
    return entries
