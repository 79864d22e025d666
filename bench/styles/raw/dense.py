"""The dense architectures (mlp, branched, residual, shared) of the JAX and torch floors,
written once: both frameworks' arrays take `x @ kernel + bias` and `reshape`, so only `relu`
and the mirror (a flip of the width axis) differ. Each function draws the weights in the canonical order of `bench.archs` and
returns the forward function over the flat list of arrays."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bench.archs import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    BranchedSpec,
    MlpSpec,
    RecurrentSpec,
    ResidualSpec,
    SharedSpec,
)
from bench.styles.raw import Draws

Forward = Callable[[list[Any], Any], Any]
Relu = Callable[[Any], Any]


def linear(params: list[Any], index: int, x: Any) -> Any:
    return x @ params[index] + params[index + 1]


def flatten(x: Any) -> Any:
    return x.reshape(x.shape[0], -1)


def mlp(spec: MlpSpec, weights: Draws, relu: Relu) -> Forward:
    hidden = weights.dense(math.prod(IMAGE_SHAPE), spec.hidden_units)
    classifier = weights.dense(spec.hidden_units, NUM_CLASSES)

    def forward(params: list[Any], images: Any) -> Any:
        return linear(params, classifier, relu(linear(params, hidden, flatten(images))))

    return forward


def branched(spec: BranchedSpec, weights: Draws, relu: Relu) -> Forward:
    trunk = weights.dense(math.prod(IMAGE_SHAPE), spec.trunk_units)
    class_hidden = weights.dense(spec.trunk_units, spec.head_units)
    class_logits = weights.dense(spec.head_units, NUM_CLASSES)
    coarse = weights.dense(spec.trunk_units, spec.coarse_classes)

    def forward(params: list[Any], images: Any) -> dict[str, Any]:
        features = relu(linear(params, trunk, flatten(images)))
        return {
            "class": linear(params, class_logits, relu(linear(params, class_hidden, features))),
            "coarse": linear(params, coarse, features),
        }

    return forward


def residual(spec: ResidualSpec, weights: Draws, relu: Relu) -> Forward:
    stem = weights.dense(math.prod(IMAGE_SHAPE), spec.units)
    blocks = [
        (weights.dense(spec.units, spec.units), weights.dense(spec.units, spec.units))
        for _ in range(spec.blocks)
    ]
    classifier = weights.dense(spec.units, NUM_CLASSES)

    def forward(params: list[Any], images: Any) -> Any:
        x = relu(linear(params, stem, flatten(images)))
        for inner, outer in blocks:
            x = relu(x + linear(params, outer, relu(linear(params, inner, x))))
        return linear(params, classifier, x)

    return forward


def shared(spec: SharedSpec, weights: Draws, relu: Relu, mirror: Relu) -> Forward:
    extract = weights.dense(math.prod(IMAGE_SHAPE), spec.units)
    image_head = weights.dense(spec.units, NUM_CLASSES)
    mirror_head = weights.dense(spec.units, NUM_CLASSES)

    def forward(params: list[Any], images: Any) -> Any:
        image = linear(params, image_head, relu(linear(params, extract, flatten(images))))
        return image + linear(params, mirror_head, relu(linear(params, extract, flatten(mirror(images)))))

    return forward


Step = Callable[[list[Any], int, tuple[Any, Any], Any], tuple[Any, Any]]


def lstm_cell(sigmoid: Relu, tanh: Relu) -> Step:
    """One LSTM step on (h, c) from the arrays at `index` (kernel, recurrent kernel, bias), in
    Keras's arithmetic: z = x @ kernel + h @ recurrent + bias, gates input, forget, cell, output."""

    def step(params: list[Any], index: int, state: tuple[Any, Any], x: Any) -> tuple[Any, Any]:
        h, c = state
        z = x @ params[index] + h @ params[index + 1] + params[index + 2]
        units = h.shape[-1]
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * tanh(g)
        return sigmoid(o) * tanh(c), c

    return step


def recurrent(spec: RecurrentSpec, weights: Draws, run: Callable[[list[Any], int, Any], Any]) -> Forward:
    """The LSTM over the rows, then the head; `run(params, index, rows)` loops the floor's
    own way (lax.scan on JAX, a Python loop on torch) and returns the last state."""
    cell = weights.lstm(IMAGE_SHAPE[1], spec.units)
    classifier = weights.dense(spec.units, NUM_CLASSES)

    def forward(params: list[Any], images: Any) -> Any:
        return linear(
            params, classifier, run(params, cell, images.reshape(images.shape[0], *IMAGE_SHAPE[:2]))
        )

    return forward
