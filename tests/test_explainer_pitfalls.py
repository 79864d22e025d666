"""The explainer this project grew from has code that is wrong as written.

One test per pitfall: the form the explainer shows fails, and the correct idiom
(the one the style modules use) works.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from bench import styles
from bench.archs import IMAGE_SHAPE, default_spec


def test_flatten_takes_no_inputs_argument_call_it_on_the_tensor_instead():
    inputs = keras.Input(shape=(28, 28))
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        keras.layers.Flatten(inputs=inputs)  # as written in the explainer
    assert tuple(keras.layers.Flatten()(inputs).shape) == (None, 784)


def test_a_custom_layer_function_that_returns_nothing_cannot_be_stacked():
    def MyCustomLayer(units):  # noqa: N802  (the explainer's code, verbatim in shape)
        def call(self, inputs):
            return keras.ops.relu(inputs)

    assert MyCustomLayer(32) is None
    with pytest.raises((TypeError, ValueError)):
        keras.Sequential([MyCustomLayer(32), keras.layers.Dense(10)])


def test_a_custom_layer_is_a_layer_subclass_whose_call_returns_its_output():
    class MyCustomLayer(keras.layers.Layer):
        def call(self, inputs):
            return keras.ops.relu(inputs)

    model = keras.Sequential([keras.Input(shape=(4,)), MyCustomLayer(), keras.layers.Dense(10)])
    assert model(np.full((2, 4), -1.0, dtype="float32")).shape == (2, 10)


def test_the_sequential_workaround_has_no_outputs_to_combine():
    feature_model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(16, activation="relu")])
    auxiliary_model = keras.Sequential([feature_model, keras.layers.Dense(4)])
    with pytest.raises(AttributeError):
        _ = auxiliary_model.output  # never called, so it has no symbolic output to concatenate


def test_sequential_blocks_glued_by_keras_model_give_two_heads_and_train_on_two_losses(embedded):
    from bench.data import coarse_labels, model_inputs

    model = styles.build("sequential", default_spec("branched"))
    model.compile(
        optimizer="adam",
        loss={
            name: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for name in ("class", "coarse")
        },
    )
    images = model_inputs(embedded.x_train[:256])
    labels = {"class": embedded.y_train[:256], "coarse": coarse_labels(embedded.y_train[:256], "mnist")}
    history = model.fit(images, labels, batch_size=64, epochs=1, verbose=0)
    assert {"class_loss", "coarse_loss"} <= set(history.history)


def test_input_shape_on_a_layer_is_replaced_by_keras_input():
    with pytest.warns(UserWarning, match="input_shape"):
        keras.layers.Dense(16, input_shape=(784,))
    model = keras.Sequential([keras.Input(shape=IMAGE_SHAPE), keras.layers.Flatten()])
    assert model.built
