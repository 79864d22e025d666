"""A trial in its own process: resolved config JSON in, record JSON out.

    python -m bench.worker CONFIG.json RECORD.json

The process imports TensorFlow itself (timed as `import_s`), so no state,
memory or import cost leaks from one trial into the next. Any exception
becomes an `error` record; a crash or kill leaves no record, and the driver
writes the error row.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402


def main(argv: list[str]) -> int:
    config_path, record_path = (Path(arg) for arg in argv)
    payload = json.loads(config_path.read_text())
    import bench  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)

    # isort: split
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    import_s = time.perf_counter() - STARTED
    from bench.config import from_dict
    from bench.results import write_atomic
    from bench.trial import run_trial

    try:
        record = run_trial(from_dict(payload["config"]), payload.get("peak_gflops"))
    except Exception as error:
        traceback.print_exc()
        record = {"status": "error", "error": f"{type(error).__name__}: {error}"[:2000]}
    record["import_s"] = import_s
    write_atomic(record_path, json.dumps(record).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
