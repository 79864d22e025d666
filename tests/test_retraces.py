"""Retraces: how often each style's train step is traced, counted by a wrapper around the
Python step function, checked against TensorFlow's own tracing count (and the graph's size
against TensorFlow's own graph), and the retrace trap
(a pass's last, smaller batch: `train.vary_batch`) seen where it bites (JAX)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import results
from bench.measure.trial import build_phases, load_data, run_trial, training_phases
from bench.present.summarize import summarize

pytestmark = pytest.mark.slow
KERAS_STYLES = ["sequential", "functional", "subclass", "functions"]
SMALL = [
    "data.max_train_samples=500",  # 3 full batches of 128 and one of 116 per pass
    "data.max_test_samples=128",
    "train.warmup_steps=1",
    "train.timed_steps=12",  # steps 3-14: the smaller batch of the first pass falls in them
    "train.epochs=0",
    "train.latency_repeats=0",
    "train.save_load=false",
    "train.block_clock_steps=0",
]


def tensorflow_functions(function, seen=None) -> list:
    """Every tf.function reachable through `function`'s closures: Keras keeps its compiled
    steps there (train_function -> multi_step_on_iterator -> one_step_on_data)."""
    seen = set() if seen is None else seen
    found = []
    for cell in getattr(function, "__closure__", None) or ():
        inner = cell.cell_contents
        if id(inner) in seen:
            continue
        seen.add(id(inner))
        if hasattr(inner, "experimental_get_tracing_count"):
            found.append(inner)
            found += tensorflow_functions(inner.python_function, seen)
        elif callable(inner):
            found += tensorflow_functions(inner, seen)
    return found


@pytest.mark.parametrize("pipeline", ["tfdata", "numpy"])
def test_the_trace_count_is_tensorflows_own(run_config, pipeline):
    config = run_config("style=functional", f"train.pipeline={pipeline}", *SMALL)
    record = {}
    trainer = build_phases(config, record)
    training_phases(config, trainer, load_data(config.data), record)
    (step,) = [
        f
        for f in tensorflow_functions(trainer.model.train_function)
        if f.python_function.__name__ == "one_step_on_data"
    ]
    assert record["traces_to_first_step"] == trainer.traces() == step.experimental_get_tracing_count()
    assert _graph_of_size(step, record["graph_ops"])
    raw = run_config("style=raw", *SMALL)
    raw_record = {}
    raw_trainer = build_phases(raw, raw_record)
    training_phases(raw, raw_trainer, load_data(raw.data), raw_record)
    assert raw_trainer.traces() == raw_trainer.one_step.experimental_get_tracing_count() == 1
    assert _graph_of_size(raw_trainer.one_step, raw_record["graph_ops"])
    assert raw_record["graph_ops"] < record["graph_ops"]  # no Keras bookkeeping in raw's step


def _graph_of_size(step, counted: int) -> bool:
    """`graph_ops` (counted when the step's Python body returns) against the ops in one of
    TensorFlow's own concrete graphs of that step, which adds its output ops after the body."""
    sizes = [len(concrete.graph.get_operations()) for concrete in step._list_all_concrete_functions()]
    return counted > 50 and any(0 <= size - counted <= 5 for size in sizes)


@pytest.mark.parametrize("style", [*KERAS_STYLES, "raw"])
def test_no_style_retraces_in_steady_state_on_fixed_shapes(run_config, style):
    record = run_trial(run_config(f"style={style}", *SMALL))
    assert record["status"] == "ok"
    assert record["retraces_steady"] == 0
    # Keras traces its train step twice before the first step on TensorFlow (TensorFlow's own
    # count agrees, test above); the raw tf.function once.
    assert record["traces_to_first_step"] == (1 if style == "raw" else 2)


def test_a_smaller_last_batch_never_retraces_on_tensorflow(run_config):
    """tf.data without drop_remainder, and Keras's generator adapter, give the batch a
    dimension of None: one trace serves every batch size."""
    for pipeline in ("tfdata", "numpy"):
        record = run_trial(
            run_config("style=functional", "train.vary_batch=true", f"train.pipeline={pipeline}", *SMALL)
        )
        assert record["status"] == "ok" and record["retraces_steady"] == 0


def test_on_jax_the_smaller_last_batch_retraces_and_the_report_names_it(tmp_path):
    """JAX compiles one program per input shape: the pass's last batch is a new trace inside
    the timed steps, for every style, counted and named by the report."""
    pytest.importorskip("jax")
    command = [
        str(Path(sys.executable).parent / "bench"), "run", "-m", "backend=jax", "isolation=inline",
        "style=functional,subclass,raw", "arch=mlp", "train.vary_batch=false,true", "data=embedded", *SMALL,
        "sweep_id=j", f"results.dir={tmp_path}",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "KERAS_BACKEND": "jax"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    frame = results.load(tmp_path / "j")
    assert set(frame["status"]) == {"ok"} and len(frame) == 6
    retraces = frame.set_index(["style", "train_vary_batch"])["retraces_steady"]
    assert all(retraces[(style, False)] == 0 for style in ("functional", "subclass", "raw"))
    assert all(retraces[(style, True)] == 1 for style in ("functional", "subclass", "raw"))
    assert (frame["traces_to_first_step"] == 1).all()  # jax.jit traces once per shape
    banners = [b for b in summarize(frame).banners if "retraced" in b]
    assert len(banners) == 3 and all("vary batch True" in b for b in banners)


def test_a_block_counts_retraces_over_its_rounds(run_config):
    from bench.measure.trial import run_block

    config = run_config("block.styles=[functional,raw]", "block.rounds=3", *SMALL)
    records = run_block(config)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["traces_to_first_step"] for r in records] == [2, 1]
    assert [r["retraces_steady"] for r in records] == [0, 0]


def test_no_counts_for_an_eager_step(run_config):
    record = run_trial(run_config("style=functional", "train.run_eagerly=true", *SMALL))
    assert record["status"] == "ok" and "retraces_steady" not in record
    assert pd.isna(results.to_frame([{**record, "status": "ok"}])["retraces_steady"].iloc[0])
    assert np.isfinite(record["step_ms_median"])
