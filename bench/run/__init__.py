"""Running sweeps: what turns a composed config into rows on disk.

Owns the Hydra job and its driver (`driver`), the sweeper's order and the block plan
(`sweep`, `plan`), launching and resuming jobs in a process, a fork or a cluster
(`jobs`, `worker`, `forkserver`), adding blocks until decided (`settle`), the gate's
baseline from another commit (`against`) and the cross-backend identity check
(`crossbackend`). It sits above everything but the door: it may import measure/,
decide/, present/, results/, styles/, runtime/, data/ and the ground modules, and
must not import bench/commands/ or bench/cli.py (tests/test_layout.py).
"""
