"""One trial end to end, on real digits with tiny step counts."""

from __future__ import annotations

import numpy as np
import pytest

from bench import styles
from bench.measure.trained import latency_calls
from bench.measure.trial import build_phases, load_data, run_trial, start_runtime, training_phases
from bench.timing import LATENCY_BATCHES, LATENCY_KINDS

pytestmark = pytest.mark.slow

TINY = (
    "train.warmup_steps=2",
    "train.timed_steps=5",
    "train.epochs=0",
    "train.latency_repeats=2",
    "train.latency_budget_ms=0",
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
                "train.latency_budget_ms=0",
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
    assert record["save_load_ok"] and record["save_ms"] > 0 and record["load_ms"] > 0
    assert record["saved_bytes"] > 4 * record["params"]  # float32 weights and the archive around them
    for size in LATENCY_BATCHES:
        assert all(record[f"{kind}_ms_b{size}"] > 0 for kind in LATENCY_KINDS)
    assert record["predict_ms_b1"] > record["call_eager_ms_b1"]  # predict() carries a large constant overhead
    assert record["runtime_init_ms"] >= 0 and record["threads"] >= 1
    assert record["step_ms_block"] > 0
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
    assert np.isnan(record["predict_ms_b1"]) and np.isnan(record["predict_on_batch_ms_b128"])
    assert record["call_eager_ms_b1"] > 0 and record["call_compiled_ms_b1"] > 0
    assert record["saved_bytes"] > 4 * record["params"]


@pytest.mark.parametrize("style", styles.STYLE_NAMES)
def test_every_style_offers_every_latency_kind(style):
    from bench import archs

    model = styles.build(style, archs.default_spec("mlp"))
    calls = latency_calls(model, xla=False)
    assert tuple(calls) == LATENCY_KINDS  # the columns results.SCHEMA declares
    assert (calls["predict"] is None) == (style == "raw")


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
    start_runtime(config)
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


SHORT_TRAINING = (
    "train.warmup_steps=2",
    "train.timed_steps=30",
    "train.block_clock_steps=0",
    "train.epochs=0",
    "train.latency_repeats=1",
    "train.latency_budget_ms=0",
    "train.anchor_steps=0",
    "data.max_train_samples=2048",
)


@pytest.mark.parametrize("style", sorted(styles.KERAS_STYLES))
def test_custom_loop_trains_keras_styles_to_fits_accuracy(run_config, style):
    """The same model, seed and batches in the custom GradientTape loop (Keras's Adam written
    out) and in fit: the same accuracy within 0.002."""
    fit, custom = (
        run_trial(run_config(f"style={style}", f"train.loop={loop}", *SHORT_TRAINING))
        for loop in ("fit", "custom")
    )
    assert fit["status"] == custom["status"] == "ok"
    assert fit["test_accuracy"] > 0.5
    assert custom["test_accuracy"] == pytest.approx(fit["test_accuracy"], abs=0.002)
    assert custom["test_loss"] == pytest.approx(fit["test_loss"], rel=0.01)


@pytest.mark.parametrize("style", styles.STYLE_NAMES)
def test_half_precisions_train_like_float32(run_config, style):
    """float16 (with loss scaling: Keras's LossScaleOptimizer, raw's hand-written one) and
    bfloat16 reach float32's accuracy within 0.03 after the same short training."""
    full = run_trial(run_config(f"style={style}", *SHORT_TRAINING))
    for precision in ("mixed_float16", "mixed_bfloat16"):
        half = run_trial(run_config(f"style={style}", f"hardware.precision={precision}", *SHORT_TRAINING))
        assert half["status"] == "ok", half
        assert half["test_accuracy"] == pytest.approx(full["test_accuracy"], abs=0.03), precision


def test_latency_and_save_load_phases_can_be_left_out(run_config):
    record = run_trial(run_config(*TINY, "train.latency_repeats=0", "train.save_load=false"))
    assert record["status"] == "ok" and record["step_ms_median"] > 0
    assert not [key for key in record if key.endswith(("_ms_b1", "_ms_b128"))]
    assert "save_ms" not in record and "save_load_ok" not in record


def test_only_a_measured_build_checks_itself_against_the_reference(run_config, embedded, monkeypatch):
    """The identity check builds one more reference model: a measured build records it, the
    throw-away builds (the process warm-up, the profiled rebuilds) skip it."""
    from bench.measure import trial

    checked = []
    original = trial._matches_reference
    monkeypatch.setattr(trial, "_matches_reference", lambda *a: checked.append(1) or original(*a))
    config = run_config("style=raw", *TINY)
    start_runtime(config)
    trial.warm_up_process(config, trial.train_arrays(config, embedded))
    assert checked == []
    record: dict = {}
    build_phases(config, record)
    assert checked == [1] and record["matches_reference"] is True
    build_phases(config, {}, check_reference=False)
    assert checked == [1]


@pytest.mark.parametrize("style", styles.STYLE_NAMES)
def test_every_style_makes_its_optimizer_state_on_the_time_to_first_step_clock(run_config, style):
    """Like for like, as a user meets it: the raw floor makes Adam's moments in `compile`
    (`compile_ms`); a Keras style makes them in its first fit, as a user's `model.fit` does
    (`first_step_ms`: on TensorFlow that is why Keras traces the step twice). Both phases
    are in `time_to_first_step_ms`. Building a Keras optimizer ahead of fit would hide the
    second trace every fit user pays (tests/test_retraces.py counts it)."""
    from bench.measure import training, trial

    config = run_config(f"style={style}", *TINY)
    start_runtime(config)
    record: dict = {}
    trainer = build_phases(config, record, check_reference=False)
    if style == "raw":
        made = lambda: [id(v) for v in [*trainer.moments, *trainer.velocities]]  # noqa: E731
    else:
        made = lambda: [id(v) for v in trainer.model.optimizer.variables]  # noqa: E731
    after_compile = made()
    dataset = load_data(config.data, config.backend)
    batches = training.pipeline_for(config, trial.train_arrays(config, dataset))
    trial.first_executions(config, trainer, batches, record)
    after_first = made()
    if style == "raw":
        assert len(after_compile) == 2 * len(trainer.params) and after_first == after_compile
    else:
        weights = len(trainer.model.trainable_variables)  # compile makes only the step count and rate
        assert len(after_compile) < weights and len(after_first) >= 2 * weights + len(after_compile)
    parts = ("construct_ms", "build_ms", "compile_ms", "first_step_ms")
    assert record["time_to_first_step_ms"] == pytest.approx(sum(record[k] for k in parts))
