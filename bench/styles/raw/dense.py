"""The dense architectures (mlp, branched, residual, shared) of the JAX and torch floors,
written once: both frameworks' arrays take `x @ kernel + bias` and `reshape`, so only `relu`
and the mirror (a flip of the width axis) differ. Each function draws the weights in the canonical order of `bench.archs` and
returns the forward function over the flat list of arrays."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bench.archs import IMAGE_SHAPE, NUM_CLASSES, BranchedSpec, MlpSpec, ResidualSpec, SharedSpec
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
