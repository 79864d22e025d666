"""A sweep's plan, written by the driver before any job starts, and its status read back.

`results/<sweep_id>/plan.json` holds every job of the sweep in its interleaved position
(its Hydra overrides, order, shuffle seed) with the trials it runs (key, row file, cell
columns), and the peak probes the driver ran. Jobs on any node write their rows into the
same folder; `bench status` compares plan and folder: each planned trial is done (a row
that is ok, skipped or not applicable), error (an error row), running (its job holds its
running marker, bench/run/jobs.py) or missing (nothing yet, or its job was lost).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench import results
from bench.config import RunConfig, members
from bench.decide import cells
from bench.run import jobs

PLAN = "plan.json"
STATES = ("done", "running", "error", "missing")
NOT_IN_PLAN = ("config_json",)  # the cell columns say what a status table needs


class PlanError(results.ResultsError):
    """No plan in a folder `bench status` was pointed at."""


def marker_name(config: RunConfig) -> str:
    """A job's running-marker name: its first trial's key (unique per job, block or not)."""
    return results.trial_key(members(config)[0])


def job_entry(order: int, overrides: list[str], config: RunConfig) -> dict[str, Any]:
    """One planned job: where it runs in the order, how to launch it, which trials it records."""
    trials = []
    for trial in members(config):
        columns = {k: v for k, v in results.config_columns(trial).items() if k not in NOT_IN_PLAN}
        trials.append({**columns, "file": results.row_path(trial).name})
    return {"order": order, "overrides": overrides, "marker": marker_name(config), "trials": trials}


def write(
    folder: Path,
    sweep_id: str,
    shuffle_seed: int,
    entries: list[dict[str, Any]],
    probes: list[dict[str, Any]],
) -> Path:
    """Write the plan atomically. A resumed sweep keeps the trials of earlier plans that this
    one does not list (a re-run with fewer repeats does not forget what was planned)."""
    path = folder / PLAN
    earlier = read(folder)["jobs"] if path.exists() else []
    listed = {trial["trial_key"] for entry in entries for trial in entry["trials"]}
    kept = [e for e in earlier if not {t["trial_key"] for t in e["trials"]} & listed]
    plan = {
        "sweep_id": sweep_id,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "shuffle_seed": shuffle_seed,
        "probes": probes,
        "jobs": kept + entries,
    }
    results.write_atomic(path, json.dumps(plan, indent=1, default=str).encode())
    return path


def read(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / PLAN
    if not path.exists():
        raise PlanError(
            f"no {PLAN} in {folder}: not a sweep folder, or a sweep started before plans existed; "
            "run it again with bench run -m ... sweep_id=<its name> to plan and resume it"
        )
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise PlanError(f"{path} cannot be read ({error}); run the sweep again to rewrite it") from error


def _row_state(path: Path) -> dict[str, Any]:
    try:
        row = results.read_fields(path, ["status", "error", "reason", "job_id", "host"])
    except Exception as error:  # a damaged file: say so, as an error
        return {"state": "error", "error": f"damaged row file: {type(error).__name__}", "job_id": None}
    if row["status"] == "error":
        return {"state": "error", "error": row["error"], "job_id": row["job_id"], "host": row["host"]}
    return {
        "state": "done", "status": row["status"], "reason": row["reason"], "job_id": row["job_id"], "host": row["host"],
    }  # fmt: skip


def trial_states(folder: str | Path) -> pd.DataFrame:
    """One row per planned trial: its cell columns, `state` (STATES), and the error message,
    job id and host where known."""
    folder = Path(folder)
    rows = []
    for entry in read(folder)["jobs"]:
        marker = folder / jobs.RUNNING / f"{entry['marker']}.json"
        running = jobs.is_held(marker)
        facts = jobs.read_marker(marker) if running else {}
        for trial in entry["trials"]:
            path = folder / trial["file"]
            if path.exists():
                state = _row_state(path)
            elif running:
                state = {"state": "running", "job_id": facts.get("job_id"), "host": facts.get("host")}
            else:
                state = {"state": "missing"}
            blank = {"error": None, "status": None, "reason": None, "job_id": None, "host": None}
            rows.append({**trial, "order": entry["order"], **blank, **state})
    return pd.DataFrame(rows)


def status_table(folder: str | Path) -> str:
    """Planned / done / running / error / missing per cell and overall, then each error with its
    job id, then where the running trials run."""
    states = cells.with_labels(trial_states(folder))
    counts = (
        pd.crosstab([states["arch"], states["setting"], states["who"]], states["state"])
        .reindex(columns=list(STATES), fill_value=0)
        .astype(int)
    )
    counts.insert(0, "planned", counts.sum(axis=1))
    counts = pd.concat([counts, counts.sum(axis=0).to_frame(("all", "", "")).T]).astype(int)
    counts.index.names = ["arch", "setting", "who"]
    table = counts.reset_index().rename(columns={"who": "style"})
    if (table["setting"] == "").all():
        table = table.drop(columns="setting")
    total = counts.loc[("all", "", "")]
    lines = [
        f"sweep {read(folder)['sweep_id']}: {total['planned']} trials planned, {total['done']} done, "
        f"{total['running']} running, {total['error']} error, {total['missing']} missing",
        "",
        table.to_string(index=False),
    ]
    errors = states[states["state"] == "error"]
    if len(errors):
        lines += ["", "errors:"]
        for _, row in errors.iterrows():
            where = f"{row['who']}/{row['arch']} r{row['repeat']}"
            job = f" (job {row['job_id']} on {row['host']})" if pd.notna(row["job_id"]) else ""
            lines.append(f"  {where}{job}: {str(row['error'])[:300]}")
    running = states[states["state"] == "running"]
    if len(running):
        lines += ["", "running:"]
        lines += [
            f"  {row['who']}/{row['arch']} r{row['repeat']}: job {row['job_id']} on {row['host']}"
            for _, row in running.iterrows()
        ]
    return "\n".join(lines)
