"""The command line: one-line errors for bad input, a table for a good run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "style=nosuch",
            "unknown style 'nosuch'; choose one of: functional, functions, raw, sequential, subclass",
        ),
        ("arch=nosuch", "unknown arch 'nosuch'; choose one of: branched, cnn, mlp, residual"),
        ("train.stepz=3", "Key 'stepz' not in 'TrainConfig'"),
        ("train.steps=many", "could not be converted to Integer"),
    ],
)
def test_bad_override_ends_in_one_line_naming_the_fix(capsys, override, expected):
    assert cli.main(["run", override]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1 and err.startswith("bench: error:")


def test_a_bad_value_inside_a_sweep_is_caught_before_any_trial(capsys):
    assert cli.main(["run", "-m", "style=raw,nosuch"]) == 2
    assert "unknown style 'nosuch'" in capsys.readouterr().err


def test_the_installed_console_script_reports_the_same_line():
    executable = Path(sys.executable).parent / "bench"  # installed beside this Python by pip
    assert executable.is_file(), "pip install -e . provides the bench console script"
    finished = subprocess.run([executable, "run", "arch=nosuch"], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    assert (
        finished.stderr.strip()
        == "bench: error: unknown arch 'nosuch'; choose one of: branched, cnn, mlp, residual"
    )


@pytest.mark.slow
def test_run_prints_a_result_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # Hydra writes its outputs/ folder here
    assert cli.main(["run", "style=raw", "arch=mlp", "train.steps=20", "data=embedded"]) == 0
    out = capsys.readouterr().out
    assert "step_ms_median" in out and "test_accuracy" in out and "embedded" in out


@pytest.mark.slow
def test_bad_data_setting_ends_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", "data.source=idx", f"data.idx_dir={tmp_path / 'missing'}", "train.steps=5"])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("bench: error:") and "IDX directory not found" in err[-1]


def test_unknown_command_names_the_commands(capsys):
    assert cli.main(["nosuch"]) == 2
    assert "choose one of: run, verify" in capsys.readouterr().err
