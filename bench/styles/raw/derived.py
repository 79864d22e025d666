"""The raw floor of a user's own model (`arch=MODULE:FUNCTION`), derived from its graph
(bench/styles/graph.py) the way the hand-written floors are written: no Keras, the weights drawn
as Keras draws them, the forward pass in the framework's own operations.

`forward(graph, weights, kit)` draws each Dense and Conv2D pair in the model's layer order (its
seed order) and returns the forward function over the flat weights, replaying the graph's steps
with `kit`, one framework's operations (each floor module has one). Values between steps are
channels-last, as Keras keeps them. The layers it writes are those bench/styles/derive.py lets
through (Dense and Conv2D with a glorot-uniform kernel, zero bias, relu or none; valid square
convolutions of stride 1; square pools; Flatten, Reshape, Add, Concatenate, ReLU, Activation);
a graph with anything else never reaches it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.archs import IMAGE_SHAPE

Forward = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Kit:
    """One framework's operations: `linear(params, handle, x)` and `conv(params, handle, x)`
    apply a drawn pair (valid convolution, stride 1, channels-last), `max_pool(x, size)`,
    `relu`, `reshape(x, shape)` (batch axis first, -1), `concat(xs, axis)`, `mean(x, axis)`."""

    linear: Callable[[Any, Any, Any], Any]
    conv: Callable[[Any, Any, Any], Any]
    max_pool: Callable[[Any, int], Any]
    relu: Callable[[Any], Any]
    reshape: Callable[[Any, tuple[int, ...]], Any]
    concat: Callable[[list[Any], int], Any]
    mean: Callable[[Any, int], Any]


def _draw(graph: Any, weights: Any) -> dict[int, Any]:
    """Each weight-owning layer's pair, drawn in the model's layer order."""
    handles = {}
    for index, (cls, config, _) in enumerate(graph.layers):
        if cls.__name__ == "Dense":
            handles[index] = weights.dense(graph.input_shape(index)[-1], config["units"])
        elif cls.__name__ == "Conv2D":
            channels = graph.input_shape(index)[-1]
            handles[index] = weights.conv(config["kernel_size"][0], channels, config["filters"])
    return handles


def _adapt(image: Any, shape: tuple[int, ...], kit: Kit) -> Any:
    """The image as one of the model's inputs: bench/styles/graph.py's `image_as` rule, written
    again here in the framework's own operations (the floor has no Keras)."""
    if shape == IMAGE_SHAPE:
        return image
    if math.prod(shape) == math.prod(IMAGE_SHAPE):
        return kit.reshape(image, shape)
    return kit.mean(kit.reshape(image, IMAGE_SHAPE[:2]), -1)


def _activated(kit: Kit, config: dict[str, Any], x: Any) -> Any:
    return kit.relu(x) if config.get("activation") == "relu" else x


def forward(graph: Any, weights: Any, kit: Kit) -> Forward:
    """Draw the weights into `weights` and return `forward(params, images)`."""
    handles = _draw(graph, weights)

    def run(params: Any, images: Any) -> Any:
        values = [_adapt(images, shape, kit) for shape in graph.input_shapes]  # graph.image_as's rule
        for step in graph.steps:
            arguments = [values[i] for i in step.inputs]
            cls, config, _ = graph.layers[step.layer]
            kind, x = cls.__name__, arguments[0]
            if kind == "Dense":
                y = _activated(kit, config, kit.linear(params, handles[step.layer], x))
            elif kind == "Conv2D":
                y = _activated(kit, config, kit.conv(params, handles[step.layer], x))
            elif kind == "MaxPooling2D":
                y = kit.max_pool(x, config["pool_size"][0])
            elif kind in ("Flatten", "Reshape"):  # to the shape Keras resolved (a -1 included)
                y = kit.reshape(x, graph.shapes[step.outputs[0]])
            elif kind == "Add":
                y = functools.reduce(lambda a, b: a + b, arguments)
            elif kind == "Concatenate":
                y = kit.concat(arguments, config.get("axis", -1))
            elif kind in ("ReLU", "Activation"):  # ReLU, or Activation relu / linear
                y = _activated(kit, {"activation": config.get("activation", "relu")}, x)
            else:  # bench/styles/derive.py lets through only the kinds above
                raise ValueError(f"the derived raw floor does not write a {kind} layer")
            values.append(y)
        return values[graph.output]

    return run
