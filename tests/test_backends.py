"""Keras 3 backends: the same proven-identical models on TensorFlow, JAX and torch.

Each backend runs in its own process (Keras picks its backend once per process), so
these tests start `python` subprocesses and read JSON back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench import backends
from bench.archs import SHIPPED
from bench.run import crossbackend
from bench.styles import KERAS_STYLES, STYLE_NAMES
from tests.test_styles import DECLINED

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
OTHERS = [pytest.param(b, marks=pytest.mark.skipif(not backends.installed(b), reason=backends.missing_reason(b))) for b in ("jax", "torch")]  # fmt: skip
# Measured (2026-12-02): over 20 Adam steps from copied weights every Keras style on every
# backend stays within 1.4e-7 (relative) of TensorFlow's functional losses (float32
# rounding); the tolerance is about seven times that.
LOSS_TOLERANCE = 1e-6


def python_json(code: str, backend: str, timeout: int = 600) -> dict:
    """Run `code` in a fresh Python on `backend`; its last stdout line is JSON."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", OTHERS)
def test_verify_on_the_backend_proves_the_cells_tensorflow_proves(backend):
    finished = subprocess.run(
        [sys.executable, "-m", "bench.cli", "verify", "--backend", backend],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr[-2000:]
    assert f"backend: {backend}" in finished.stdout
    assert "45 cells: 37 identical, 8 not expressible" in finished.stdout
    not_expressible = {
        tuple(line.split()[:2]) for line in finished.stdout.splitlines() if "not expressible:" in line
    }
    assert not_expressible == DECLINED  # the cells TensorFlow declines (tests/test_styles.py)


def test_every_style_on_every_backend_gives_the_same_outputs_from_copied_weights():
    rows = crossbackend.compare(list(SHIPPED), list(STYLE_NAMES), backends.BACKENDS)
    measured = [row for row in rows if row[3] is not None]
    installed = [b for b in backends.BACKENDS if backends.installed(b)]
    assert len(measured) == 29 * len(installed), crossbackend.table(rows)
    assert max(gap for *_, gap, _ in measured) <= crossbackend.TOLERANCE, crossbackend.table(rows)
    assert crossbackend.all_identical(rows)


def test_a_mismatch_across_backends_would_be_caught(tmp_path):
    """The comparison is not vacuous: weights changed after the reference ran give a mismatch."""
    weights = tmp_path / "w.npz"
    reference = crossbackend._weights_file(["mlp"], 0, weights)
    with np.load(weights) as stored:
        changed = {k: stored[k] * (1.01 if k == "mlp/0" else 1.0) for k in stored.files}
    np.savez(weights, **changed)
    outputs = crossbackend.outputs_with_weights(weights, ["mlp"], ["functional"])
    gap = float(np.max(np.abs(outputs["mlp/functional/class"] - reference["mlp"]["class"])))
    assert gap > crossbackend.TOLERANCE


LOSS_TRAJECTORY = """
    import json, sys
    import numpy as np
    from bench import backends, runtime
    from bench.config import HardwareConfig
    backend = backends.current()
    runtime.configure(HardwareConfig(), backend)
    import keras
    from bench import data, styles
    from bench.measure import training
    from bench.archs import default_spec
    from bench.styles.trainer_common import NumpyBatches
    weights = dict(np.load(sys.argv[1] if len(sys.argv) > 1 else "{weights}"))
    embedded = data.load("mnist", "embedded")
    batches = iter(NumpyBatches(data.model_inputs(embedded.x_train), embedded.y_train, 64, 0))
    fixed = [next(batches) for _ in range(20)]
    out = {{}}
    for style in {styles}:
        runtime.seed(0)
        model = styles.build(style, default_spec("mlp"))
        model.set_weights([weights[f"mlp/{{i}}"] for i in range(4)])
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        out[style] = [float(model.train_on_batch(x, y)) for x, y in fixed]
    print(json.dumps({{"backend": keras.backend.backend(), "losses": out,
                      "tensorflow": "tensorflow" in sys.modules}}))
"""


def test_keras_styles_follow_one_loss_trajectory_on_every_backend(tmp_path):
    weights = tmp_path / "w.npz"
    crossbackend._weights_file(["mlp"], 0, weights)
    styles = sorted(KERAS_STYLES)
    code = LOSS_TRAJECTORY.format(weights=weights, styles=styles)
    trajectories = {}
    for backend in backends.BACKENDS:
        if backends.installed(backend):
            result = python_json(code, backend)
            assert result["backend"] == backend
            trajectories.update({(backend, s): np.asarray(v) for s, v in result["losses"].items()})
    reference = trajectories[("tensorflow", "functional")]
    assert reference[-1] < reference[0] * 0.8  # it trained
    gaps = {
        key: float(np.max(np.abs(losses - reference) / reference)) for key, losses in trajectories.items()
    }
    print("relative loss gaps:", {f"{b}/{s}": f"{g:.1e}" for (b, s), g in gaps.items()})
    for (backend, style), gap in gaps.items():
        assert gap <= LOSS_TOLERANCE, f"{backend}/{style}: relative gap {gap:.2e}"


TENSORFLOW_FREE_TRIAL = """
    import json, sys
    from bench import backends, archs
    from bench.config import BlockConfig, DataConfig, HardwareConfig, RunConfig, TrainConfig
    from bench.runtime import probe
    from bench.run.sweep import run_inline
    backend = backends.current()
    config = RunConfig(
        style="functional", arch=archs.default_spec("mlp"), backend=backend, isolation="inline",
        data=DataConfig(max_train_samples=1024, max_test_samples=256),
        hardware=HardwareConfig(xla=backend == "jax"),  # what backend=jax composes to
        train=TrainConfig(warmup_steps=1, timed_steps=6, block_clock_steps=4, epochs=1, anchor_steps=3,
                          latency_repeats=1, latency_budget_ms=0),
        block=BlockConfig(styles=["sequential", "functional", "subclass", "functions", "raw"], rounds=2),
    )
    peak = probe(config.hardware, backend)["peak_gflops"]
    records = run_inline(config, peak)
    print(json.dumps({"tensorflow": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")[:5],
                      "records": records}, default=str))
"""


@pytest.mark.parametrize("backend", OTHERS)
def test_a_trial_on_jax_or_torch_never_imports_tensorflow(backend):
    """Data, timing, both clocks, epochs, anchor, peak probe, latency, save/load: all TensorFlow-free."""
    result = python_json(TENSORFLOW_FREE_TRIAL, backend)
    assert result["tensorflow"] == []
    records = result["records"]
    assert [r["status"] for r in records] == ["ok"] * 5, records
    for record in records:
        assert record["save_load_ok"], record.get("save_load_error")
        assert record["peak_gflops"] > 0 and record["anchor_step_ms"] > 0 and record["step_ms_block"] > 0
        assert record["data_source"] in ("idx", "embedded")
        assert record["jit_compile_resolved"] == ("xla" if backend == "jax" else "eager")


@pytest.mark.parametrize("backend", OTHERS)
def test_steady_step_agrees_with_an_independent_blocking_timing_on_the_backend(backend):
    """tests/test_timing_agreement.py, run in a process on `backend` (Keras's own train
    function and the floor's step, each fetched; interleaved rounds; within 10%)."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/test_timing_agreement.py",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert finished.returncode == 0, finished.stdout[-3000:]
    assert "3 passed" in finished.stdout, finished.stdout[-2000:]


def test_a_backend_that_is_not_installed_gives_skipped_rows_with_the_install_command(run_config, monkeypatch):
    from bench.run import sweep

    monkeypatch.setattr(backends, "installed", lambda name: name == "tensorflow")
    config = run_config("backend=torch", "isolation=inline")
    [record] = sweep.run_inline(config, None)
    assert record == {"status": "skipped", "reason": "torch is not installed: pip install -e '.[torch]'"}


def test_an_inline_trial_on_another_backend_than_the_process_is_an_error_row_naming_the_fix(run_config):
    import keras

    from bench.run import sweep

    other = "jax" if keras.backend.backend() != "jax" else "torch"
    config = run_config(f"backend={other}", "isolation=inline")
    [record] = sweep.run_inline(config, None)
    if not backends.installed(other):
        assert record["status"] == "skipped"
        return
    assert record["status"] == "error" and "run it with isolation=process" in record["error"]
