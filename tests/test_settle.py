"""`--settle-budget`: blocks are added only where comparisons are undecided, looks are planned
and written down, the budget stops it, and the report decides at the final look's share."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bench import decide, results
from bench.archs import default_spec
from bench.config import RunConfig
from bench.run import settle

STYLES = ("functional", "raw")


def _rows(arch: str, repeats: range, ratio: float, noise: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for repeat in repeats:
        for style in STYLES:
            factor = ratio if style == "raw" else 1.0
            step = 10.0 * factor * float(np.exp(rng.normal(0, noise)))
            config = RunConfig(style=style, arch=default_spec(arch), repeat=repeat, sweep_id="settling")
            rows.append({**results.config_columns(config), "status": "ok", "step_ms_median": step,
                         "time_to_first_step_ms": 100 * factor * float(np.exp(rng.normal(0, noise))),
                         "test_accuracy": 0.9})  # fmt: skip
    return rows


def _write(folder, rows) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        results.write_row(folder / f"{row['arch']}_{row['style']}_{row['repeat']}.parquet", row)


@pytest.fixture
def sweep(tmp_path):
    """mlp: raw 1.5x, clean (decided at the first look); cnn: raw 1.5x under heavy noise."""
    folder = tmp_path / "settling"
    _write(folder, _rows("mlp", range(1, 7), 1.5, 0.001, 1) + _rows("cnn", range(1, 7), 1.5, 0.6, 2))
    return folder


def test_blocks_are_added_only_where_undecided_until_decided(sweep, capsys):
    asked = []

    def rerun(more):
        asked.append(more)
        first, last = map(int, re.search(r"range\((\d+),(\d+)\)", more[0]).groups())
        for arch in more[1].removeprefix("arch=").split(","):
            _write(sweep, _rows(arch, range(first, last), 1.5, 0.001, first))  # quiet from now on

    times = iter(range(0, 1000, 5))
    looks = settle.settle(sweep, rerun, budget_s=600, step=4, cap=14, started=0, clock=lambda: next(times))
    assert asked[0] == ["repeat=range(7,11)", "arch=cnn"]  # mlp was decided: no more mlp blocks
    assert looks.looks == (6, 10, 14) and looks.reached in (10, 14)
    assert settle.read(sweep) == looks
    out = capsys.readouterr().out
    assert "settle: look at 6 blocks" in out and "undecided cnn" in out
    assert out.strip().splitlines()[-1].endswith("undecided none")
    share = decide.spend(0.05, looks.reached, looks.looks)
    assert looks.share == pytest.approx(share)


def test_the_budget_stops_it_before_a_look_that_would_not_fit(sweep, capsys):
    def rerun(more):
        raise AssertionError("no block fits in the budget")

    looks = settle.settle(sweep, rerun, budget_s=100, step=4, cap=14, started=0, clock=lambda: 90.0)
    assert looks.reached == 6
    assert "past the 100 s budget; stopping at 6 blocks" in capsys.readouterr().out
    assert json.loads((sweep / settle.LOOKS_FILE).read_text())["reached"] == 6


def test_the_report_decides_at_the_share_of_the_look_it_stopped_at(sweep):
    from bench.present.render import looks_alpha

    assert looks_alpha(sweep, 0.05) == (0.05, [])  # a sweep that did not settle: the full alpha
    settle.write(sweep, settle.Looks((6, 10, 14), 0.05, 6))
    share = decide.spend(0.05, 6, (6, 10, 14))
    alpha, banner = looks_alpha(sweep, 0.05)
    assert alpha == pytest.approx(share) and share < 0.05
    assert f"it stopped at 6): every decision is made at that look's share of alpha, {share:.3g}" in banner[0]


def test_looks_are_planned_from_the_first_to_the_cap():
    assert decide.planned_looks(10, 4, 20) == (10, 14, 18, 20)
    assert decide.planned_looks(10, 2, 10) == (10,)
    with pytest.raises(ValueError, match="first look <= cap"):
        decide.planned_looks(12, 2, 10)
