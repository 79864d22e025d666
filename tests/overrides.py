"""Overrides shared by the test modules that run whole sweeps: a trial of a few steps on a few
real digits, without full epochs. Each module adds the latency, isolation and save settings it
checks."""

TINY_TRIAL = [
    "train.warmup_steps=1",
    "train.timed_steps=3",
    "train.epochs=0",
    "data=embedded",
    "data.max_train_samples=512",
    "data.max_test_samples=128",
]
