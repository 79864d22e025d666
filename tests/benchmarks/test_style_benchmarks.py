"""pytest-benchmark suites: time to first step and one steady training step, per style on mlp.

`make test` runs them with --benchmark-disable (each body once, as a correctness
test); `make benchmark` times them and saves the run under .benchmarks/;
`make benchmark-compare` compares against the last saved run and fails when a
median got more than 15% slower. These time a warm pytest process: compare
them with each other, not with `bench run` trials, which use fresh processes.
"""

from __future__ import annotations

from dataclasses import asdict

import keras
import pytest

from bench import data, styles
from bench.archs import default_spec
from bench.config import HardwareConfig, TrainConfig
from bench.measure import training
from bench.timing import StepClock

SPEC = default_spec("mlp")
TRAIN = TrainConfig(batch_size=128)
HARDWARE = HardwareConfig()


@pytest.fixture(scope="module")
def batches(embedded):
    images = data.model_inputs(embedded.x_train)
    return training.pipeline(images, embedded.y_train, TRAIN.batch_size, TRAIN.seed)


def ready_trainer(style: str):
    keras.utils.set_random_seed(TRAIN.seed)
    model = styles.build(style, SPEC)
    trainer = training.trainer_for(style, model, SPEC, TRAIN, HARDWARE)
    trainer.compile()
    return trainer


def describe(benchmark, style: str) -> None:
    benchmark.extra_info.update(
        style=style, arch=SPEC.name, spec=asdict(SPEC), train=asdict(TRAIN), hardware=asdict(HARDWARE)
    )


@pytest.mark.parametrize("style", styles.STYLE_NAMES)
def test_time_to_first_step(benchmark, batches, style):
    """Construct, build, compile and run the first (tracing) step of a new model."""
    describe(benchmark, style)

    def first_step():
        trainer = ready_trainer(style)
        clock = StepClock()
        trainer.fit(batches, 1, clock)
        return clock

    clock = benchmark.pedantic(first_step, rounds=3, iterations=1)
    assert len(clock.ends) == 2


@pytest.mark.parametrize("style", styles.STYLE_NAMES)
def test_steady_training_step(benchmark, batches, style):
    """One call of the compiled train function on the next batch, result fetched."""
    describe(benchmark, style)
    trainer = ready_trainer(style)
    trainer.fit(batches, 2, StepClock())  # trace and warm up
    iterator = iter(batches)
    outputs = benchmark(training.run_one_execution, trainer, iterator)
    loss = outputs["loss"] if isinstance(outputs, dict) else outputs
    assert float(loss) > 0
