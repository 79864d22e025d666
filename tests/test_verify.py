"""`bench verify` prints every cell and fails on a deliberately altered style."""

from __future__ import annotations

import keras
import pytest

from bench import cli
from bench.archs import IMAGE_SHAPE, NUM_CLASSES, MlpSpec
from bench.styles import functions


def test_verify_command_prints_every_cell_and_exits_0(capsys):
    assert cli.main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "45 cells: 37 identical, 8 not expressible" in out
    assert "not expressible: keras.Sequential hands one tensor" in out
    for style in ("sequential", "functional", "subclass", "functions", "raw"):
        assert style in out


def _tanh_mlp(spec: MlpSpec) -> keras.Model:
    """Same shapes and weights as the reference, but the wrong activation."""
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = keras.layers.Flatten()(inputs)
    x = functions.DenseFn(spec.hidden_units, activation=None)(x)
    x = keras.ops.tanh(x)
    return keras.Model(inputs, functions.DenseFn(NUM_CLASSES)(x))


def _narrow_mlp(spec: MlpSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = functions.DenseFn(spec.hidden_units - 1, activation="relu")(functions.flatten(inputs))
    return keras.Model(inputs, functions.DenseFn(NUM_CLASSES)(x))


@pytest.mark.parametrize(
    ("altered", "message"),
    [(_tanh_mlp, "outputs differ"), (_narrow_mlp, "parameters, reference has")],
)
def test_verify_exits_nonzero_on_an_altered_copy(monkeypatch, capsys, altered, message):
    monkeypatch.setattr(functions, "mlp", altered)
    assert cli.main(["verify", "--arch", "mlp"]) == 1
    out = capsys.readouterr().out
    assert "mismatch" in out and message in out
