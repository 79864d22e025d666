"""The results table: schema, atomic one-row files, load, keys."""

from __future__ import annotations

import pandas as pd
import pytest

from bench import results
from bench.archs import default_spec
from bench.config import RunConfig, from_dict


def config(**changes) -> RunConfig:
    return RunConfig(style="raw", arch=default_spec("mlp"), **changes)


def test_row_round_trips_with_the_schema_dtypes(tmp_path):
    path = tmp_path / "row.parquet"
    row = {**results.config_columns(config()), "status": "ok", "step_ms_median": 1.5, "params": 10}
    results.write_row(path, row)
    frame = results.load(path)
    assert frame.dtypes.astype(str).to_dict() == {
        k: str(pd.Series(dtype=v).dtype) for k, v in results.SCHEMA.items()
    }
    assert frame.loc[0, "step_ms_median"] == 1.5 and frame.loc[0, "schema_version"] == results.SCHEMA_VERSION
    assert pd.isna(frame.loc[0, "test_accuracy"])


def test_a_column_outside_the_schema_is_refused(tmp_path):
    with pytest.raises(KeyError, match="not in the results schema"):
        results.write_row(tmp_path / "row.parquet", {"status": "ok", "stepms": 1.0})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "row.parquet"
    path.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        results.write_atomic(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["row.parquet"]


def test_load_refuses_another_schema_version(tmp_path):
    row = {**results.config_columns(config()), "status": "ok"}
    frame = results.to_frame([row])
    frame["schema_version"] = 99
    frame.to_parquet(tmp_path / "old.parquet")
    with pytest.raises(results.ResultsError, match="schema version"):
        results.load(tmp_path)


def test_load_of_an_empty_folder_says_what_to_do(tmp_path):
    with pytest.raises(results.ResultsError, match="no results in"):
        results.load(tmp_path)


def test_trial_key_ignores_where_and_when_but_not_what():
    base = results.trial_key(config())
    assert results.trial_key(config(sweep_id="other", sweep_order=5, sweep_shuffle_seed=3)) == base
    assert results.trial_key(config(repeat=2)) != base
    assert results.trial_key(RunConfig(style="functional", arch=default_spec("mlp"))) != base


def test_unwritable_results_folder_is_one_line_naming_the_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(results.ResultsError, match="is not writable.*pass results.dir=") as caught:
        results.ensure_writable(blocker / "sweep")
    assert "\n" not in str(caught.value)


def test_config_survives_the_trip_through_json():
    import dataclasses
    import json

    original = RunConfig(style="subclass", arch=default_spec("cnn"), repeat=3)
    assert from_dict(json.loads(json.dumps(dataclasses.asdict(original)))) == original


def test_a_status_outside_the_four_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not one of ok, error, skipped, not_applicable"):
        results.write_row(tmp_path / "row.parquet", {**results.config_columns(config()), "status": "done"})
    assert not list(tmp_path.iterdir())


def test_files_written_before_a_column_was_added_still_load(tmp_path):
    """A column added to the schema later (e.g. anchor_step_ms) reads as missing, typed."""
    row = {**results.config_columns(config()), "status": "ok", "step_ms_median": 4.0}
    results.to_frame([row]).drop(
        columns=["anchor_step_ms", "anchor_version", "started_at", "host"]
    ).to_parquet(tmp_path / "old.parquet")
    results.write_row(tmp_path / "new.parquet", {**row, "anchor_step_ms": 2.0, "anchor_version": 1})
    frame = results.load(tmp_path)
    assert (frame.dtypes == pd.Series(results.SCHEMA)).all()
    old = frame[frame["anchor_step_ms"].isna()]
    assert len(old) == 1 and old["anchor_version"].isna().all() and old["host"].isna().all()
    assert frame["anchor_step_ms"].max() == 2.0


def test_the_recorded_commit_is_dirty_for_code_changes_not_for_results(tmp_path, monkeypatch):
    """`make baseline` replaces results/baseline/ while it measures: the rows it writes must name
    the commit clean, while an edit to the code still marks them dirty."""
    import subprocess

    from bench.measure import machine

    def git(*arguments: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments], cwd=tmp_path, check=True
        )

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "row.parquet").write_text("old")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    monkeypatch.setattr(machine, "PROJECT_DIR", tmp_path)
    head = machine.git_commit()
    assert len(head) == 40
    (tmp_path / "results" / "row.parquet").unlink()
    assert machine.git_commit() == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert machine.git_commit() == f"{head}+dirty"


def test_every_column_is_documented_exactly_once():
    """docs/results.md is generated from COLUMN_DOCS: a new column without a meaning, one
    described twice, or a documented name that is no column fails here, not in a reader's hands."""
    from collections import Counter

    from bench.results import SCHEMA, documented_columns

    counts = Counter(column for columns, _ in documented_columns() for column in columns)
    assert [c for c in SCHEMA if counts[c] == 0] == []
    assert [c for c, n in counts.items() if n > 1] == []
    assert [c for c in counts if c not in SCHEMA] == []
    assert all(meaning.strip() for _, meaning in documented_columns())
