"""One trial end to end, on real digits with tiny step counts."""

from __future__ import annotations

import numpy as np
import pytest

from bench import styles
from bench.trial import build_phases, configure_runtime, load_data, run_trial, training_phases

pytestmark = pytest.mark.slow

TINY = (
    "train.warmup_steps=2",
    "train.timed_steps=5",
    "train.epochs=0",
    "train.latency_repeats=2",
    "data.max_train_samples=512",
    "train.anchor_steps=0",
)


def test_identical_styles_train_to_identical_accuracy(run_config):
    """Same seed, same weights, same data order: the style must not change the result."""
    records = [
        run_trial(
            run_config(
                f"style={style}",
                "train.timed_steps=20",
                "train.latency_repeats=1",
                "data.max_train_samples=1024",
            )
        )
        for style in styles.STYLE_NAMES
    ]
    assert all(record["status"] == "ok" for record in records)
    reference = records[styles.STYLE_NAMES.index(styles.REFERENCE_STYLE)]
    for style, record in zip(styles.STYLE_NAMES, records, strict=True):
        assert record["test_accuracy"] == pytest.approx(reference["test_accuracy"], abs=2e-3), style
        assert record["test_loss"] == pytest.approx(reference["test_loss"], rel=1e-3), style
        assert record["matches_reference"], style


def test_default_trial_records_every_phase_and_reaches_085(run_config):
    record = run_trial(run_config("style=functional", "arch=mlp"), peak_gflops=100.0)
    assert record["test_accuracy"] > 0.85
    assert (record["data_source"], record["data_train_samples"], record["data_test_samples"]) == (
        "embedded",
        4000,
        1000,
    )
    assert record["params"] == 101770 and record["matches_reference"]
    phases = ("construct_ms", "build_ms", "compile_ms", "first_step_ms")
    assert record["time_to_first_step_ms"] == pytest.approx(sum(record[k] for k in phases))
    assert record["first_step_ms"] > record["step_ms_median"] > 0  # tracing stays out of the median
    assert record["step_ms_p95"] >= record["step_ms_median"] and record["step_ms_iqr"] >= 0
    assert record["samples_per_s"] == pytest.approx(128 / (record["step_ms_median"] / 1000))
    assert record["epoch_s"] > 0 and record["peak_rss_mb"] > 100
    assert record["save_load_ok"] and record["save_load_ms"] > 0
    assert record["predict_ms_b1"] > record["call_ms_b1"]  # predict() carries a large constant overhead
    assert record["pct_of_peak"] == pytest.approx(100 * record["gflops_per_s"] / 100.0)
    assert record["gflops_per_s"] == pytest.approx(
        record["train_gflop_per_step"] / (record["step_ms_median"] / 1000)
    )
    assert record["anchor_version"] == 1 and record["anchor_step_ms"] > 0  # on by default (conf/train)


def test_branched_trial_reports_both_heads(run_config):
    record = run_trial(run_config("style=subclass", "arch=branched", *TINY))
    assert 0 <= record["coarse_test_accuracy"] <= 1 and record["coarse_test_loss"] > 0
    assert "anchor_step_ms" not in record  # train.anchor_steps=0 turns the anchor off
    assert record["save_load_ok"], record["save_load_error"]


def test_raw_style_saves_and_loads_through_saved_model(run_config):
    record = run_trial(run_config("style=raw", "arch=cnn", *TINY))
    assert record["save_load_ok"], record["save_load_error"]
    assert np.isnan(record["predict_ms_b1"]) and record["call_ms_b1"] > 0


@pytest.mark.parametrize("style", ["functional", "raw"])
@pytest.mark.parametrize(
    "toggle",
    [
        "train.steps_per_execution=4",
        "train.run_eagerly=true",
        "hardware.xla=true",
        "hardware.precision=mixed_bfloat16",
    ],
)
def test_toggles_run_for_keras_and_raw(run_config, style, toggle):
    record = run_trial(run_config(f"style={style}", toggle, *TINY))
    assert record["status"] == "ok" and record["step_ms_median"] > 0
    assert record["test_accuracy"] > 0.1


@pytest.mark.parametrize("style", ["functional", "raw"])
def test_step_clock_counts_executions_not_batches(run_config, style):
    config = run_config(
        f"style={style}", "train.steps_per_execution=4", "train.timed_steps=6", "train.warmup_steps=5"
    )
    record: dict = {}
    configure_runtime(config.hardware)
    trainer = build_phases(config, record)
    calls = []
    original_fit = trainer.fit

    def spying_fit(data, executions, clock):
        original_fit(data, executions, clock)
        calls.append((executions, len(clock.ends)))

    trainer.fit = spying_fit
    training_phases(config, trainer, load_data(config.data), record)
    # 1 first + ceil(5 / 4) = 2 warm-up + 6 timed executions; one tick each plus the start.
    assert calls == [(9, 10)]
    assert record["step_ms_median"] > 0


def test_not_expressible_cell_becomes_a_not_applicable_record(run_config):
    record = run_trial(run_config("style=sequential", "arch=residual"))
    assert record["status"] == "not_applicable" and "skip connection" in record["reason"]


def test_gpu_without_a_gpu_is_skipped_with_a_reason(run_config):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible here")
    record = run_trial(run_config("hardware=gpu"))
    assert record["status"] == "skipped" and "no GPU visible" in record["reason"]
