"""`bench compare --against REF`: the code at REF and this checkout, run interleaved here and now.

A stored baseline carries the machine it was measured on; the machine-speed
anchor divides some of that out, but not all of it from one host to another.
Comparing against code instead removes stored numbers from the decision: REF
is checked out in its own git worktree (`.worktrees/<commit>`), and each repeat
runs the sweep preset once per side, back to back, alternating which side goes
first. Repeat i of REF and repeat i of the checkout are then a pair that shares
the machine's state of that minute, and `bench compare` decides on the paired
ratios (signed-rank tests, bench.decide).

Environment: when REF declares the same runtime dependencies as this checkout
(pyproject.toml's dependencies and extras but `dev`), REF runs with this interpreter and its own tree
first on PYTHONPATH (its `bench` and sweeper shadow the installed ones); else a
virtual environment is made in its worktree once (`pip install -e`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.decide.compare import UnusableInput
from bench.measure.machine import PROJECT_DIR

BASELINE_DIR = PROJECT_DIR / "results" / "baseline"
WORKTREES = PROJECT_DIR / ".worktrees"


def _git(*args: str, cwd: Path = PROJECT_DIR) -> str:
    finished = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if finished.returncode != 0:
        raise UnusableInput(f"git {' '.join(args)}: {finished.stderr.strip().splitlines()[-1:]}")
    return finished.stdout.strip()


def baseline_commit() -> str:
    """The commit the stored baseline (results/baseline/) was measured at."""
    from bench import results

    try:
        commits = {str(c).removesuffix("+dirty") for c in results.load(BASELINE_DIR)["git_commit"].dropna()}
    except results.ResultsError as error:
        raise UnusableInput(f"--against baseline: {error}") from error
    if len(commits) != 1:
        raise UnusableInput(f"results/baseline holds {len(commits)} commits; pass --against <commit>")
    return commits.pop()


def resolve(ref: str) -> str:
    """REF ('baseline' = the commit recorded in results/baseline/) as a full commit hash."""
    ref = baseline_commit() if ref == "baseline" else ref
    return _git("rev-parse", "--verify", f"{ref}^{{commit}}")


def worktree(commit: str) -> Path:
    """REF's tree in .worktrees/<commit>, created once (detached, never committed to)."""
    path = WORKTREES / commit[:12]
    if not (path / "bench").is_dir():
        WORKTREES.mkdir(exist_ok=True)
        _git("worktree", "add", "--force", "--detach", str(path), commit)
    return path


def runtime_dependencies(pyproject: str) -> tuple[list[str], dict[str, list[str]]]:
    """What a pyproject.toml declares for running benchmarks: its dependencies and every extra
    but `dev` (test and lint tools, which a benchmark run never imports)."""
    import tomllib

    project = tomllib.loads(pyproject).get("project", {})
    extras = {k: v for k, v in project.get("optional-dependencies", {}).items() if k != "dev"}
    return project.get("dependencies", []), extras


def declares_same_dependencies(commit: str) -> bool:
    """Whether REF declares the runtime dependencies this checkout declares (then REF runs in
    this interpreter): a change to the dev extra or to tool settings does not count."""
    theirs = _git("show", f"{commit}:pyproject.toml")
    return runtime_dependencies(theirs) == runtime_dependencies((PROJECT_DIR / "pyproject.toml").read_text())


def environment(commit: str, tree: Path) -> tuple[str, dict[str, str]]:
    """The interpreter and environment variables that run REF's code."""
    env = dict(os.environ)
    if declares_same_dependencies(commit):
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return sys.executable, env
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(tree / ".venv")], check=True, timeout=600)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-e", str(tree)], check=True, timeout=1800
        )
    return str(python), env


def separate_environment(commit: str) -> str:
    """The gate's warning when REF cannot run in this interpreter."""
    return (
        f" ({commit[:12]} declares other dependencies in pyproject.toml, so it runs in its own venv:"
        " the comparison is of two environments as well as two commits)"
    )


def _run_side(python: str, env: dict[str, str], tree: Path, arguments: list[str]) -> None:
    command = [python, "-m", "bench.cli", "run", *arguments]
    finished = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=7200)
    if finished.returncode != 0:
        tail = " | ".join(finished.stderr.strip().splitlines()[-3:])
        raise UnusableInput(f"{tree.name}: bench run exited {finished.returncode}: {tail}")


def run(
    ref: str,
    sweep: str,
    repeats: int,
    overrides: list[str],
    current_overrides: list[str],
    out: Path,
    settled: Callable[[Path, Path, int], bool] | None = None,
    at: tuple[int, ...] = (),
) -> tuple[Path, Path, int]:
    """Run `sweep` for REF and for this checkout, repeat by repeat, alternating which goes first;
    after each repeat in `at`, stop early when `settled(ref_dir, current_dir, repeat)` says so.
    Return the two results folders (REF's, this checkout's) and the repeats run."""
    commit = resolve(ref)
    tree = worktree(commit)
    python, env = environment(commit, tree)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    out = out.resolve()
    names = {"ref": f"against-{stamp}-ref-{commit[:8]}", "current": f"against-{stamp}-current"}
    sides = {
        "ref": (python, env, tree, list(overrides)),
        "current": (sys.executable, dict(os.environ), PROJECT_DIR, [*overrides, *current_overrides]),
    }
    print(
        f"bench compare: {repeats} repeats of sweep={sweep}, {commit[:12]} against this checkout"
        + ("" if python == sys.executable else separate_environment(commit)),
        flush=True,
    )
    for repeat in range(1, repeats + 1):
        order = ["ref", "current"] if repeat % 2 else ["current", "ref"]
        for side in order:
            py, side_env, cwd, extra = sides[side]
            started = time.perf_counter()
            arguments = [
                f"sweep={sweep}",
                f"repeat={repeat}",
                f"sweep_id={names[side]}",
                f"results.dir={out}",
                *extra,
            ]
            _run_side(py, side_env, cwd, arguments)
            print(f"  repeat {repeat}/{repeats} {side}: {time.perf_counter() - started:.0f} s", flush=True)
        if (
            settled is not None
            and repeat in at
            and settled(out / names["ref"], out / names["current"], repeat)
        ):
            return out / names["ref"], out / names["current"], repeat
    return out / names["ref"], out / names["current"], repeats
