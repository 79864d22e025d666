"""Every style of the user's own model, derived from the graph of the one they wrote
(bench/styles/graph.py reads it). Each style builds a fresh model from the graph's steps, its
layers cloned from their configs in the user's layer order, so that a seeded build draws the same
initial weights in every style:

- functional: the steps replayed on `keras.Input` tensors;
- sequential: the same layers in a `keras.Sequential`, where the graph is a chain (one
  input, each layer called once on the previous one's output);
- subclass: a `keras.Model` subclass with the layers as attributes and a `call` written out
  as Python source, one line per step, as a user writes it by hand (`DerivedModel.source`);
- functions: the steps replayed with Dense and Conv2D as weight-owning layers that call the
  plain functions of the functions style, and the weightless layers as those functions
  (`AS_FUNCTION`: per layer kind, when it can and how; the raw floor writes the same kinds);
- raw: a floor derived from the graph in the backend's own framework (no Keras;
  bench/styles/raw/derived.py), for the layers the functions style writes.

A subclass model's `call` is Python the suite does not read: only the subclass style runs it
(the model as written, called on the image); the others are not applicable, with the reason.
A style that cannot express the model raises `NotExpressible` naming the layer and the styles
that remain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from bench.archs import IMAGE_SHAPE, CustomSpec
from bench.styles import NotExpressible, functions
from bench.styles.graph import Graph, ImageAs, ModelError, Step, describe, image_as, load

__all__ = ["BUILDERS", "ModelError", "construct", "describe", "image_as", "reference_style", "remaining"]


def reference_style(spec: CustomSpec) -> str:
    """The style the others are checked against: functional, or subclass for a subclass model."""
    return "subclass" if describe(spec.model).kind == "subclass" else "functional"


def remaining(graph: Graph) -> list[str]:
    """The styles that can build the model."""
    if graph.kind == "subclass":
        return ["subclass"]
    chain = [] if graph.chain_breaks() else ["sequential"]
    written = [] if any(_refusal(graph, step) for step in graph.steps) else ["functions"]
    floor = [] if _raw_refusal(graph) else ["raw"]
    return [*chain, "functional", "subclass", *written, *floor]


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
        return load(spec.model)()  # as written, its seed draws those of this build
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


def _weight_owning(config: dict[str, Any]) -> str:
    """Why a Dense or Conv2D is not one of the weight-owning layers the derivation writes."""
    kernel, bias = config.get("kernel_initializer") or {}, config.get("bias_initializer") or {}
    names = [i.get("class_name") if isinstance(i, dict) else i for i in (kernel, bias)]
    seeded = isinstance(kernel, dict) and kernel.get("config", {}).get("seed") is not None
    unused = (
        "kernel_regularizer",
        "bias_regularizer",
        "activity_regularizer",
        "kernel_constraint",
        "bias_constraint",
    )
    if (
        config.get("activation", "linear") not in ("relu", "linear")
        or not config.get("use_bias", True)
        or names != ["GlorotUniform", "Zeros"]
        or seeded
        or any(config.get(k) for k in unused)
    ):
        return "it writes Dense and Conv2D with a glorot-uniform kernel, a zero bias, relu or no activation"
    return ""


def _channels_last(config: dict[str, Any]) -> str:
    if config.get("data_format", "channels_last") != "channels_last":
        return "it writes channels-last values only"
    return ""


def _convolution(config: dict[str, Any]) -> str:
    square = len(set(config["kernel_size"])) == 1 and tuple(config["strides"]) == (1, 1)
    dilated = tuple(config.get("dilation_rate", (1, 1))) != (1, 1)
    if not square or config["padding"] != "valid" or dilated or config.get("groups", 1) != 1:
        return "it convolves with a square kernel, stride 1, 'valid' padding, one group"
    return _channels_last(config) or _weight_owning(config)


def _pooling(config: dict[str, Any]) -> str:
    pool, strides = tuple(config["pool_size"]), tuple(config["strides"] or config["pool_size"])
    if len(set(pool)) != 1 or pool != strides or config["padding"] != "valid":
        return "it pools square windows with their own stride, 'valid' padding"
    return _channels_last(config)


def _relu_or_none(config: dict[str, Any]) -> str | None:
    return "relu" if config.get("activation") == "relu" else None


def _owning(fn: Any, layer: Any) -> Any:
    """A weight-owning functions layer with the built-in clone's initializer (and its seed)."""
    fn.kernel_initializer = layer.kernel_initializer
    return fn


@dataclass(frozen=True)
class AsFunction:
    """How the functions style writes one kind of layer: `refuse(config)` says why it cannot
    ('' where it can; the derived raw floor writes the same kinds under the same rules),
    `build(config, clone, shape)` gives the callable (`clone`: the built-in layer made for this
    build, whose initializer a weight-owning function takes; `shape`: the value it gives,
    without the batch axis, as Keras resolved it)."""

    refuse: Callable[[dict[str, Any]], str]
    build: Callable[[dict[str, Any], Any, tuple[int, ...]], Any]


def _always(_: dict[str, Any]) -> str:
    return ""


AS_FUNCTION: dict[str, AsFunction] = {
    "Dense": AsFunction(
        _weight_owning, lambda c, clone, _: _owning(functions.DenseFn(c["units"], _relu_or_none(c)), clone)
    ),
    "Conv2D": AsFunction(
        _convolution,
        lambda c, clone, _: _owning(
            functions.Conv2DFn(c["filters"], c["kernel_size"][0], activation=_relu_or_none(c)), clone
        ),
    ),
    "Flatten": AsFunction(_channels_last, lambda c, _, __: functions.flatten),
    "Reshape": AsFunction(_always, lambda c, _, shape: lambda x: ops.reshape(x, (-1, *shape))),
    "Add": AsFunction(_always, lambda c, _, __: lambda xs: functools.reduce(functions.custom_add, xs)),
    "Concatenate": AsFunction(
        _always, lambda c, _, __: lambda xs: ops.concatenate(xs, axis=c.get("axis", -1))
    ),
    "MaxPooling2D": AsFunction(_pooling, lambda c, _, __: lambda x: functions.max_pool(x, c["pool_size"][0])),
    "ReLU": AsFunction(
        lambda c: (
            "it writes relu without a cap, slope or threshold"
            if any(c.get(k) for k in ("max_value", "negative_slope", "threshold"))
            else ""
        ),
        lambda c, _, __: functions.relu,
    ),
    "Activation": AsFunction(
        lambda c: "" if c["activation"] in ("relu", "linear") else "it activates with relu only",
        lambda c, _, __: functions.relu if c["activation"] == "relu" else (lambda x: x),
    ),
}


def _refusal(graph: Graph, step: Step) -> str:
    """Why the functions style cannot write this step's layer ('' where it can)."""
    if step.layer is None:
        return ""  # already a keras.ops operation
    cls, config, _ = graph.layers[step.layer]
    if cls.__name__ not in AS_FUNCTION:
        return f"the derivation writes only {', '.join(AS_FUNCTION)}"
    return AS_FUNCTION[cls.__name__].refuse(config)


def _as_function(graph: Graph, step: Step, clone: Any) -> Any:
    """The functions style's callable for one layer, or NotExpressible naming the layer."""
    refusal = _refusal(graph, step)
    if refusal:
        raise NotExpressible(
            f"functions cannot express layer {graph.step_name(step)}: {refusal}; "
            f"the styles that remain: {', '.join(remaining(graph))}"
        )
    cls, config, _ = graph.layers[step.layer]
    return AS_FUNCTION[cls.__name__].build(config, clone, graph.shapes[step.outputs[0]])


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


def _raw_refusal(graph: Graph) -> str:
    """Why the derived raw floor cannot write the model ('' where it can): it writes the
    layers the functions style writes, in the framework's own operations, and no Keras."""
    for step in graph.steps:
        if step.layer is None:
            return f"{graph.step_name(step)}, a keras.ops operation (the floor has no Keras)"
        refusal = _refusal(graph, step)
        if refusal:
            return f"layer {graph.step_name(step)}: {refusal}"
    return ""


def raw(spec: CustomSpec) -> Any:
    """The floor derived from the graph (bench/styles/raw/derived.py), where it can write it."""
    graph = _graph(spec, "raw")
    refusal = _raw_refusal(graph)
    if refusal:
        raise NotExpressible(
            f"raw cannot express {refusal}; the styles that remain: {', '.join(remaining(graph))}"
        )
    from bench.styles import raw as floors  # a backend's framework, imported when a floor is built

    return floors.custom(spec)


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
