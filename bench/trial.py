"""One configuration: build, train, time, evaluate -> one record (numbers, never text).

First cut: build time, the median steady step and test accuracy. Steps before
`warmup_steps(steps)` (tracing, first-call work) are kept out of the median.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import asdict
from typing import Any

import keras
import numpy as np

from bench import data, styles, training
from bench.config import DataConfig, RunConfig


@functools.lru_cache(maxsize=4)
def _load_cached(fields: tuple[tuple[str, Any], ...]) -> data.Dataset:
    return data.load(**dict(fields))


def load_data(config: DataConfig) -> data.Dataset:
    """Load once per process for identical data settings (sweeps run many trials)."""
    return _load_cached(tuple(sorted(asdict(config).items())))


def warmup_steps(steps: int) -> int:
    """Steps left out of the steady median: at least the first, about a tenth of the run."""
    return max(1, steps // 10)


def gpu_problem(device: str) -> str | None:
    """Why the requested device cannot be used, or None. On cpu, GPUs are hidden."""
    import tensorflow as tf

    if device == "cpu":
        # RuntimeError: devices were already initialised by an earlier trial in this process.
        with contextlib.suppress(RuntimeError):
            tf.config.set_visible_devices([], "GPU")
        return None
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return "no GPU visible to TensorFlow on this machine"
    return None


def run_trial(config: RunConfig) -> dict[str, Any]:
    """One record for one style × architecture: `ok`, `skipped` or `not_applicable`."""
    cell = {"style": config.style, "arch": config.arch.name, "device": config.hardware.device}
    problem = gpu_problem(config.hardware.device)
    if problem:
        return {**cell, "status": "skipped", "reason": problem}
    try:
        return {**cell, "status": "ok", **measure(config)}
    except styles.NotExpressible as reason:
        return {**cell, "status": "not_applicable", "reason": str(reason)}


def measure(config: RunConfig) -> dict[str, Any]:
    """Build, train `train.steps` steps and evaluate; raises NotExpressible."""
    dataset = load_data(config.data)
    keras.utils.set_random_seed(config.train.seed)

    started = time.perf_counter()
    model = styles.build(config.style, config.arch)
    build_ms = (time.perf_counter() - started) * 1000.0

    trainer = training.trainer_for(config.style, model, config.arch, config.train)
    trainer.compile()
    labels = training.targets(config.arch, dataset.y_train, dataset.provenance.dataset)
    images = data.model_inputs(dataset.x_train)
    batches = training.pipeline(images, labels, config.train.batch_size, config.train.seed)
    clock = training.StepClock()
    trainer.fit(batches, config.train.steps, clock)
    step_ms = clock.step_ms()
    steady = step_ms[warmup_steps(len(step_ms)) :]

    test_labels = training.targets(config.arch, dataset.y_test, dataset.provenance.dataset)
    scores = training.evaluate(
        model, data.model_inputs(dataset.x_test), test_labels, config.train.eval_batch_size
    )
    provenance = dataset.provenance
    return {
        "backend": keras.backend.backend(),
        "params": int(model.count_params()),
        "build_ms": build_ms,
        "first_step_ms": float(step_ms[0]),
        "step_ms_median": float(np.median(steady)),
        "steps": config.train.steps,
        **scores,
        "data_source": provenance.source,
        "data_train_samples": provenance.train_samples,
        "data_test_samples": provenance.test_samples,
        "data_sha256": provenance.sha256,
    }
