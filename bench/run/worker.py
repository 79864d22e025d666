"""A trial (or a block of trials) in its own process: resolved config JSON in, records JSON out.

    python -m bench.run.worker CONFIG.json RECORD.json

The process selects the trial's Keras backend, then imports Keras and that backend's
framework itself (timed as `import_s`), so no state, memory or import cost leaks from
one trial into the next, and a JAX or torch trial never imports TensorFlow. Under
`isolation=fork` the same `main` runs in a child of bench/run/forkserver.py, which did the
import once. Any exception
becomes an `error` record; a crash or kill leaves no record, and the driver
writes the error row.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def prepare(backend: str, device: str) -> None:
    """Select the backend, then import Keras and the backend's framework (when installed)."""
    from bench import backends

    if backends.installed(backend):
        backends.select(backend, device)  # before anything imports Keras
        import importlib

        import keras  # noqa: F401

        importlib.import_module(backend)


def main(argv: list[str], import_s: float | None = None) -> int:
    """Run the block; `import_s` is given when the import was paid elsewhere (a fork server)."""
    config_path, record_path = (Path(arg) for arg in argv)
    payload = json.loads(config_path.read_text())
    if import_s is None:
        prepare(payload["config"].get("backend", "tensorflow"), payload["config"]["hardware"]["device"])
        import_s = time.perf_counter() - STARTED
    from bench.config import from_dict
    from bench.results import write_atomic
    from bench.run.sweep import run_inline  # the same call, exceptions to error records, in this process

    records = run_inline(from_dict(payload["config"]), payload.get("peak_gflops"))
    for record in records:
        record["import_s"] = import_s
    write_atomic(record_path, json.dumps({"records": records}).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
