"""The door's commands, one module each (`bench/cli.py` dispatches): `run` (Hydra: overrides
checked at the door, the job, settling), `verify`, `report`, `compare` (the regression gate),
`status`, `export`. Here: the error every command raises for a bad command line, whose
message is the one line the user sees, and folding a Hydra error to one line."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """A bad command line; its message is the one line the user sees."""


def one_line(error: BaseException) -> str:
    """A Hydra/OmegaConf error folded to one line: its first lines and its cause's first."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()][:2]
    cause = error.__cause__
    if cause is not None and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    return " ".join(lines)


def fraction(parser: argparse.ArgumentParser, flag: str, text: str) -> float:
    from bench.decide.compare import parse_fraction

    try:
        return parse_fraction(text)
    except ValueError:
        parser.error(f"{flag} {text!r}: give a fraction such as 5% or 0.05")
        raise  # unreachable: parser.error exits
