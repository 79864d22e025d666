"""Every style of the user's own model, derived from the one they wrote (`arch=MODULE:FUNCTION`).

The user writes the model once, as a function that returns a Keras model. A Functional or
Sequential model is a graph the suite can read (Keras records each layer call as a node);
`describe` reads it once, outside every clock, into plain steps: which layer (by its class
and config) or weightless operation runs on which earlier values. Each style then builds a
fresh model from those steps, its layers cloned from their configs in the user's layer
order, so that a seeded build draws the same initial weights in every style:

- functional: the steps replayed on `keras.Input` tensors;
- sequential: the same layers in a `keras.Sequential`, where the graph is a chain (one
  input, each layer called once on the previous one's output);
- subclass: a `keras.Model` subclass with the layers as attributes and a `call` written out
  as Python source, one line per step, as a user writes it by hand (`DerivedModel.source`);
- functions: the steps replayed with Dense and Conv2D as weight-owning layers that call the
  plain functions of the functions style, and the weightless layers as those functions;
- raw: the floors are hand-written per shipped architecture: a user's model has none.

MNIST reaches the model through one image input: each of the user's inputs is that image in
the input's shape (`ImageAs`: 784 values reshaped, or its 28 row means for an input of shape
(28,)). A subclass model's `call` is Python the suite does not read: only the subclass style
runs it (the model as written, called on the image); the others are not applicable, with
the reason. A style that cannot express the model raises `NotExpressible` naming the layer
and the styles that remain.
"""

from __future__ import annotations

import functools
import importlib
import keyword
import math
import random
import re
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from bench.archs import IMAGE_SHAPE, NUM_CLASSES, CustomSpec
from bench.config import check_model_source
from bench.styles import NotExpressible, functions

ROW_MEANS = (IMAGE_SHAPE[0],)  # an input of this shape gets the digit's 28 row means
PIXELS = math.prod(IMAGE_SHAPE)


class ModelError(ValueError):
    """The user's model cannot be benchmarked as written; the message names the fix."""


@functools.cache
def load(source: str) -> Any:
    """The function `MODULE:FUNCTION` names, its module found on the current directory or
    PYTHONPATH; raises ModelError naming the fix."""
    try:
        check_model_source(source)
    except ValueError as error:
        raise ModelError(str(error)) from None
    module_name, _, attribute = source.partition(":")
    module = importlib.import_module(module_name)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ModelError(
            f"arch.model={source}: {module_name} has no function {attribute!r} returning a model"
        )
    return function


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
    order, which is its weight order."""

    source: str
    kind: str  # "functional", "sequential" or "subclass"
    input_shapes: tuple[tuple[int, ...], ...]
    layers: tuple[tuple[type, dict[str, Any], str], ...]
    steps: tuple[Step, ...]
    output: int

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
    return Graph(source, kind, shapes, tuple(layers), tuple(steps), slots[id(graph_model.outputs[0])])


def reference_style(spec: CustomSpec) -> str:
    """The style the others are checked against: functional, or subclass for a subclass model."""
    return "subclass" if describe(spec.model).kind == "subclass" else "functional"


def remaining(graph: Graph) -> list[str]:
    """The styles that can build the model."""
    if graph.kind == "subclass":
        return ["subclass"]
    chain = [] if graph.chain_breaks() else ["sequential"]
    written = [] if any(_refusal(graph, step) for step in graph.steps) else ["functions"]
    return [*chain, "functional", "subclass", *written]


def _graph(spec: CustomSpec, style: str) -> Graph:
    graph = describe(spec.model)
    if graph.kind == "subclass":
        raise NotExpressible(
            f"{spec.model} is a keras.Model subclass: its call is Python the suite does not read, so only the "
            f"subclass style runs it; write it as a Functional model to derive {style}"
        )
    return graph


def _clones(graph: Graph) -> list[Any]:
    """Fresh layers from the user's configs, in the model's layer order (its seed draws)."""
    return [cls.from_config(config) for cls, config, _ in graph.layers]


def _adapted(graph: Graph, image: Any, adapt: Any) -> list[Any]:
    return [image if shape == IMAGE_SHAPE else adapt(image, shape) for shape in graph.input_shapes]


def _replay(graph: Graph, values: list[Any], call: Any) -> Any:
    """Run the steps on `values` (the inputs), `call(number, step)` giving each step's callable."""
    values = list(values)
    for number, step in enumerate(graph.steps):
        arguments = [values[i] for i in step.inputs]
        function = call(number, step)
        result = function(arguments) if step.as_list else function(*arguments)
        values.extend(keras.tree.flatten(result))
    return values[graph.output]


def functional(spec: CustomSpec) -> keras.Model:
    graph = _graph(spec, "functional")
    layers = _clones(graph)
    image = keras.Input(IMAGE_SHAPE)
    inputs = _adapted(graph, image, lambda x, shape: ImageAs(shape)(x))
    outputs = _replay(
        graph, inputs, lambda _, step: step.operation if step.layer is None else layers[step.layer]
    )
    return keras.Model(image, outputs)


def sequential(spec: CustomSpec) -> keras.Sequential:
    graph = _graph(spec, "sequential")
    breaks = graph.chain_breaks()
    if breaks:
        raise NotExpressible(
            f"Sequential holds a chain and {spec.model} is not one: {breaks}; "
            f"the styles that remain: {', '.join(remaining(graph))}"
        )
    shape = graph.input_shapes[0]
    adapter = [] if shape == IMAGE_SHAPE else [ImageAs(shape)]
    return keras.Sequential([keras.Input(IMAGE_SHAPE), *adapter, *_clones(graph)])


class DerivedModel(keras.Model):
    """A subclass with the user's layers as attributes; `call` is generated per graph."""

    source = ""


def _subclass_source(graph: Graph) -> str:
    """The `call` a user would write by hand: one line per step, the layers as attributes."""
    # `training` in the signature: Keras's fit passes training=True only to a call that takes
    # it, and the layers inside (BatchNorm, Dropout) read it from the call's context
    lines = ["def call(self, image, training=None):"]
    for index, shape in enumerate(graph.input_shapes):
        adapted = "image" if shape == IMAGE_SHAPE else f"self.image_as_{index}(image)"
        lines.append(f"    v{index} = {adapted}")
    for number, step in enumerate(graph.steps):
        callee = (
            f"self.{graph.layers[step.layer][2]}" if step.layer is not None else f"self.weightless[{number}]"
        )
        names = ", ".join(f"v{i}" for i in step.inputs)
        arguments = f"[{names}]" if step.as_list else names
        targets = ", ".join(f"v{i}" for i in step.outputs)
        lines.append(f"    {targets} = {callee}({arguments})")
    lines.append(f"    return v{graph.output}")
    return "\n".join(lines) + "\n"


def subclass(spec: CustomSpec) -> keras.Model:
    graph = describe(spec.model)
    if graph.kind == "subclass":
        return _built_in_order(spec.model)
    source = _subclass_source(graph)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<{spec.model} as a subclass>", "exec"), namespace)  # noqa: S102 - generated above

    class Derived(DerivedModel):
        def __init__(self) -> None:
            super().__init__()
            for index, shape in enumerate(graph.input_shapes):
                if shape != IMAGE_SHAPE:
                    setattr(self, f"image_as_{index}", ImageAs(shape))
            for (_, _, attribute), layer in zip(graph.layers, _clones(graph), strict=True):
                setattr(self, attribute, layer)
            self.weightless = {n: s.operation for n, s in enumerate(graph.steps) if s.layer is None}

        call = namespace["call"]

    Derived.source = source
    return Derived()


def _built_in_order(source: str) -> keras.Model:
    """The user's subclass model as written, its seed draws those of this build."""
    return load(source)()


KNOWN_FUNCTIONS = (
    "Dense",
    "Conv2D",
    "Flatten",
    "Reshape",
    "Add",
    "Concatenate",
    "ReLU",
    "Activation",
    "MaxPooling2D",
)


def _refusal(graph: Graph, step: Step) -> str:
    """Why the functions style cannot write this step's layer ('' where it can)."""
    if step.layer is None:
        return ""  # already a keras.ops operation
    cls, config, _ = graph.layers[step.layer]
    kind, activation = cls.__name__, config.get("activation", "linear")
    if kind in ("Dense", "Conv2D"):
        initializers = (config.get("kernel_initializer") or {}, config.get("bias_initializer") or {})
        default = [i.get("class_name") if isinstance(i, dict) else i for i in initializers] == [
            "GlorotUniform",
            "Zeros",
        ] and (config.get("kernel_initializer") or {}).get("config", {}).get("seed") is None
        unused = (
            "kernel_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "kernel_constraint",
            "bias_constraint",
        )
        if (
            activation not in ("relu", "linear")
            or not config.get("use_bias", True)
            or not default
            or any(config.get(k) for k in unused)
        ):
            return "the functions style's weight-owning layers take a glorot-uniform kernel, a zero bias, relu or none"
    if kind == "Conv2D":
        square = len(set(config["kernel_size"])) == 1 and tuple(config["strides"]) == (1, 1)
        if not square or config["padding"] != "valid" or tuple(config.get("dilation_rate", (1, 1))) != (1, 1):
            return "the functions style convolves with a square kernel, stride 1, 'valid' padding"
    if kind == "MaxPooling2D":
        pool, strides = tuple(config["pool_size"]), tuple(config["strides"] or config["pool_size"])
        if len(set(pool)) != 1 or pool != strides or config["padding"] != "valid":
            return "the functions style pools square windows with their own stride, 'valid' padding"
    if kind == "ReLU" and any(config.get(k) for k in ("max_value", "negative_slope", "threshold")):
        return "the functions style's relu has no cap, slope or threshold"
    if kind == "Activation" and config["activation"] not in ("relu", "linear"):
        return "the functions style activates with relu only"
    if kind not in KNOWN_FUNCTIONS:
        return f"the derivation writes {', '.join(KNOWN_FUNCTIONS)} as functions"
    return ""


def _as_function(graph: Graph, step: Step, layer: Any) -> Any:
    """The functions style's callable for one layer, or NotExpressible naming the layer."""
    refusal = _refusal(graph, step)
    if refusal:
        raise NotExpressible(
            f"functions cannot express layer {graph.step_name(step)}: {refusal}; "
            f"the styles that remain: {', '.join(remaining(graph))}"
        )
    config = graph.layers[step.layer][1]
    kind, activation = type(layer).__name__, config.get("activation", "linear")
    relu_or_none = "relu" if activation == "relu" else None
    if kind == "Dense":
        return _owning(functions.DenseFn(config["units"], relu_or_none), layer)
    if kind == "Conv2D":
        return _owning(
            functions.Conv2DFn(config["filters"], config["kernel_size"][0], activation=relu_or_none), layer
        )
    if kind == "Flatten":
        return functions.flatten
    if kind == "Reshape":
        return lambda x: ops.reshape(x, (-1, *config["target_shape"]))
    if kind == "Add":
        return lambda xs: functools.reduce(functions.custom_add, xs)
    if kind == "Concatenate":
        return lambda xs: ops.concatenate(xs, axis=config.get("axis", -1))
    if kind == "MaxPooling2D":
        return lambda x: functions.max_pool(x, config["pool_size"][0])
    return functions.relu if "relu" in (kind.lower(), config.get("activation")) else (lambda x: x)


def _owning(fn: Any, layer: Any) -> Any:
    """A weight-owning functions layer with the built-in clone's initializer (and its seed)."""
    fn.kernel_initializer = layer.kernel_initializer
    return fn


def functions_style(spec: CustomSpec) -> keras.Model:
    graph = _graph(spec, "functions")
    layers = _clones(graph)  # made first, as in every style, for their seed draws
    per_layer: dict[int, Any] = {}
    callables = []
    for step in graph.steps:
        if step.layer is None:
            callables.append(step.operation)  # already a keras.ops operation
            continue
        if step.layer not in per_layer:  # a shared layer stays one set of weights
            per_layer[step.layer] = _as_function(graph, step, layers[step.layer])
        callables.append(per_layer[step.layer])
    image = keras.Input(IMAGE_SHAPE)
    inputs = _adapted(graph, image, image_as)
    return keras.Model(image, _replay(graph, inputs, lambda number, _: callables[number]))


def raw(spec: CustomSpec) -> Any:
    raise NotExpressible(
        f"the raw floors are written by hand for the shipped architectures: {spec.model} has none; "
        f"the styles that remain: {', '.join(remaining(describe(spec.model)))}"
    )


BUILDERS = {
    "sequential": sequential,
    "functional": functional,
    "subclass": subclass,
    "functions": functions_style,
    "raw": raw,
}


def construct(style: str, spec: CustomSpec) -> Any:
    """The user's model in `style`; NotExpressible where that style cannot build it."""
    return BUILDERS[style](spec)
