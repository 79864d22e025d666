"""The block design: every style of a cell in one process, build order rotated, rounds alternating."""

from __future__ import annotations

import pytest

from bench import cli, results
from bench.present.summarize import summarize

pytestmark = pytest.mark.slow
TINY = [
    "train.warmup_steps=2",
    "train.timed_steps=12",
    "block.rounds=3",
    "train.epochs=0",
    "data=embedded",
    "data.max_train_samples=512",
    "data.max_test_samples=128",
    "train.latency_repeats=1",
    "train.latency_budget_ms=0",
    "train.anchor_steps=5",
    "isolation=inline",
]


@pytest.fixture(scope="module")
def block(tmp_path_factory):
    folder = tmp_path_factory.mktemp("block")
    overrides = [
        "block.styles=[functional,raw,functional]",
        "train.inject_delay_ms=0,4",
        "train.inject_into=raw",
        "repeat=1,2",
        "sweep_id=b",
        f"results.dir={folder}",
    ]
    assert cli.main(["run", "-m", *overrides, *TINY]) == 0
    return results.load(folder / "b")


def test_a_block_writes_one_row_per_member_with_a_twin(block):
    assert len(block) == 12 and block["trial_key"].is_unique and set(block["status"]) == {"ok"}
    assert (block["design"] == "block").all()
    twins = block[(block["style"] == "functional") & (block["variant"] == 2)]
    assert len(twins) == 4
    # one process per block: members share the block key, the anchor and the import
    for _, members in block.groupby("block_key"):
        assert len(members) == 3 and members["anchor_step_ms"].nunique() == 1


def test_every_member_trains_to_the_same_accuracy(block):
    for _, members in block.groupby("block_key"):
        assert members["test_accuracy"].nunique() == 1


def test_build_order_rotates_with_the_repeat(block):
    plain = block[block["train_inject_delay_ms"] == 0]
    order = {
        repeat: list(group.sort_values("block_position")[["style", "variant"]].itertuples(index=False))
        for repeat, group in plain.groupby("repeat")
    }
    assert order[1][0] == ("functional", 1) and order[2][0] == ("raw", 1)
    assert sorted(order[1]) == sorted(order[2])


def test_the_injected_delay_goes_to_its_style_only(block):
    injected = block[block["train_inject_delay_ms"] > 0].set_index(["style", "variant", "repeat"])
    plain = block[block["train_inject_delay_ms"] == 0].set_index(["style", "variant", "repeat"])
    extra = injected["step_ms_median"] - plain["step_ms_median"]
    assert (extra.loc["raw"] > 3.0).all()  # 4 ms slept inside every raw step
    assert (extra.loc["functional"].abs() < 3.0).all()


def test_the_report_pairs_by_block_and_never_pools_unlike_cells(block):
    summary = summarize(block)
    steps = summary.decisions[summary.decisions["metric"] == "step_ms_median"]
    assert steps["paired"].all()
    # two settings (delay 0 and 4): each gets its own comparisons, labelled by what varies
    assert set(steps["setting"]) == {"inject delay ms 0.0", "inject delay ms 4.0"}
    assert set(steps["who"]) == {"raw", "functional#2"}


def test_a_finished_block_is_not_run_again(tmp_path):
    overrides = ["block.styles=[functional,raw]", "sweep_id=r", f"results.dir={tmp_path}", *TINY]
    assert cli.main(["run", *overrides]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "r").glob("*.parquet")}
    assert cli.main(["run", *overrides]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "r").glob("*.parquet")} == before
