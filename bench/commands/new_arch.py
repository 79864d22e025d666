"""`bench new-arch NAME`: write NAME.py, a starter for your own model, and say the commands
from it to the answer (the derivation is bench/styles/derive.py)."""

from __future__ import annotations

import argparse
import keyword
from collections.abc import Sequence
from pathlib import Path

from bench.commands import UsageError

TEMPLATE = '''"""{name}: your model for stylebench. Write it once, in the style you use; the suite
derives the others from it (Sequential where it is a chain, a subclass, plain functions)
and proves every build identical before it measures them.

    bench verify arch={name}:model
    bench run sweep=model arch={name}:model sweep_id={name}
    bench report results/{name}

The rules: `model()` returns a keras.Model (Functional, Sequential, or a subclass, which only
the subclass style can run). MNIST reaches each input in its shape: an input of 784 values
gets the digit as that shape ((28, 28, 1) an image, (28, 28) 28 rows, (784,) flat), an input
of shape (28,) its 28 row means. It returns one output: 10 logits (no softmax).
"""

import keras


def model() -> keras.Model:
    """A worked example: two convolutions, then a dense head. Change it to yours."""
    image = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(16, 3, activation="relu")(image)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(image, logits, name="{name}")
'''


def new_arch_command(args: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench new-arch", description="Write a starter module for your model."
    )
    parser.add_argument("name", help="the module's name: NAME.py in the current directory")
    options = parser.parse_args(list(args))
    name = options.name.removesuffix(".py")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(
            f"{options.name!r} is not a Python module name; use letters, digits and _, e.g. my_model"
        )
    path = Path(f"{name}.py")
    if path.exists():
        raise UsageError(f"{path} exists; pick another NAME or edit it")
    path.write_text(TEMPLATE.format(name=name))
    print(f"wrote {path}: edit model() to yours, then\n")
    print(f"  bench verify arch={name}:model")
    print(f"  bench run sweep=model arch={name}:model sweep_id={name}")
    print(f"  bench report results/{name}")
    return 0
