"""The step breakdown (bench/profile.py): the partition of a step by what the trace shows,
on intervals of known length; TensorFlow's profiler parsed on a real step, its parts adding
up to the profiled step and a known injected Python delay landing in the untraced part and
nowhere else; the door refusing it off TensorFlow; the report's table and figure."""

from __future__ import annotations

import numpy as np
import pytest

from bench import profile, results
from bench.config import check_choices
from bench.report.figures import step_breakdown
from bench.report.render import render_markdown
from bench.report.summarize import summarize
from bench.trial import build_phases, load_data, train_arrays
from tests.test_why import block_rows


def test_a_step_is_partitioned_by_precedence():
    intervals = {
        "compute": np.array([[0.0, 3e6], [9e6, 12e6]]),  # the second runs past the step's end
        "input": np.array([[2e6, 5e6]]),
        "framework": np.array([[0.0, 8e6]]),
    }
    parts = profile.step_parts(intervals, np.array([0.0, 10e6]))
    assert {k: v[0] for k, v in parts.items()} == {
        "compute": 4.0,
        "input": 2.0,
        "framework": 3.0,
        "untraced": 1.0,
    }


@pytest.mark.parametrize(
    ("line", "name", "kind"),
    [
        ("tf_Compute/1", "StatefulPartitionedCall/functional_mlp_1/dense_1_1/Relu:_FusedMatMul", "compute"),
        ("tf_Compute/1", "optional:OptionalFromValue", "input"),
        ("tf_data_iterator_get_next/7", "IteratorGetNextOp::DoCompute", "input"),
        ("python", "EagerLocalExecute: __inference_multi_step_on_iterator_914", "framework"),
        ("python", "KernelAndDeviceFunc::Run", "framework"),
        ("tf_Compute/1", "ExecutorState::Process", "framework"),
        ("tf_numa_-1_Eigen/3", "ThreadpoolListener::StartRegion", None),
    ],
)
def test_trace_events_are_classified(line, name, kind):
    assert profile._kind(line, name) == kind


def test_profiling_off_tensorflow_is_refused_at_the_door(run_config):
    """The config's conversion checks every value (bench/config.py check_choices)."""
    with pytest.raises(ValueError, match="train.profile=true parses TensorFlow's profiler only"):
        run_config("backend=jax", "train.pipeline=numpy", "train.profile=true")
    with pytest.raises(ValueError, match="train.profile_steps must be at least 1"):
        run_config("train.profile=true", "train.profile_steps=0")
    check_choices(run_config("train.profile=false", "train.profile_steps=0"))  # off: any count


def _profiled(run_config, style: str, *overrides: str) -> dict:
    from bench import training

    config = run_config(f"style={style}", "data.max_train_samples=1024", "train.epochs=0", *overrides)
    trainer = build_phases(config, {})
    batches = training.pipeline_for(config, train_arrays(config, load_data(config.data)))
    record: dict = {}
    profile.profile_phase(trainer, batches, 25, record)
    return record


@pytest.mark.slow
@pytest.mark.parametrize("style", ["functional", "raw"])
def test_the_parts_add_up_and_an_injected_delay_lands_in_python(run_config, style):
    plain = _profiled(run_config, style)
    parts = sum(plain[column] for column in profile.COLUMNS)
    assert all(plain[column] >= 0 for column in profile.COLUMNS) and plain["prof_compute_ms"] > 0
    assert parts == pytest.approx(plain["prof_step_ms"], rel=1e-9)  # the middle steps' parts add up
    # the trace's partition of the per-step clock's windows against that clock's own median step
    assert plain["prof_step_ms"] == pytest.approx(
        plain["prof_overhead"] * plain["prof_unprofiled_step_ms"], rel=0.2
    )
    assert 0.5 < plain["prof_overhead"] < 2.5
    # 4 ms of Python busy-work before every step (train.inject_delay_ms): the trace sees no op,
    # no input and no runtime in it, so the untraced part takes it all
    slowed = _profiled(run_config, style, "train.inject_delay_ms=4")
    assert 3.2 < slowed["prof_untraced_ms"] - plain["prof_untraced_ms"] < 5.0
    assert abs(slowed["prof_compute_ms"] - plain["prof_compute_ms"]) < 1.5  # not the delay's 4 ms


def profiled_rows() -> list[dict]:
    rows = block_rows()
    for row in rows:
        slower = 0.4 if row["style"] == "subclass" else 0.0
        row.update(prof_compute_ms=1.0, prof_input_ms=0.05, prof_framework_ms=0.5 + slower, prof_untraced_ms=0.3,
                   prof_step_ms=1.85 + slower, prof_unprofiled_step_ms=1.8 + slower, prof_overhead=1.03,
                   step_ms_median=1.8 + slower)  # fmt: skip
    return rows


def test_the_report_shows_the_breakdown_against_the_unprofiled_step():
    summary = summarize(results.to_frame(profiled_rows()))
    table = summary.breakdown.set_index("who")
    assert table.loc["subclass", "parts_ms"] == pytest.approx(2.25)
    assert table.loc["functional", "parts_over_step"] == pytest.approx(1.85 / 1.8)
    assert table.loc["subclass", "parts_over_step"] == pytest.approx(2.25 / 2.2)
    sentence = [s for s in summary.why_answers if s.startswith("On mlp, subclass")][0]
    assert "Per steady step, its largest extra is framework runtime: +0.4 ms" in sentence
    assert "### Where a steady step goes (TensorFlow's profiler)" in render_markdown(summary)
    figure = step_breakdown(summary)
    assert figure.y_ticks[0] == ["functional", "subclass", "raw"]
