"""`python -m bench.runtime BACKEND DEVICE PRECISION THREADS`: the peak probe in a fresh
process, one JSON line out."""

from __future__ import annotations

import json
import sys

from bench.config import HardwareConfig
from bench.runtime import probe

backend, device, precision, threads = sys.argv[1:5]
hardware = HardwareConfig(device=device, precision=precision, threads=int(threads))
print(json.dumps(probe(hardware, backend)))
