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
        (
            "arch=nosuch",
            "unknown arch 'nosuch'; choose one of: branched, cnn, custom, mlp, multi_input, recurrent, residual, resnet, "
            "shared, vit; "
            "or your own model as arch=MODULE:FUNCTION",
        ),
        ("train.stepz=3", "Key 'stepz' not in 'TrainConfig'"),
        ("train.timed_steps=many", "could not be converted to Integer"),
        ("hardware.precision=float8", "unknown hardware.precision 'float8'; choose one of: float32"),
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


def test_every_value_of_a_sweep_is_checked_before_any_trial(tmp_path, capsys):
    overrides = ["-m", "train.batch_size=128,0", f"results.dir={tmp_path}", "sweep_id=door"]
    assert cli.main(["run", *overrides]) == 2
    err = capsys.readouterr().err
    assert err == "bench: error: train.batch_size must be at least 1, got 0\n"
    assert not (tmp_path / "door").exists()  # no trial ran, nothing was written


def test_a_bad_value_inside_a_sweep_preset_is_caught_too(capsys):
    assert cli.main(["run", "sweep=quick", "block.styles=[functional,nosuch]"]) == 2
    assert "unknown style 'nosuch' in block.styles" in capsys.readouterr().err


def test_the_installed_console_script_reports_the_same_line():
    executable = Path(sys.executable).parent / "bench"  # installed beside this Python by pip
    assert executable.is_file(), "pip install -e . provides the bench console script"
    finished = subprocess.run([executable, "run", "arch=nosuch"], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    assert (
        finished.stderr.strip()
        == "bench: error: unknown arch 'nosuch'; choose one of: branched, cnn, custom, mlp, multi_input, recurrent, "
        "residual, resnet, "
        "shared, vit; or your own model as arch=MODULE:FUNCTION"
    )


@pytest.mark.slow
def test_run_prints_a_result_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # Hydra writes its outputs/ folder here
    overrides = ["style=raw", "arch=mlp", "train.timed_steps=5", "data=embedded", "isolation=inline"]
    assert cli.main(["run", *overrides]) == 0
    out = capsys.readouterr().out
    assert "step_ms" in out and "accuracy" in out and "1 ok" in out


@pytest.mark.slow
def test_bad_data_setting_ends_in_one_line_and_an_error_row(tmp_path, monkeypatch, capsys):
    from bench.results import load

    monkeypatch.chdir(tmp_path)
    overrides = ["data.source=idx", f"data.idx_dir={tmp_path / 'missing'}", "isolation=inline", "sweep_id=d"]
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", *overrides])
    assert caught.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("bench: trial functional/mlp repeat 1 failed: DataError:")
    assert "IDX directory not found; set data.idx_dir or BENCH_MNIST_DIR" in err[-1]
    assert load(tmp_path / "results" / "d").loc[0, "status"] == "error"


def test_unknown_command_names_the_commands(capsys):
    assert cli.main(["nosuch"]) == 2
    assert "choose one of: run, verify" in capsys.readouterr().err
