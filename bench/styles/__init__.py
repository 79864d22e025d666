"""The style zoo: one module per way of building a model, all behind `build`.

Every style module exposes one function per architecture, named after it
(`mlp`, `cnn`, `branched`, `residual`), each taking that architecture's spec
and returning a model that is constructed but not necessarily built. A style
that cannot express an architecture raises `NotExpressible` from that
function, with the reason; callers record the cell as not applicable.

Models are duck-typed: Keras models and each raw floor's `RawModel`
(bench/styles/raw/, one per backend) all offer `__call__`, `get_weights`,
`set_weights`, `count_params` and `built`.

The folder owns the models: each style's builders, the raw floors beside them
(raw/), what every trainer shares (`trainer_common`: the loop driver, the NumPy
pipeline, the trace counter), the direct forward call (`predict_logits`), the proof
that the styles build one model (`verify`) and every style of a user's own model, derived
from the one they wrote (`graph` reads it, `derive` builds each style, for `arch=MODULE:FUNCTION`). It may import runtime/, data/ and the ground
modules; it must not import the measuring code or anything that runs, decides or
presents (tests/test_layout.py).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from bench import runtime
from bench.archs import IMAGE_SHAPE, ArchSpec, CustomSpec
from bench.config import KERAS_STYLES, REFERENCE_STYLE, STYLE_NAMES

__all__ = ["KERAS_STYLES", "REFERENCE_STYLE", "STYLE_NAMES", "NotExpressible", "predict_logits"]


class NotExpressible(Exception):
    """This style cannot build this architecture; the message says why."""


def style_module(style: str) -> ModuleType:
    """The module that implements `style`; raises ValueError naming the choices."""
    if style not in STYLE_NAMES:
        raise ValueError(f"unknown style {style!r}; choose one of: {', '.join(STYLE_NAMES)}")
    return importlib.import_module(f"bench.styles.{style}")


def construct(style: str, spec: ArchSpec) -> Any:
    """Create the model's Python objects; weights may still be missing (lazy styles). The
    user's own model (`CustomSpec`) in every style is derived from the one they wrote."""
    if isinstance(spec, CustomSpec):
        style_module(style)  # the same error for an unknown style
        from bench.styles import derive

        return derive.construct(style, spec)
    return getattr(style_module(style), spec.name)(spec)


def reference_style(spec: ArchSpec) -> str:
    """The style every other is checked against: functional, or subclass for a user's
    subclass model (the only style that runs it)."""
    if isinstance(spec, CustomSpec):
        from bench.styles import derive

        return derive.reference_style(spec)
    return REFERENCE_STYLE


def prepare(spec: ArchSpec) -> None:
    """Work a style's build must not time: reading the user's model into its steps (once per
    process; it draws no seed the builds would see)."""
    if isinstance(spec, CustomSpec):
        from bench.styles import derive

        derive.describe(spec.model)


def build_weights(model: Any) -> None:
    """Create the weights of a lazily built model by calling it on one zero image."""
    if not model.built:
        model(np.zeros((1, *IMAGE_SHAPE), dtype="float32"))


def build(style: str, spec: ArchSpec) -> Any:
    """Construct the model and make sure its weights exist."""
    model = construct(style, spec)
    build_weights(model)
    return model


def weight_shapes(model: Any) -> list[tuple[int, ...]]:
    """The shapes of the model's weights, in `get_weights()` order."""
    return [tuple(weight.shape) for weight in model.get_weights()]


def layer_calls(model: Any, batch: np.ndarray) -> int:
    """How many times Keras's `Layer.__call__` runs in one eager forward pass of `batch`, the
    model's own call included: the Python layer machinery a style pays for on every eager call
    and every trace. 0 for raw, whose forward calls no Keras layer."""
    import keras

    calls = 0
    original = keras.layers.Layer.__call__

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)

    keras.layers.Layer.__call__ = counting
    try:
        model.eager_forward()(batch) if hasattr(model, "eager_forward") else model(batch, training=False)
    finally:
        keras.layers.Layer.__call__ = original
    return calls


def predict_logits(model: Any, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """Direct model calls in batches, the same for every style; always a dict of float32 outputs."""
    chunks: list[dict[str, np.ndarray]] = []
    for start in range(0, len(images), batch_size):
        outputs = model(images[start : start + batch_size])
        outputs = outputs if isinstance(outputs, dict) else {"class": outputs}
        chunks.append({name: runtime.host(value).astype(np.float32) for name, value in outputs.items()})
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
