"""The user's own model (`arch=MODULE:FUNCTION`) read once into a graph the styles rebuild.

The user writes the model once, as a function that returns a Keras model (`load` finds it). A
Functional or Sequential model is a graph the suite can read (Keras records each layer call as a
node); `describe` reads it once, outside every clock and without disturbing the seeded draws of
the styles' builds, into plain steps: which layer (by its class and config) or weightless
operation runs on which earlier values (`Graph`, `Step`). A subclass model's `call` is Python the
suite does not read: its graph has kind "subclass" and no steps.

MNIST reaches the model through one image input: each of the user's inputs is that image in the
input's shape (`ImageAs`, `image_as`: 784 values reshaped, or its 28 row means for an input of
shape (28,)). Building the styles from the graph is bench/styles/derive.py.
"""

from __future__ import annotations

import functools
import keyword
import math
import random
import re
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from bench.archs import IMAGE_SHAPE, NUM_CLASSES
from bench.config import function_at

ROW_MEANS = (IMAGE_SHAPE[0],)  # an input of this shape gets the digit's 28 row means
PIXELS = math.prod(IMAGE_SHAPE)


class ModelError(ValueError):
    """The user's model cannot be benchmarked as written; the message names the fix."""


@functools.cache
def load(source: str) -> Any:
    """The function `MODULE:FUNCTION` names, its module found on the current directory or
    PYTHONPATH; raises ModelError naming the fix."""
    try:
        return function_at(source)
    except ValueError as error:
        raise ModelError(str(error)) from None


@keras.saving.register_keras_serializable(package="stylebench.derive")
class ImageAs(keras.layers.Layer):
    """The MNIST image as one of the user's inputs: reshaped to the input's shape where it
    holds 784 values, else (an input of shape (28,)) the image's 28 row means."""

    def __init__(self, shape: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape = tuple(shape)

    def call(self, image: Any) -> Any:
        return image_as(image, self.shape)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], *self.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shape": list(self.shape)}


def image_as(image: Any, shape: tuple[int, ...]) -> Any:
    """The functions style's `ImageAs`: a plain function over keras.ops."""
    if math.prod(shape) == PIXELS:
        return ops.reshape(image, (-1, *shape))
    return ops.mean(ops.reshape(image, (-1, *IMAGE_SHAPE[:2])), axis=2)


@dataclass(frozen=True)
class Step:
    """One node of the user's graph: layer `layer` (an index into Graph.layers) or the
    weightless operation `operation`, called on the values `inputs` (as one list where
    `as_list`), giving the values `outputs`."""

    layer: int | None
    operation: Any
    inputs: tuple[int, ...]
    as_list: bool
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    """The user's model as the styles rebuild it. Values 0..len(input_shapes)-1 are the
    model's inputs; `layers` holds (class, config, attribute name) in the model's layer
    order, which is its weight order; `shapes` each value's shape without the batch axis."""

    source: str
    kind: str  # "functional", "sequential" or "subclass"
    input_shapes: tuple[tuple[int, ...], ...]
    layers: tuple[tuple[type, dict[str, Any], str], ...]
    steps: tuple[Step, ...]
    output: int
    shapes: tuple[tuple[int | None, ...], ...] = ()

    def input_shape(self, layer: int) -> tuple[int | None, ...]:
        """The shape of the first value `layer` is called on (a shared layer: every call's)."""
        step = next(s for s in self.steps if s.layer == layer)
        return self.shapes[step.inputs[0]]

    def chain_breaks(self) -> str:
        """Why the graph is not a chain Sequential can hold ('' where it is)."""
        if len(self.input_shapes) != 1:
            return f"it takes {len(self.input_shapes)} inputs"
        previous, seen = 0, set()
        for step in self.steps:
            name = self.step_name(step)
            if step.layer is None:
                return f"{name} is an operation, not a layer"
            if step.layer in seen:
                return f"layer {name} is called twice (a shared layer)"
            if step.inputs != (previous,) or step.as_list:
                return f"layer {name} does not take the previous layer's output alone"
            seen.add(step.layer)
            previous = step.outputs[0]
        return ""

    def step_name(self, step: Step) -> str:
        if step.layer is None:
            return repr(getattr(step.operation, "name", type(step.operation).__name__))
        cls, _, attribute = self.layers[step.layer]
        return f"{attribute!r} ({cls.__name__})"


def _attribute(name: str, taken: set[str]) -> str:
    """A Python identifier for a layer's name, unique in `taken`."""
    base = re.sub(r"\W", "_", name) or "layer"
    if base[0].isdigit() or keyword.iskeyword(base) or base.startswith("_"):
        base = f"layer_{base}"
    attribute, index = base, 1
    while attribute in taken or hasattr(keras.Model, attribute):
        attribute, index = f"{base}_{index}", index + 1
    taken.add(attribute)
    return attribute


def _built(source: str) -> Any:
    """The user's model, built without disturbing the seeded draws of the styles' builds."""
    state = random.getstate()  # Keras draws each initializer's seed from Python's generator
    try:
        model = load(source)()
    finally:
        random.setstate(state)
    if not isinstance(model, keras.Model):
        raise ModelError(
            f"arch.model={source}: the function returned {type(model).__name__}, not a keras.Model"
        )
    return model


@functools.cache
def describe(source: str) -> Graph:
    """Read the user's model once into the steps the styles rebuild (see the module doc)."""
    model = _built(source)
    graph_model = model._functional if isinstance(model, keras.Sequential) else model
    if graph_model is None:
        raise ModelError(
            f"arch.model={source}: give the Sequential model a keras.Input, so it has a graph to read"
        )
    if not hasattr(graph_model, "_nodes_by_depth"):
        return Graph(source, "subclass", (), (), (), -1)
    if len(graph_model.outputs) != 1 or tuple(graph_model.outputs[0].shape[1:]) != (NUM_CLASSES,):
        shapes = [tuple(x.shape) for x in graph_model.outputs]
        raise ModelError(
            f"arch.model={source}: the suite trains one output of {NUM_CLASSES} logits; it returns {shapes}"
        )
    shapes = tuple(tuple(x.shape[1:]) for x in graph_model.inputs)
    for shape in shapes:
        if math.prod(shape) != PIXELS and shape != ROW_MEANS:
            raise ModelError(
                f"arch.model={source}: an input of shape {shape}: MNIST comes as 784 values in any shape "
                f"(e.g. (28, 28, 1), (28, 28), (784,)) or as the 28 row means, shape (28,)"
            )
    slots = {id(x): index for index, x in enumerate(graph_model.inputs)}
    value_shapes = list(shapes)
    layer_index = {
        id(layer): i
        for i, layer in enumerate(x for x in model.layers if not isinstance(x, keras.layers.InputLayer))
    }
    taken: set[str] = set()
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        config = {k: v for k, v in layer.get_config().items() if k != "dtype"}  # the trial's policy
        layers.append((type(layer), config, _attribute(layer.name, taken)))
    steps = []
    for depth in sorted(graph_model._nodes_by_depth, reverse=True):
        for node in graph_model._nodes_by_depth[depth]:
            if node.is_input or not node.operation:
                continue
            operation = node.operation
            args, kwargs = node.arguments.args, node.arguments.kwargs
            name = getattr(operation, "name", type(operation).__name__)
            if any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(kwargs)):
                raise ModelError(f"arch.model={source}: {name!r} takes a tensor as a keyword argument")
            as_list = len(args) == 1 and isinstance(args[0], list | tuple)
            tensors = list(args[0]) if as_list else list(args)
            if not all(isinstance(x, keras.KerasTensor) for x in tensors):
                raise ModelError(f"arch.model={source}: {name!r} takes an argument that is not a tensor")
            is_layer = isinstance(operation, keras.layers.Layer)
            if is_layer and id(operation) not in layer_index:
                raise ModelError(f"arch.model={source}: layer {name!r} is not one of the model's layers")
            outputs = []
            for x in keras.tree.flatten(node.outputs):
                slots[id(x)] = len(slots)
                outputs.append(slots[id(x)])
                value_shapes.append(tuple(x.shape[1:]))
            steps.append(
                Step(
                    layer_index[id(operation)] if is_layer else None,
                    None if is_layer else operation,
                    tuple(slots[id(x)] for x in tensors),
                    as_list,
                    tuple(outputs),
                )
            )
    kind = "sequential" if isinstance(model, keras.Sequential) else "functional"
    output = slots[id(graph_model.outputs[0])]
    return Graph(source, kind, shapes, tuple(layers), tuple(steps), output, tuple(value_shapes))
