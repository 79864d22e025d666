"""Functional style: `keras.Input` -> layers called on symbolic tensors -> `keras.Model`.

This is the reference style: every other style is checked against it.
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


def mlp(spec: MlpSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = layers.Flatten()(inputs)
    x = layers.Dense(spec.hidden_units, activation="relu")(x)
    outputs = layers.Dense(NUM_CLASSES)(x)
    return keras.Model(inputs, outputs, name="functional_mlp")


def cnn(spec: CnnSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = inputs
    for filters in spec.filters:
        x = layers.Conv2D(filters, spec.kernel_size, activation="relu")(x)
        x = layers.MaxPooling2D(spec.pool_size)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(NUM_CLASSES)(x)
    return keras.Model(inputs, outputs, name="functional_cnn")


def branched(spec: BranchedSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    features = layers.Flatten()(inputs)
    features = layers.Dense(spec.trunk_units, activation="relu")(features)
    hidden = layers.Dense(spec.head_units, activation="relu")(features)
    class_logits = layers.Dense(NUM_CLASSES, name="class")(hidden)
    coarse = layers.Dense(spec.coarse_classes, name="coarse")(features)
    return keras.Model(inputs, {"class": class_logits, "coarse": coarse}, name="functional_branched")


def residual(spec: ResidualSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = layers.Flatten()(inputs)
    x = layers.Dense(spec.units, activation="relu")(x)
    for _ in range(spec.blocks):
        h = layers.Dense(spec.units, activation="relu")(x)
        h = layers.Dense(spec.units)(h)
        x = layers.Activation("relu")(layers.Add()([x, h]))
    outputs = layers.Dense(NUM_CLASSES)(x)
    return keras.Model(inputs, outputs, name="functional_residual")


def shared(spec: SharedSpec) -> keras.Model:
    """The extractor's layers called on both views: one set of weights, two calls."""
    inputs = keras.Input(shape=IMAGE_SHAPE)
    mirrored = ops.flip(inputs, axis=2)  # left to right; keras.ops record on symbolic tensors
    flatten, extract = layers.Flatten(), layers.Dense(spec.units, activation="relu")
    image_logits = layers.Dense(NUM_CLASSES)(extract(flatten(inputs)))
    mirror_logits = layers.Dense(NUM_CLASSES)(extract(flatten(mirrored)))
    return keras.Model(inputs, layers.Add()([image_logits, mirror_logits]), name="functional_shared")


def recurrent(spec: RecurrentSpec) -> keras.Model:
    inputs = keras.Input(shape=IMAGE_SHAPE)
    rows = layers.Reshape(IMAGE_SHAPE[:2])(inputs)  # 28 time steps of 28 features
    state = layers.LSTM(spec.units)(rows)
    outputs = layers.Dense(NUM_CLASSES)(state)
    return keras.Model(inputs, outputs, name="functional_recurrent")
