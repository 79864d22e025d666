"""A machine-speed anchor: one fixed workload, timed in every trial's own process.

A shared 2-core VM drifts: the same code measured an hour apart can step 30%
slower, far more than the noise inside one sweep. A baseline committed in one
session and compared in another would read that drift as a regression. The
anchor is a training step that never changes with the suite's code (plain
TensorFlow, no Keras, no bench code: an MLP 784-128-10 at batch 128 with SGD on
fixed synthetic data), timed with the suite's own clock after the trial's
training (its timed steps, then any full epochs), in the same process, threads
and device
(`anchor_step_ms`). `bench compare --anchored` divides the ratio of two sweeps'
median anchors out of their step times: that cancels what the machine did to
both and keeps what the code under test did to one.

Change nothing here without bumping ANCHOR_VERSION: baselines hold anchors
measured with this exact workload, and `bench compare` refuses to mix versions.
"""

from __future__ import annotations

import numpy as np

from bench.timing import StepClock

ANCHOR_VERSION = 1
WARMUP_STEPS = 10
INPUTS, HIDDEN, CLASSES, BATCH = 784, 128, 10, 128


def _anchor_step():  # returns a tf.function
    import tensorflow as tf

    # Placed where TensorFlow places it: on the trial's device, as configured for the trial.
    x = tf.random.stateless_uniform([BATCH, INPUTS], seed=[7, 1])
    y = tf.random.stateless_uniform([BATCH], seed=[7, 2], maxval=CLASSES, dtype=tf.int32)
    weights = [
        tf.Variable(tf.random.stateless_normal([INPUTS, HIDDEN], seed=[7, 3]) * 0.05),
        tf.Variable(tf.zeros([HIDDEN])),
        tf.Variable(tf.random.stateless_normal([HIDDEN, CLASSES], seed=[7, 4]) * 0.05),
        tf.Variable(tf.zeros([CLASSES])),
    ]

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            hidden = tf.nn.relu(x @ weights[0] + weights[1])
            logits = hidden @ weights[2] + weights[3]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        for variable, gradient in zip(weights, tape.gradient(loss, weights), strict=True):
            variable.assign_sub(0.01 * gradient)
        return loss

    return step


def anchor_step_ms(steps: int) -> float:
    """Median milliseconds of the fixed anchor step over `steps` timed steps."""
    if steps < 1:
        raise ValueError("anchor steps must be at least 1")
    step = _anchor_step()
    for _ in range(WARMUP_STEPS):
        step().numpy()
    clock = StepClock()
    clock.start()
    for _ in range(steps):
        step().numpy()  # fetched: the same end-of-execution clock as the trial's steps
        clock.tick()
    return float(np.median(clock.gaps_ms()))
