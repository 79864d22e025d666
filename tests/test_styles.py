"""The styles build the same network: counts, shapes, initial weights, outputs."""

from __future__ import annotations

import numpy as np
import pytest

from bench import styles
from bench.archs import SHIPPED, VERIFIED, ZOO, default_spec
from bench.styles.verify import IDENTICAL, NOT_EXPRESSIBLE

CELLS = [(arch, style) for arch in VERIFIED for style in styles.STYLE_NAMES]
# Of the hand-written architectures, Sequential is the only style allowed to decline, and it
# declines only the skip connection. The derived ones are no chain; resnet and vit use layers
# neither the functions style nor the derived raw floor writes (BatchNorm, attention), while
# multi_input (Conv2D, MaxPooling2D, Flatten, Dense, Concatenate) is written in both.
DECLINED = (
    {("residual", "sequential")}
    | {(arch, "sequential") for arch in ZOO}
    | {(arch, s) for arch in ("resnet", "vit") for s in ("functions", "raw")}
)


@pytest.mark.parametrize(("arch", "style"), CELLS)
def test_every_expressible_cell_is_identical_to_functional(verify_cells, arch, style):
    cell = next(c for c in verify_cells if (c.arch, c.style) == (arch, style))
    expected = NOT_EXPRESSIBLE if (arch, style) in DECLINED else IDENTICAL
    assert cell.status == expected, cell.verdict()


def test_every_cell_but_the_declined_one_is_identical(verify_cells):
    assert len(verify_cells) == len(CELLS) == 45
    assert sum(cell.status == IDENTICAL for cell in verify_cells) == len(CELLS) - len(DECLINED)


def test_identical_cells_match_reference_outputs_to_1e_5(verify_cells):
    gaps = [cell.max_abs_diff for cell in verify_cells if cell.status == IDENTICAL]
    assert gaps and max(gaps) <= 1e-5


@pytest.mark.parametrize("arch", list(SHIPPED))
def test_same_seed_gives_identical_initial_weights_in_every_style(arch):
    import keras

    initial = {}
    for style in styles.STYLE_NAMES:
        keras.utils.set_random_seed(7)
        try:
            initial[style] = styles.build(style, default_spec(arch)).get_weights()
        except styles.NotExpressible:
            continue
    reference = initial.pop(styles.REFERENCE_STYLE)
    for style, weights in initial.items():
        assert len(weights) == len(reference), style
        for mine, theirs in zip(weights, reference, strict=True):
            np.testing.assert_array_equal(mine, theirs, err_msg=style)


def test_different_seeds_give_different_weights():
    import keras

    keras.utils.set_random_seed(1)
    first = styles.build("raw", default_spec("mlp")).get_weights()[0]
    keras.utils.set_random_seed(2)
    second = styles.build("raw", default_spec("mlp")).get_weights()[0]
    assert not np.array_equal(first, second)


def test_sequential_declines_residual_with_a_reason():
    with pytest.raises(styles.NotExpressible, match="skip connection"):
        styles.construct("sequential", default_spec("residual"))


def test_subclass_builds_lazily_and_build_weights_creates_them():
    model = styles.construct("subclass", default_spec("mlp"))
    assert not model.built and not model.weights
    styles.build_weights(model)
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10


def test_branched_returns_both_heads_with_their_widths(embedded):
    from bench.data import model_inputs

    for style in ("functional", "subclass", "functions", "raw", "sequential"):
        outputs = styles.build(style, default_spec("branched"))(model_inputs(embedded.x_test[:3]))
        assert {name: tuple(value.shape) for name, value in outputs.items()} == {
            "class": (3, 10),
            "coarse": (3, 4),
        }, style


def test_functions_style_uses_no_builtin_dense_or_conv_layer():
    import keras

    for arch in SHIPPED:
        model = styles.build("functions", default_spec(arch))
        builtin = [
            layer.name
            for layer in model.layers
            if isinstance(layer, keras.layers.Dense | keras.layers.Conv2D)
        ]
        assert builtin == [], arch


def test_unknown_style_names_the_choices():
    with pytest.raises(ValueError, match="choose one of: sequential, functional"):
        styles.style_module("nosuch")


def test_hyper_parameters_flow_from_the_spec_into_every_style():
    from bench.archs import MlpSpec

    for style in styles.STYLE_NAMES:
        model = styles.build(style, MlpSpec(hidden_units=16))
        assert styles.weight_shapes(model)[0] == (784, 16), style
