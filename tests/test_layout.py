"""The house's layout holds: a few ground modules, folders that name the parts, each
folder's docstring saying what it owns and what it must not import, and those lines
held on every import (at the top or inside a function) of every module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")
ABOVE_DATA = ("bench.runtime", "bench.styles", "bench.measure", "bench.run", "bench.decide", "bench.present")
DOOR = ("bench.commands", "bench.cli")
# folder -> the imports it must never make (its docstring says so, in words)
NEVER = {
    "data": (*ABOVE_DATA, "bench.results", *DOOR),
    "results": (*ABOVE_DATA, "bench.data", *DOOR, *FRAMEWORKS),
    "runtime": ("bench.styles", "bench.measure", "bench.run", "bench.decide", "bench.present", "bench.data",
                "bench.results", *DOOR),
    "styles": ("bench.measure", "bench.run", "bench.decide", "bench.present", "bench.results", *DOOR),
    "measure": ("bench.run", "bench.decide", "bench.present", *DOOR),
    "decide": ("bench.runtime", "bench.styles", "bench.measure", "bench.run", "bench.present", "bench.data", *DOOR,
               *FRAMEWORKS),
    "present": ("bench.runtime", "bench.styles", "bench.measure", "bench.run", "bench.data", *DOOR, *FRAMEWORKS),
    "run": DOOR,
}  # fmt: skip
GROUND = ("config", "archs", "backends", "timing")
# The ground's one reach upward, inside two functions: the config asks each backend's runtime
# module what Keras's jit_compile="auto" means there and what the backend cannot honour
# (bench/config.py xla_auto, check_backend); the runtime modules are the one place that knows.
GROUND_ALLOWED = {("config", "bench.runtime")}


def imports(source: str) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a module, at the top or inside a function;
    `from bench import x` is `bench.x`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bench":
                found += [(node.lineno, f"bench.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


def violations(path: str, source: str) -> list[str]:
    """The lines of one module (its path from the project root) that break the layout."""
    parts = Path(path).parts
    if len(parts) == 2:  # a ground module: bench/config.py
        me = Path(path).stem
        if me not in GROUND:
            return []
        never = tuple(f"bench.{folder}" for folder in NEVER) + DOOR
        return [
            f"{path}:{line} imports {name}"
            for line, name in imports(source)
            if _under(name, never) and (me, _under(name, never)) not in GROUND_ALLOWED
        ]
    never = NEVER.get(parts[1], ())
    return [f"{path}:{line} imports {name}" for line, name in imports(source) if _under(name, never)]


def test_no_part_imports_what_its_folder_says_it_must_not():
    found = []
    for path in sorted(BENCH.rglob("*.py")):
        relative = str(path.relative_to(ROOT))
        found += violations(relative, path.read_text())
    assert found == []


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("bench/present/figures.py", "from bench.styles import raw"),
        ("bench/present/figures.py", "from bench import styles"),
        ("bench/present/why.py", "import jax"),
        ("bench/decide/stats.py", "from bench.measure.trial import run_trial"),
        ("bench/results/__init__.py", "import tensorflow as tf"),
        ("bench/runtime/jax_runtime.py", "from bench.styles.trainer_common import NumpyBatches"),
        ("bench/styles/verify.py", "from bench.measure.training import predict_logits"),
        ("bench/measure/trial.py", "from bench.present import summarize"),
        ("bench/run/sweep.py", "from bench.commands import UsageError"),
        ("bench/timing.py", "from bench.measure import memory"),
    ],
)
def test_the_check_fails_on_an_import_across_a_line(path, line):
    """The check can fail: each of these, added to the real module inside a function, is found."""
    source = (ROOT / path).read_text() + f"\n\ndef _added():\n    {line}\n"
    assert violations(path, source) != []
    assert violations(path, (ROOT / path).read_text()) == []


def test_a_few_ground_modules_and_a_docstring_for_every_folder():
    ground = sorted(path.name for path in BENCH.glob("*.py"))
    assert len(ground) <= 6 and set(ground) <= {"__init__.py", "cli.py", *(f"{name}.py" for name in GROUND)}
    folders = sorted({path.parent for path in BENCH.rglob("*.py")} - {BENCH})
    assert len(folders) >= 8
    for folder in folders:
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert docstring and len(docstring.split()) >= 25, folder
    for folder in NEVER:  # each part's docstring says what it owns and what it must not import
        docstring = ast.get_docstring(ast.parse((BENCH / folder / "__init__.py").read_text()))
        assert "owns" in docstring.lower() and ("must not" in docstring or "never" in docstring), folder


def test_a_report_and_a_decision_load_no_framework_and_no_style():
    """In a fresh interpreter: importing the report and the gate's comparison loads no
    framework, no style, no runtime and nothing that measures."""
    code = (
        "import sys, bench.present.render, bench.decide.compare, bench.present.export; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keras', 'tensorflow', 'jax', 'torch') or m.startswith(('bench.styles', 'bench.runtime', "
        "'bench.measure', 'bench.run.')))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
