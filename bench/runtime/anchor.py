"""A machine-speed anchor: one fixed workload, timed in every trial's own process.

A shared 2-core VM drifts: the same code measured an hour apart can step 30%
slower, far more than the noise inside one sweep. A baseline committed in one
session and compared in another would read that drift as a regression. The
anchor is a training step that never changes with the suite's code (plain
framework code, no Keras, no bench code: an MLP 784-128-10 at batch 128 with SGD
on fixed synthetic data), timed with the suite's own clock after the trial's
training (its timed steps, then any full epochs), in the same process, threads
and device (`anchor_step_ms`). Each backend's runtime module writes the step in
its own framework (`anchor_step`), so a JAX or torch trial never imports
TensorFlow; rows carry their backend, and an anchor is only ever divided by an
anchor of the same backend. `bench compare --anchored` divides the ratio of two
sweeps' median anchors out of their step times: that cancels what the machine
did to both and keeps what the code under test did to one.

Change no backend's workload without bumping ANCHOR_VERSION: baselines hold anchors
measured with these exact workloads, and `bench compare` refuses to mix versions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.timing import StepClock

ANCHOR_VERSION = 1
WARMUP_STEPS = 10
INPUTS, HIDDEN, CLASSES, BATCH = 784, 128, 10, 128
LEARNING_RATE = 0.01


def anchor_step_ms(step: Callable[[], object], steps: int) -> float:
    """Median milliseconds of `step` (one anchor step that returns once its result is on
    the host) over `steps` timed steps, after WARMUP_STEPS untimed ones."""
    if steps < 1:
        raise ValueError("anchor steps must be at least 1")
    for _ in range(WARMUP_STEPS):
        step()
    clock = StepClock()
    clock.start()
    for _ in range(steps):
        step()  # fetched: the same end-of-execution clock as the trial's steps
        clock.tick()
    return float(np.median(clock.gaps_ms()))
