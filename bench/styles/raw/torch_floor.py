"""The raw style on PyTorch: a list of leaf tensors and plain `torch.nn.functional` forward
functions, trained by autograd with Keras's Adam written out, eager or under
`torch.compile` (hardware.xla), saved as NumPy arrays.

No Keras at all. Initial values follow the draw Keras makes on torch for a layer given no
seed: each kernel takes an integer seed from Python's `random` module, seeds a
`torch.Generator` with it and is filled by `torch.rand` scaled to the glorot-uniform
range; biases start at zero. Weights keep Keras's layouts (dense kernels in x out, conv
kernels HWIO, images NHWC), converted at each call, so `get_weights` matches the Keras
styles and `bench verify --backend torch` can prove it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.archs import IMAGE_SHAPE, NUM_CLASSES, ArchSpec, BranchedSpec, CnnSpec, MlpSpec, ResidualSpec
from bench.config import HardwareConfig, TrainConfig
from bench.styles import NotExpressible
from bench.timing import StepClock
from bench.trainer_common import burn, execution_delay_s, loss_weights

Params = list[torch.Tensor]
# Python's `random.randint(1, 1e9)`, the integer seed Keras draws for an unseeded initializer.
_SEED_RANGE = (1, int(1e9))


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class Weights:
    """Draws kernel/bias pairs in call order; each pair's index into the flat list."""

    def __init__(self) -> None:
        self.tensors: Params = []

    def _pair(self, kernel_shape: tuple[int, ...], fan_in: int, fan_out: int) -> int:
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        generator = torch.Generator(device=_device())
        generator.manual_seed(random.randint(*_SEED_RANGE) & 0xFFFFFFFF)
        uniform = torch.rand(kernel_shape, generator=generator, dtype=torch.float32, device=_device())
        kernel = (limit - -limit) * uniform + -limit
        bias = torch.zeros(kernel_shape[-1], dtype=torch.float32, device=_device())
        self.tensors += [kernel.requires_grad_(), bias.requires_grad_()]
        return len(self.tensors) - 2

    def dense(self, units_in: int, units_out: int) -> int:
        return self._pair((units_in, units_out), units_in, units_out)

    def conv(self, kernel_size: int, channels_in: int, filters: int) -> int:
        area = kernel_size * kernel_size
        return self._pair(
            (kernel_size, kernel_size, channels_in, filters), area * channels_in, area * filters
        )


class RawModel:
    """A forward function over a flat list of leaf tensors, with Keras-like accessors."""

    built = True

    def __init__(
        self, weights: Weights, forward: Callable[[Params, torch.Tensor], Any], spec: ArchSpec
    ) -> None:
        self.params, self.apply, self.spec = weights.tensors, forward, spec

    def __call__(self, images: Any) -> Any:
        with torch.no_grad():
            return self.apply(self.params, torch.as_tensor(np.asarray(images, np.float32), device=_device()))

    def eager_forward(self) -> Callable[[Any], Any]:
        return self

    def get_weights(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy() for p in self.params]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        if len(weights) != len(self.params):
            raise ValueError(f"expected {len(self.params)} weight arrays, got {len(weights)}")
        with torch.no_grad():
            for tensor, value in zip(self.params, weights, strict=True):
                tensor.copy_(torch.as_tensor(value))

    def count_params(self) -> int:
        return sum(p.numel() for p in self.params)


def _dense(params: Params, index: int, x: torch.Tensor) -> torch.Tensor:
    return x @ params[index] + params[index + 1]


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def mlp(spec: MlpSpec) -> RawModel:
    weights = Weights()
    hidden = weights.dense(math.prod(IMAGE_SHAPE), spec.hidden_units)
    classifier = weights.dense(spec.hidden_units, NUM_CLASSES)

    def forward(params: Params, images: torch.Tensor) -> torch.Tensor:
        return _dense(params, classifier, torch.relu(_dense(params, hidden, _flatten(images))))

    return RawModel(weights, forward, spec)


def cnn(spec: CnnSpec) -> RawModel:
    weights = Weights()
    channels = [IMAGE_SHAPE[-1], *spec.filters]
    convs = [
        weights.conv(spec.kernel_size, c_in, c_out)
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
    ]
    classifier = weights.dense(spec.flat_features(), NUM_CLASSES)

    def forward(params: Params, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2)  # NHWC -> NCHW
        for index in convs:
            kernel = params[index].permute(3, 2, 0, 1)  # HWIO -> OIHW
            x = torch.relu(F.conv2d(x, kernel, params[index + 1]))
            x = F.max_pool2d(x, spec.pool_size)
        return _dense(params, classifier, _flatten(x.permute(0, 2, 3, 1)))  # flattened as NHWC

    return RawModel(weights, forward, spec)


def branched(spec: BranchedSpec) -> RawModel:
    weights = Weights()
    trunk = weights.dense(math.prod(IMAGE_SHAPE), spec.trunk_units)
    class_hidden = weights.dense(spec.trunk_units, spec.head_units)
    class_logits = weights.dense(spec.head_units, NUM_CLASSES)
    coarse = weights.dense(spec.trunk_units, spec.coarse_classes)

    def forward(params: Params, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = torch.relu(_dense(params, trunk, _flatten(images)))
        return {
            "class": _dense(params, class_logits, torch.relu(_dense(params, class_hidden, features))),
            "coarse": _dense(params, coarse, features),
        }

    return RawModel(weights, forward, spec)


def residual(spec: ResidualSpec) -> RawModel:
    weights = Weights()
    stem = weights.dense(math.prod(IMAGE_SHAPE), spec.units)
    blocks = [
        (weights.dense(spec.units, spec.units), weights.dense(spec.units, spec.units))
        for _ in range(spec.blocks)
    ]
    classifier = weights.dense(spec.units, NUM_CLASSES)

    def forward(params: Params, images: torch.Tensor) -> torch.Tensor:
        x = torch.relu(_dense(params, stem, _flatten(images)))
        for inner, outer in blocks:
            x = torch.relu(x + _dense(params, outer, torch.relu(_dense(params, inner, x))))
        return _dense(params, classifier, x)

    return RawModel(weights, forward, spec)


class LoopTrainer:
    """The floor's train step: loss, `torch.autograd.grad`, Keras's Adam (or SGD) by hand in
    place, eager, or the whole step under `torch.compile` when hardware.xla is set."""

    def __init__(self, model: RawModel, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> None:
        self.model, self.spec, self.train, self.hardware = model, spec, train, hardware
        self.jit_compile = hardware.xla and not train.run_eagerly

    def compile(self) -> None:
        self.moments = [torch.zeros_like(p) for p in self.model.params]
        self.velocities = [torch.zeros_like(p) for p in self.model.params]
        self.iterations = 0
        self.one_step = torch.compile(self._step) if self.jit_compile else self._step

    def _loss(self, images: torch.Tensor, labels: Any) -> torch.Tensor:
        outputs = self.model.apply(self.model.params, images)
        if not isinstance(outputs, dict):
            return F.cross_entropy(outputs.float(), labels.long())
        weights = loss_weights(self.spec) or {}
        return sum(w * F.cross_entropy(outputs[k].float(), labels[k].long()) for k, w in weights.items())

    def _step(self, images: torch.Tensor, labels: Any, step: float) -> torch.Tensor:
        params = self.model.params
        loss = self._loss(images, labels)
        gradients = torch.autograd.grad(loss, params)
        rate = self.train.learning_rate
        with torch.no_grad():
            if self.train.optimizer == "sgd":
                for p, g in zip(params, gradients, strict=True):
                    p.sub_(rate * g)
            else:
                beta_1, beta_2 = 0.9, 0.999
                alpha = rate * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
                for p, m, v, g in zip(params, self.moments, self.velocities, gradients, strict=True):
                    m.add_((g - m) * (1.0 - beta_1))
                    v.add_((g * g - v) * (1.0 - beta_2))
                    p.sub_(alpha * m / (v.sqrt() + 1e-7))
        return loss.detach()

    def execution(self, iterator: Any) -> torch.Tensor:
        loss = torch.zeros(())
        for _ in range(self.train.steps_per_execution):
            images, labels = next(iterator)
            self.iterations += 1
            loss = self.one_step(_tensor(images), _tensor(labels), float(self.iterations))
        return loss

    def fit(self, data: Any, executions: int, clock: StepClock) -> None:
        clock.start()
        iterator = iter(data)
        delay_s = execution_delay_s(self.train)
        for _ in range(executions):
            if delay_s:
                burn(delay_s)
            self.execution(iterator).cpu().numpy()  # fetch: synchronizes with a GPU
            clock.tick()

    def fit_epochs(self, data: Any, steps_per_epoch: int, epochs: int) -> list[float]:
        iterator = iter(data)
        seconds = []
        delay_s = execution_delay_s(self.train)
        for _ in range(epochs):
            started = time.perf_counter()
            for _ in range(steps_per_epoch // self.train.steps_per_execution):
                if delay_s:
                    burn(delay_s)
                loss = self.execution(iterator)
            loss.cpu().numpy()
            seconds.append(time.perf_counter() - started)
        return seconds


def _tensor(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tensor(v) for k, v in value.items()}
    return torch.as_tensor(value, device=_device())


def trainer(model: Any, spec: ArchSpec, train: TrainConfig, hardware: HardwareConfig) -> LoopTrainer:
    if not isinstance(model, RawModel):
        raise NotExpressible(
            "train.loop=custom is a TensorFlow GradientTape loop; on torch, Keras styles train with fit"
        )
    if hardware.precision != "float32":
        raise NotExpressible(f"the raw floor on torch computes in float32 only, not {hardware.precision}")
    return LoopTrainer(model, spec, train, hardware)


def save(model: RawModel, folder: Path) -> Path:
    path = folder / "weights.npz"
    np.savez(path, *model.get_weights())
    return path


def load(path: Path, spec: ArchSpec) -> Callable[[np.ndarray], Any]:
    with np.load(path, allow_pickle=False) as stored:
        weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    model = globals()[spec.name](spec)
    model.set_weights(weights)
    return model
