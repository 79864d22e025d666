"""Measuring one trial: a config in, one record of numbers out.

Owns the trial's phases and the block design (`trial`), the training loops and the
compiled-step call (`training`), what is measured of a trained model (`trained`:
evaluation, latencies, save and load, FLOP rates), memory per phase (`memory`), the
machine's facts (`machine`) and the step breakdown under each backend's profiler
(`profile`). It may import styles/, runtime/, data/, results/ and the ground modules
(config, archs, backends, timing); it must not import run/, decide/, present/ or the
door (tests/test_layout.py).
"""
