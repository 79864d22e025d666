"""Subclass style: a `keras.Model` subclass, layers made in `__init__`, wired in `call`.

Weights appear lazily, at the first call. Each class is registered and has
`get_config`, which is what `.keras` saving of a subclassed model needs.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

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

register = keras.saving.register_keras_serializable(package="stylebench.subclass")


class _SpecModel(keras.Model):
    """Keeps the spec so that `get_config` / `from_config` round-trip."""

    spec_type: type = MlpSpec

    def __init__(self, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "spec": asdict(self.spec)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _SpecModel:
        fields = dict(config.pop("spec"))
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return cls(cls.spec_type(**fields), **config)


@register
class MlpModel(_SpecModel):
    spec_type = MlpSpec

    def __init__(self, spec: MlpSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.flatten = layers.Flatten()
        self.hidden = layers.Dense(spec.hidden_units, activation="relu")
        self.classifier = layers.Dense(NUM_CLASSES)

    def call(self, inputs: Any) -> Any:
        return self.classifier(self.hidden(self.flatten(inputs)))


@register
class CnnModel(_SpecModel):
    spec_type = CnnSpec

    def __init__(self, spec: CnnSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.convs = [layers.Conv2D(filters, spec.kernel_size, activation="relu") for filters in spec.filters]
        self.pool = layers.MaxPooling2D(spec.pool_size)
        self.flatten = layers.Flatten()
        self.classifier = layers.Dense(NUM_CLASSES)

    def call(self, inputs: Any) -> Any:
        x = inputs
        for conv in self.convs:
            x = self.pool(conv(x))
        return self.classifier(self.flatten(x))


@register
class BranchedModel(_SpecModel):
    spec_type = BranchedSpec

    def __init__(self, spec: BranchedSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.flatten = layers.Flatten()
        self.trunk = layers.Dense(spec.trunk_units, activation="relu")
        self.class_hidden = layers.Dense(spec.head_units, activation="relu")
        self.class_logits = layers.Dense(NUM_CLASSES)
        self.coarse = layers.Dense(spec.coarse_classes)

    def call(self, inputs: Any) -> dict[str, Any]:
        features = self.trunk(self.flatten(inputs))
        return {"class": self.class_logits(self.class_hidden(features)), "coarse": self.coarse(features)}


@register
class ResidualBlock(layers.Layer):
    """relu(x + Dense(Dense(x, relu))): the block adds its input back."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.inner = layers.Dense(units, activation="relu")
        self.outer = layers.Dense(units)

    def call(self, inputs: Any) -> Any:
        return ops.relu(inputs + self.outer(self.inner(inputs)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


@register
class ResidualModel(_SpecModel):
    spec_type = ResidualSpec

    def __init__(self, spec: ResidualSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.flatten = layers.Flatten()
        self.stem = layers.Dense(spec.units, activation="relu")
        self.blocks = [ResidualBlock(spec.units) for _ in range(spec.blocks)]
        self.classifier = layers.Dense(NUM_CLASSES)

    def call(self, inputs: Any) -> Any:
        x = self.stem(self.flatten(inputs))
        for block in self.blocks:
            x = block(x)
        return self.classifier(x)


@register
class SharedModel(_SpecModel):
    """One extractor, called in `call` on the image and on its mirror."""

    spec_type = SharedSpec

    def __init__(self, spec: SharedSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.flatten = layers.Flatten()
        self.extract = layers.Dense(spec.units, activation="relu")
        self.image_head = layers.Dense(NUM_CLASSES)
        self.mirror_head = layers.Dense(NUM_CLASSES)

    def call(self, inputs: Any) -> Any:
        image = self.image_head(self.extract(self.flatten(inputs)))
        mirror = self.mirror_head(self.extract(self.flatten(ops.flip(inputs, axis=2))))
        return image + mirror


@register
class RecurrentModel(_SpecModel):
    spec_type = RecurrentSpec

    def __init__(self, spec: RecurrentSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.rows = layers.Reshape(IMAGE_SHAPE[:2])
        self.lstm = layers.LSTM(spec.units)
        self.classifier = layers.Dense(NUM_CLASSES)

    def call(self, inputs: Any) -> Any:
        return self.classifier(self.lstm(self.rows(inputs)))


def mlp(spec: MlpSpec) -> MlpModel:
    return MlpModel(spec, name="subclass_mlp")


def cnn(spec: CnnSpec) -> CnnModel:
    return CnnModel(spec, name="subclass_cnn")


def branched(spec: BranchedSpec) -> BranchedModel:
    return BranchedModel(spec, name="subclass_branched")


def residual(spec: ResidualSpec) -> ResidualModel:
    return ResidualModel(spec, name="subclass_residual")


def shared(spec: SharedSpec) -> SharedModel:
    return SharedModel(spec, name="subclass_shared")


def recurrent(spec: RecurrentSpec) -> RecurrentModel:
    return RecurrentModel(spec, name="subclass_recurrent")
