"""`bench run ... --settle-budget S`: add interleaved blocks where comparisons are still undecided.

A sweep runs its preset's blocks first (the first look). Then, while the time budget
lasts, the comparisons the report would make are decided at this look's share of alpha
(bench.decide.spend over the planned looks: first, first + step, ..., cap); the
architectures with an undecided comparison get `step` more blocks (resuming the same
sweep: only new repeats run), and the family is looked at again. It stops when everything
is decided, at the cap, or when the next step would not fit in the budget (estimated from
the blocks run so far).

The plan and how far it got are written to `looks.json` in the sweep folder; `bench
report` reads it and decides at the share of alpha of the look the sweep stopped at, so
that the error rate holds across every look (a cell that stopped adding blocks earlier is
decided once more at that final share: still within alpha over all the looks, by the
union bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench import decide, results
from bench.decide import cells
from bench.decide.looks import LOOKS_FILE, Looks, read, write

__all__ = ["LOOKS_FILE", "Looks", "read", "settle", "undecided_archs", "write"]


def undecided_archs(folder: Path, reference: str, margin: float, alpha: float) -> dict[str, int]:
    """Architecture -> how many of its comparisons (style, loop, backend) are undecided at alpha."""
    from bench.present.comparisons import decided_together

    frame = cells.with_labels(results.load(folder))
    ok = frame[frame["status"] == "ok"]
    counts: dict[str, int] = {}
    for table in decided_together(ok, reference, margin, alpha):
        for arch in table.loc[table["decision"] == decide.UNDECIDED, "arch"]:
            counts[str(arch)] = counts.get(str(arch), 0) + 1
    return counts


def settle(
    folder: Path,
    rerun: Callable[[list[str]], None],
    budget_s: float,
    step: int,
    cap: int,
    started: float,
    reference: str = "functional",
    margin: float = decide.MARGIN,
    alpha: float = decide.ALPHA,
    clock: Callable[[], float] = time.monotonic,
) -> Looks:
    """Add blocks where comparisons are undecided until decided, at `cap`, or out of budget."""
    rows = results.load(folder)
    first = int(rows["repeat"].max())
    looks = Looks(decide.planned_looks(first, step, cap), alpha, first)
    write(folder, looks)
    blocks = len(rows.drop_duplicates(["arch", "repeat", "hardware_xla", "backend"]))
    while True:
        open_ = undecided_archs(folder, reference, margin, looks.share)
        said = ", ".join(f"{arch} {n}" for arch, n in sorted(open_.items())) or "none"
        print(
            f"settle: look at {looks.reached} blocks (alpha {looks.share:.3g}): undecided {said}", flush=True
        )
        if not open_ or looks.reached >= looks.looks[-1]:
            return looks
        following = looks.looks[looks.looks.index(looks.reached) + 1]
        elapsed = clock() - started
        cost = elapsed / max(blocks, 1) * len(open_) * (following - looks.reached)
        if elapsed + cost > budget_s:
            print(f"settle: the next look needs about {cost:.0f} s more, past the {budget_s:.0f} s budget; "
                  f"stopping at {looks.reached} blocks", flush=True)  # fmt: skip
            return looks
        rerun([f"repeat=range({looks.reached + 1},{following + 1})", f"arch={','.join(sorted(open_))}"])
        blocks += len(open_) * (following - looks.reached)
        looks = Looks(looks.looks, alpha, following)
        write(folder, looks)
