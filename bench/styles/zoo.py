"""Architectures with real models' features, written once as a user writes them (Functional)
and derived to every style that can express them (bench/styles/derive.py), as a user's own
model is: `arch=resnet` and `arch=vit` are `arch=bench.styles.zoo:resnet` and
`arch=bench.styles.zoo:vit`.

- `resnet`: BatchNorm (moving statistics: non-trainable state, a training flag) and skip
  connections; dropout before the head.
- `vit`: a small attention encoder over 16 patches of 7 × 7 pixels: a learned position
  embedding, LayerNorm, two-head self-attention, a GELU MLP, dropout.
- `multi_input`: the explainer's multiple inputs, the image and a second input of shape (28,)
  that MNIST fills with the digit's 28 row means (the documented rule, bench/styles/graph.py),
  a branch on each, concatenated into one head.

Sizes live here, once; each is small enough for a 2-core CPU sweep.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from bench.archs import IMAGE_SHAPE, NUM_CLASSES

RESNET_FILTERS, RESNET_BLOCKS = 16, 2
PATCH, VIT_WIDTH, VIT_HEADS = 7, 32, 2
MULTI_FILTERS, MULTI_ROWS = 8, 16


def resnet() -> keras.Model:
    """Conv(16) -> BN -> ReLU -> MaxPool, then 2 blocks relu(x + BN(Conv(ReLU(BN(Conv(x)))))),
    global average pooling, dropout 0.1, Dense(10)."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Conv2D(RESNET_FILTERS, 3, padding="same", use_bias=False)(image)
    x = layers.MaxPooling2D(2)(layers.ReLU()(layers.BatchNormalization()(x)))
    for _ in range(RESNET_BLOCKS):
        y = layers.Conv2D(RESNET_FILTERS, 3, padding="same", use_bias=False)(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.Conv2D(RESNET_FILTERS, 3, padding="same", use_bias=False)(y)
        x = layers.ReLU()(layers.Add()([x, layers.BatchNormalization()(y)]))
    x = layers.Dropout(0.1)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(image, layers.Dense(NUM_CLASSES)(x), name="resnet")


@keras.saving.register_keras_serializable(package="stylebench.zoo")
class PositionEmbedding(layers.Layer):
    """A learned vector per position, added to the sequence."""

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.positions = self.add_weight(
            shape=tuple(input_shape[1:]), initializer="glorot_uniform", name="positions"
        )

    def call(self, x: Any) -> Any:
        return x + self.positions


def vit() -> keras.Model:
    """Patches of 7 × 7 embedded by a strided Conv(32) -> 16 tokens + positions -> one
    pre-norm encoder block (LayerNorm, 2-head self-attention, add; LayerNorm, Dense(64, gelu),
    Dense(32), add) -> LayerNorm -> mean over tokens -> dropout 0.1 -> Dense(10)."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    patches = layers.Conv2D(VIT_WIDTH, PATCH, strides=PATCH)(image)
    tokens = PositionEmbedding()(layers.Reshape(((IMAGE_SHAPE[0] // PATCH) ** 2, VIT_WIDTH))(patches))
    normed = layers.LayerNormalization()(tokens)
    attended = layers.MultiHeadAttention(VIT_HEADS, VIT_WIDTH // VIT_HEADS, dropout=0.1)(normed, normed)
    tokens = layers.Add()([tokens, attended])
    hidden = layers.Dense(2 * VIT_WIDTH, activation="gelu")(layers.LayerNormalization()(tokens))
    tokens = layers.Add()([tokens, layers.Dense(VIT_WIDTH)(hidden)])
    pooled = layers.GlobalAveragePooling1D()(layers.LayerNormalization()(tokens))
    return keras.Model(image, layers.Dense(NUM_CLASSES)(layers.Dropout(0.1)(pooled)), name="vit")


def multi_input() -> keras.Model:
    """Two inputs: the image -> Conv(8, relu) -> MaxPool -> Flatten, and the 28 row means ->
    Dense(16, relu); concatenated -> Dense(10)."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    rows = keras.Input((IMAGE_SHAPE[0],), name="row_means")
    seen = layers.Flatten()(layers.MaxPooling2D(2)(layers.Conv2D(MULTI_FILTERS, 3, activation="relu")(image)))
    profile = layers.Dense(MULTI_ROWS, activation="relu")(rows)
    joined = layers.Concatenate()([seen, profile])
    return keras.Model([image, rows], layers.Dense(NUM_CLASSES)(joined), name="multi_input")
