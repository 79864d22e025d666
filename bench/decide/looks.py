"""A settled sweep's looks (`looks.json` in its folder): the planned block counts, the family
alpha and the look the sweep reached, so that `bench report` decides at that look's share
of alpha (bench/run/settle.py adds the blocks; bench.decide.spend shares alpha out)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench import decide, results

LOOKS_FILE = "looks.json"


@dataclass(frozen=True)
class Looks:
    """The planned looks (block counts), the family alpha, and the look the sweep reached."""

    looks: tuple[int, ...]
    alpha: float
    reached: int

    @property
    def share(self) -> float:
        """The alpha the decisions at the reached look are made at."""
        return decide.spend(self.alpha, self.reached, self.looks)


def write(folder: Path, looks: Looks) -> None:
    text = json.dumps({"looks": list(looks.looks), "alpha": looks.alpha, "reached": looks.reached}, indent=1)
    results.write_atomic(folder / LOOKS_FILE, text.encode())


def read(folder: str | Path) -> Looks | None:
    """The sweep's looks, or None for a sweep that did not settle (decided at the full alpha)."""
    path = Path(folder) / LOOKS_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return Looks(tuple(int(n) for n in data["looks"]), float(data["alpha"]), int(data["reached"]))
