"""The phases behind a style's cost: host memory per phase (bench/measure/memory.py: the kernel's
peak, reset per phase) checked against allocations of known size and against each trial's
own parameter bytes; the time spent tracing the step (TraceCounter) against a traced body of
known duration and against the first step that contains it."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from bench.measure import memory
from bench.measure.trial import build_phases, load_data, run_block, training_phases
from bench.styles.trainer_common import TraceCounter

MIB = 2**20


def test_a_phase_sees_a_known_allocation_and_nothing_more():
    record: dict = {}
    with memory.growth(record, "big"):
        block = np.ones(200 * MIB, dtype=np.uint8)  # written, so resident
        del block
    with memory.growth(record, "none"):
        sum(range(1000))
    assert 195 <= record["big"] <= 215
    assert record["none"] < 5
    # the process's peak keeps the allocation although the kernel's counter was reset since
    assert memory.process_peak_mb() >= memory.resident_mb() + 195


def test_the_largest_of_repeated_phases_is_kept():
    record: dict = {}
    for size in (50, 120, 30):
        with memory.growth(record, "steady"):
            block = np.ones(size * MIB, dtype=np.uint8)
            del block
    assert 115 <= record["steady"] <= 135


def test_memory_a_framework_pool_kept_and_reuses_still_counts():
    """TensorFlow (with oneDNN, its x86 default) keeps freed host tensors in its own pool: a
    tensor made after a larger one was freed reuses its pages, the resident set does not grow,
    and only the pool's own count shows the phase's allocation."""
    tf = pytest.importorskip("tensorflow")
    if math.isnan(memory._pool().host_pool_mb()[0]):
        pytest.skip("this TensorFlow's host allocator keeps no count")
    larger = tf.random.uniform((64 * MIB // 4,))  # 64 MiB, written
    del larger
    record: dict = {}
    with memory.growth(record, "reused"):
        again = tf.random.uniform((32 * MIB // 4,))
        del again
    assert 31 <= record["reused"] <= 40


def test_without_the_kernels_counters_growth_is_nan(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    record: dict = {}
    with memory.growth(record, "phase"):
        pass
    assert math.isnan(record["phase"])


@pytest.mark.slow
def test_a_trials_build_holds_its_weights(run_config):
    """A 784-4096-10 mlp holds 3.26 M float32 parameters (12.4 MiB): its build phase grows by
    at least that, its first step (which builds Adam's two slots per weight) at least twice
    that, and each steady step at least that again (its gradients, freed after every step)."""
    config = run_config(
        "style=functional", "arch.hidden_units=4096", "data.max_train_samples=512", "train.warmup_steps=2",
        "train.timed_steps=10", "train.epochs=0", "train.block_clock_steps=0",
    )  # fmt: skip
    record: dict = {}
    trainer = build_phases(config, record)
    training_phases(config, trainer, load_data(config.data), record)
    weights_mb = record["params"] * 4 / MIB
    assert record["mem_build_mb"] >= 0.95 * weights_mb
    assert record["mem_first_step_mb"] >= 2 * 0.95 * weights_mb  # Adam's two slots per weight, at least
    assert record["mem_steady_mb"] >= 0.95 * weights_mb  # each step's gradients: one per weight


@pytest.mark.slow
def test_a_build_after_a_larger_model_was_freed_still_holds_its_weights(run_config):
    """The order that failed every full run: a larger model built, trained and dropped first,
    its memory kept by the framework's pool for reuse."""
    common = ("style=functional", "data.max_train_samples=512", "train.warmup_steps=2", "train.timed_steps=4",
              "train.epochs=0", "train.block_clock_steps=0")  # fmt: skip
    larger = run_config(*common, "arch.hidden_units=8192")
    dropped: dict = {}
    training_phases(larger, build_phases(larger, dropped), load_data(larger.data), dropped)
    config = run_config(*common, "arch.hidden_units=4096")
    record: dict = {}
    training_phases(config, build_phases(config, record), load_data(config.data), record)
    weights_mb = record["params"] * 4 / MIB
    assert record["mem_build_mb"] >= 0.95 * weights_mb
    assert record["mem_first_step_mb"] >= 2 * 0.95 * weights_mb
    assert record["mem_steady_mb"] >= 0.95 * weights_mb


@pytest.mark.slow
def test_every_style_of_a_block_gets_its_own_memory(run_config):
    config = run_config(
        "block.styles=[functional,raw]", "arch.hidden_units=2048", "data.max_train_samples=512",
        "train.warmup_steps=2", "train.timed_steps=6", "block.rounds=2", "train.epochs=0",
        "train.block_clock_steps=0", "train.latency_repeats=0", "train.save_load=false", "train.anchor_steps=0",
    )  # fmt: skip
    records = run_block(config)
    weights_mb = records[0]["params"] * 4 / MIB
    for record in records:
        assert record["status"] == "ok"
        assert record["mem_build_mb"] >= 0.95 * weights_mb  # the second style too: the heap was trimmed
        assert record["mem_first_step_mb"] >= 0 and record["mem_steady_mb"] >= 0
        assert record["rss_after_data_mb"] > 100 and math.isnan(record["accelerator_peak_mb"])


def test_trace_time_is_the_traced_bodys_own_and_only_while_tracing():
    import tensorflow as tf

    counter = TraceCounter(compiled=True)

    def body(x):
        time.sleep(0.05)  # Python work while the graph is built: runs only when traced
        return x * 2

    step = tf.function(counter.wrap(body))
    started = time.perf_counter()
    step(tf.constant(1.0))
    first_ms = (time.perf_counter() - started) * 1000
    assert counter.traces == 1 and 50 <= counter.trace_ms <= first_ms
    step(tf.constant(2.0))  # the cached graph: no Python body, no tracing time
    assert counter.traces == 1 and counter.trace_ms <= first_ms
    step(tf.constant([1.0, 2.0]))  # a new shape: traced again
    assert counter.traces == 2 and counter.trace_ms >= 100


@pytest.mark.slow
@pytest.mark.parametrize("style", ["functional", "raw"])
def test_a_trials_tracing_is_part_of_its_first_step(run_config, style):
    config = run_config(
        f"style={style}", "data.max_train_samples=512", "train.warmup_steps=2", "train.timed_steps=5",
        "train.epochs=0", "train.block_clock_steps=0",
    )  # fmt: skip
    record: dict = {}
    trainer = build_phases(config, record)
    training_phases(config, trainer, load_data(config.data), record)
    assert 0 < record["trace_ms"] < record["first_step_ms"]
    assert record["trace_ms"] == pytest.approx(
        trainer.trace_counter.trace_ms
    )  # no retrace after the first step


@pytest.mark.slow
def test_layer_calls_are_the_models_own_layers(run_config):
    """One call of the model and one per layer it lists (its input layer is never called); raw
    calls no Keras layer."""
    import keras

    from bench import styles

    batch = np.zeros((2, 28, 28, 1), dtype="float32")
    for style in ("sequential", "functional", "subclass"):
        model = styles.build(style, run_config(f"style={style}").arch)
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        assert styles.layer_calls(model, batch) == 1 + len(layers) == 4  # Flatten, Dense, Dense
    assert styles.layer_calls(styles.build("raw", run_config("style=raw").arch), batch) == 0


def test_garbage_freed_during_a_phase_does_not_hide_its_growth():
    """A model dropped before a phase but left in a reference cycle is freed whenever the
    collector runs: inside the phase it would lower the resident set under the phase's own
    allocation (the fresh-clone failure of the two tests above). A build phase collects first;
    without it this reads about 0 MiB."""
    cycle: list = [np.ones(100 * MIB, dtype=np.uint8)]
    cycle.append(cycle)  # only the cyclic collector can free it
    del cycle
    record: dict = {}
    with memory.growth(record, "phase", collect=True):
        import gc

        gc.collect()  # the collector running early in the phase, as it may on its own
        block = np.ones(50 * MIB, dtype=np.uint8)
        del block
    assert 45 <= record["phase"] <= 60
