"""What is measured of a trained model, the same for every style: test accuracy and loss
(computed outside Keras), Keras layer calls, every forward-pass latency at batch 1 and 128
(eager, compiled, predict_on_batch, predict), the save/load round trip through the style's own
format, FLOP rates against the machine's peak, and the environment (framework, data, device).
`bench/measure/trial.py` runs these after the training phases."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench import archs, data, runtime, styles
from bench.config import RunConfig
from bench.measure import machine, memory, training
from bench.styles import raw, trainer_common
from bench.timing import LATENCY_BATCHES, elapsed_ms, median_call_ms


def latency_calls(model: Any, xla: bool) -> dict[str, Any]:
    """Each way of running the forward pass, the same for every style: the eager call, the
    forward compiled by the backend (bench/runtime: a tf.function with XLA per toggle on
    TensorFlow, jax.jit on JAX, torch.compile on torch with hardware.xla), and Keras's
    `predict_on_batch` and `predict` (None for raw, which has neither). Raw's eager call is
    its forward function run eagerly, not the compiled function its `__call__` goes through."""
    import keras

    backend = runtime.for_backend()
    if isinstance(model, keras.Model):
        eager = functools.partial(model.__call__, training=False)
        return {
            "call_eager": eager,
            "call_compiled": backend.compiled(eager, xla),
            "predict_on_batch": model.predict_on_batch,
            "predict": lambda batch: model.predict(batch, batch_size=len(batch), verbose=0),
        }
    forward = model.eager_forward()
    return {
        "call_eager": forward,
        "call_compiled": backend.compiled(forward, xla),
        "predict_on_batch": None,
        "predict": None,
    }


def latency_phases(model: Any, images: np.ndarray, config: RunConfig, record: dict[str, Any]) -> None:
    """Every forward-pass latency at batch 1 and 128: median of at least `latency_repeats`
    fetched calls, more until `latency_budget_ms` is spent, after one untimed call (which
    traces and compiles the compiled call). Direct calls take a tensor
    (converted once, untimed), predict and predict_on_batch the NumPy array a user passes."""
    import keras

    for size in LATENCY_BATCHES:
        array = images[:size]
        tensor = keras.ops.convert_to_tensor(array)  # on the backend's device
        for kind, call in latency_calls(model, config.hardware.xla).items():
            batch = array if kind.startswith("predict") else tensor
            record[f"{kind}_ms_b{size}"] = (
                median_call_ms(
                    lambda c=call, b=batch: _fetch(c(b)),
                    config.train.latency_repeats,
                    config.train.latency_budget_ms,
                )
                if call
                else float("nan")
            )


def _fetch(outputs: Any) -> Any:
    return (
        {k: training.host(v) for k, v in outputs.items()}
        if isinstance(outputs, dict)
        else training.host(outputs)
    )


def save_load_phase(model: Any, spec: archs.ArchSpec, images: np.ndarray, record: dict[str, Any]) -> None:
    """Save and load through the style's own format, each timed, plus the bytes on disk;
    ok only if the loaded model gives the same outputs (checked untimed)."""
    expected = training.predict_logits(model, images, len(images))
    with tempfile.TemporaryDirectory() as folder:
        try:
            with elapsed_ms(record, "save_ms"):
                path = _save(model, Path(folder))
            record["saved_bytes"] = _bytes_on_disk(path)
            with elapsed_ms(record, "load_ms"):
                loaded = _load(model, path, spec)
            restored = training.predict_logits(loaded, images, len(images))
            ok = all(np.allclose(restored[k], expected[k], atol=1e-5) for k in expected)
            record["save_load_ok"], record["save_load_error"] = ok, "" if ok else "outputs changed"
        except Exception as error:  # the point is to record whether it works at all
            record["save_load_ok"], record["save_load_error"] = (
                False,
                f"{type(error).__name__}: {error}"[:500],
            )


def _save(model: Any, folder: Path) -> Path:
    """A Keras model in Keras's own format (every backend); raw in its floor's format."""
    if raw.is_raw(model):
        return raw.save(model, folder)
    model.save(folder / "model.keras")
    return folder / "model.keras"


def _load(model: Any, path: Path, spec: archs.ArchSpec) -> Any:
    if raw.is_raw(model):
        return raw.load(path, spec)
    import keras

    return keras.models.load_model(path)


def _bytes_on_disk(path: Path) -> int:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files)


def after_training(
    config: RunConfig, trainer: Any, dataset: data.Dataset, peak_gflops: float | None, step_ms: float
) -> dict[str, Any]:
    """Evaluation, latency, save/load, FLOP rates and environment, from a trained trainer."""
    record: dict[str, Any] = {}
    test_images = data.model_inputs(dataset.x_test)
    test_labels = trainer_common.targets(config.arch, dataset.y_test, dataset.provenance.dataset)
    record.update(training.evaluate(trainer.model, test_images, test_labels, config.train.eval_batch_size))
    record["layer_calls"] = styles.layer_calls(trainer.model, test_images[:8])
    if config.train.latency_repeats > 0:
        latency_phases(trainer.model, test_images, config, record)
    if config.train.save_load:
        save_load_phase(trainer.model, config.arch, test_images[:8], record)
    flops = archs.train_flops(config.arch) * config.train.batch_size
    record["train_gflop_per_step"] = flops / 1e9
    record["gflops_per_s"] = flops / (step_ms / 1000.0) / 1e9
    if peak_gflops:
        record["peak_gflops"] = peak_gflops
        record["pct_of_peak"] = 100.0 * record["gflops_per_s"] / peak_gflops
    record["peak_rss_mb"] = memory.process_peak_mb()
    record["accelerator_peak_mb"] = runtime.for_backend(config.backend).accelerator_peak_mb()
    record["framework_version"] = machine.package_version(config.backend)
    record.update(_provenance_columns(dataset.provenance))
    record.update(runtime.for_backend(config.backend).accelerator_environment())
    return record


def _provenance_columns(provenance: data.Provenance) -> dict[str, Any]:
    return {
        "data_source": provenance.source,
        "data_location": provenance.location,
        "data_train_samples": provenance.train_samples,
        "data_test_samples": provenance.test_samples,
        "data_sha256": provenance.sha256,
        "data_note": provenance.note,
    }
