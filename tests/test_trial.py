"""One trial end to end, on real digits with tiny step counts."""

from __future__ import annotations

import pytest

from bench import styles
from bench.trial import run_trial

pytestmark = pytest.mark.slow


def test_identical_styles_train_to_identical_accuracy(run_config):
    """Same seed, same weights, same data order: the style must not change the result."""
    records = [
        run_trial(run_config(f"style={style}", "train.steps=40", "data.max_train_samples=1024"))
        for style in styles.STYLE_NAMES
    ]
    assert all(record["status"] == "ok" for record in records)
    reference = records[1]
    assert reference["style"] == styles.REFERENCE_STYLE
    for record in records:
        assert record["test_accuracy"] == pytest.approx(reference["test_accuracy"], abs=2e-3), record["style"]
        assert record["test_loss"] == pytest.approx(reference["test_loss"], rel=1e-3), record["style"]


def test_default_trial_reaches_085_accuracy_on_embedded_digits(run_config):
    record = run_trial(run_config("style=functional", "arch=mlp"))
    assert record["test_accuracy"] > 0.85
    assert record["data_source"] == "embedded"
    assert (record["data_train_samples"], record["data_test_samples"]) == (4000, 1000)
    assert record["params"] == 101770
    assert record["step_ms_median"] > 0 and record["build_ms"] > 0
    assert record["first_step_ms"] > record["step_ms_median"]  # tracing is kept out of the median


def test_branched_trial_reports_both_heads(run_config):
    record = run_trial(run_config("style=subclass", "arch=branched", "train.steps=30"))
    assert 0 <= record["coarse_test_accuracy"] <= 1 and "coarse_test_loss" in record
    assert record["test_accuracy"] > 0.3


def test_not_expressible_cell_becomes_a_not_applicable_record(run_config):
    record = run_trial(run_config("style=sequential", "arch=residual"))
    assert record["status"] == "not_applicable" and "skip connection" in record["reason"]


def test_gpu_without_a_gpu_is_skipped_with_a_reason(run_config):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible here")
    record = run_trial(run_config("hardware=gpu"))
    assert record["status"] == "skipped" and "no GPU visible" in record["reason"]
