"""`python -m bench.runtime BACKEND DEVICE PRECISION THREADS`: the peak probe in a fresh
process (or a child of the fork server), one JSON line out."""

from __future__ import annotations

import json
import sys

from bench.config import HardwareConfig
from bench.runtime import probe


def main(argv: list[str], import_s: float | None = None) -> int:  # noqa: ARG001 - the fork server's call
    backend, device, precision, threads = argv[:4]
    hardware = HardwareConfig(device=device, precision=precision, threads=int(threads))
    print(json.dumps(probe(hardware, backend)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
