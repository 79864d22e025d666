"""The runtime seam: a backend is known in one place, its runtime module.

Nothing outside `bench/runtime/` (one module per backend) and `bench/styles/raw/` (one
floor per backend) compares anything with a backend's name; what the rest of the suite
needs to know of a backend it asks the backend's runtime module (bench/runtime/__init__.py).
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from bench.backends import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = ("bench/runtime/", "bench/styles/raw/")


def _names(node: ast.AST) -> list[str]:
    """The string constants a comparison's operand is or holds (a tuple, list or set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [name for element in node.elts for name in _names(element)]
    return []


def backend_branches(source: str) -> list[int]:
    """Lines of `source` that compare something with a backend's name (==, !=, in, not in)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(name in BACKENDS for operand in operands for name in _names(operand)):
                lines.append(node.lineno)
    return lines


def test_the_scanner_finds_a_branch_on_a_backend_name():
    assert backend_branches('if backend == "jax":\n    pass\n') == [1]
    assert backend_branches('x = "torch" != keras.backend.backend()\n') == [1]
    assert backend_branches('ok = name in ("tensorflow", "jax")\n') == [1]
    assert backend_branches('if style == "raw":\n    pass\n') == []


def test_no_module_outside_the_runtime_and_the_raw_floors_branches_on_a_backend():
    found = {}
    for path in sorted((ROOT / "bench").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(ALLOWED):
            continue
        lines = backend_branches(path.read_text())
        if lines:
            found[relative] = lines
    assert found == {}, f"branches on a backend's name outside {ALLOWED}: {found}"


def test_the_issues_grep_finds_nothing_outside_the_runtime_and_the_raw_floors():
    """The acceptance line as written: `grep -rn "backend ==\\|backend !=" bench/`."""
    found = subprocess.run(
        ["grep", "-rn", r"backend ==\|backend !=", "bench/"], capture_output=True, text=True, cwd=ROOT
    ).stdout.splitlines()
    outside = [line for line in found if not line.startswith(ALLOWED)]
    assert outside == []


def test_what_a_backend_cannot_honour_is_refused_at_the_door_in_its_runtime_modules_words(run_config):
    """check_backend asks the runtime module: jax's thread pool, and the TensorFlow-free
    backends' refusal of TensorFlow's pipeline and TFDS (each profiles with its own
    profiler); tensorflow takes them."""

    with pytest.raises(ValueError, match=r"hardware.threads cannot be set on the jax backend \(XLA sizes"):
        run_config("backend=jax", "hardware.threads=2")
    for backend in ("jax", "torch"):
        with pytest.raises(
            ValueError,
            match=f"train.pipeline=tfdata runs on the tensorflow backend only \\(backend={backend}",
        ):
            run_config(f"backend={backend}", "train.pipeline=tfdata")
        assert run_config(f"backend={backend}", "train.profile=true").train.profile  # its own profiler
    assert (
        run_config("backend=tensorflow", "hardware.threads=2", "train.pipeline=tfdata").hardware.threads == 2
    )
    assert run_config("backend=torch", "hardware.threads=2").hardware.threads == 2


@pytest.mark.parametrize(
    ("overrides", "xla"),
    [
        (["backend=tensorflow"], False),
        (["backend=tensorflow", "hardware=gpu"], True),
        (["backend=jax"], True),
        (["backend=jax", "hardware=gpu"], True),
        (["backend=torch"], False),
        (["backend=torch", "hardware=gpu"], False),
        (["backend=tensorflow", "hardware=gpu", "hardware.xla=false"], False),
        (["backend=torch", "hardware.xla=true"], True),
        (["cell=mlp_xla"], True),
    ],
)
def test_the_compile_default_is_kerass_auto_on_the_trials_device(run_config, overrides, xla):
    """hardware.xla defaults to what jit_compile="auto" does for the backend on the device
    (TensorFlow: XLA on a GPU, none on a CPU); an explicit hardware.xla wins."""
    assert run_config(*overrides).hardware.xla is xla


def test_the_tensorflow_default_on_this_cpu_is_what_keras_itself_resolves():
    """Cross-check against Keras: a model compiled with jit_compile="auto" in this
    (CPU-only, TensorFlow) process resolves to what `xla_auto` says for a CPU."""
    import keras

    from bench.config import xla_auto

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(loss="mse", jit_compile="auto")
    assert keras.backend.backend() == "tensorflow"
    assert model.jit_compile is xla_auto("tensorflow", "cpu") is False
