"""Sequential style: `keras.Sequential`, a linear stack of layers.

`branched` and `shared` are built the only way a Sequential user can: Sequential
blocks (trunk, heads; the extractor, called on both views) glued into one model by
`keras.Model`. That glue is the functional API, so the cell is labelled; `residual`
cannot be written at all.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from bench.archs import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    BranchedSpec,
    CnnSpec,
    MlpSpec,
    RecurrentSpec,
    ResidualSpec,
    SharedSpec,
)
from bench.styles import NotExpressible

# Labels that `bench verify` prints beside a cell built in a non-obvious way.
NOTES = {
    "branched": "Sequential blocks glued by keras.Model, which is functional API",
    "shared": "a Sequential extractor called on both views, glued by keras.Model (functional API)",
}


def mlp(spec: MlpSpec) -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            layers.Flatten(),
            layers.Dense(spec.hidden_units, activation="relu"),
            layers.Dense(NUM_CLASSES),
        ],
        name="sequential_mlp",
    )


def cnn(spec: CnnSpec) -> keras.Sequential:
    stack: list[layers.Layer] = [keras.Input(shape=IMAGE_SHAPE)]
    for filters in spec.filters:
        stack += [
            layers.Conv2D(filters, spec.kernel_size, activation="relu"),
            layers.MaxPooling2D(spec.pool_size),
        ]
    stack += [layers.Flatten(), layers.Dense(NUM_CLASSES)]
    return keras.Sequential(stack, name="sequential_cnn")


def branched(spec: BranchedSpec) -> keras.Model:
    """Three Sequential blocks; keras.Model joins the two heads on the trunk."""
    trunk = keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            layers.Flatten(),
            layers.Dense(spec.trunk_units, activation="relu"),
        ],
        name="trunk",
    )
    class_head = keras.Sequential(
        [
            keras.Input(shape=(spec.trunk_units,)),
            layers.Dense(spec.head_units, activation="relu"),
            layers.Dense(NUM_CLASSES),
        ],
        name="class",
    )
    coarse_head = keras.Sequential(
        [keras.Input(shape=(spec.trunk_units,)), layers.Dense(spec.coarse_classes)],
        name="coarse",
    )
    inputs = keras.Input(shape=IMAGE_SHAPE)
    features = trunk(inputs)
    outputs = {"class": class_head(features), "coarse": coarse_head(features)}
    return keras.Model(inputs, outputs, name="sequential_branched")


def residual(spec: ResidualSpec) -> keras.Model:
    raise NotExpressible(
        "keras.Sequential hands one tensor from layer to layer, so a block cannot "
        "add its own input back (skip connection); use functional or subclass"
    )


def shared(spec: SharedSpec) -> keras.Model:
    """A Sequential extractor called on the image and on its mirror; keras.Model adds the heads."""
    extractor = keras.Sequential(
        [keras.Input(shape=IMAGE_SHAPE), layers.Flatten(), layers.Dense(spec.units, activation="relu")],
        name="extractor",
    )
    image_head = keras.Sequential([keras.Input(shape=(spec.units,)), layers.Dense(NUM_CLASSES)], name="image")
    mirror_head = keras.Sequential(
        [keras.Input(shape=(spec.units,)), layers.Dense(NUM_CLASSES)], name="mirror"
    )
    inputs = keras.Input(shape=IMAGE_SHAPE)
    logits = layers.Add()([image_head(extractor(inputs)), mirror_head(extractor(ops.flip(inputs, axis=2)))])
    return keras.Model(inputs, logits, name="sequential_shared")


def recurrent(spec: RecurrentSpec) -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            layers.Reshape(IMAGE_SHAPE[:2]),
            layers.LSTM(spec.units),
            layers.Dense(NUM_CLASSES),
        ],
        name="sequential_recurrent",
    )
