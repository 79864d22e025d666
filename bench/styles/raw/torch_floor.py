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
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.archs import ArchSpec, BranchedSpec, CnnSpec, MlpSpec, RecurrentSpec, ResidualSpec, SharedSpec
from bench.config import HardwareConfig, TrainConfig
from bench.styles.raw import Draws, cnn_draws, dense, derived
from bench.styles.trainer_common import LoopDriver, loss_weights

Params = list[torch.Tensor]


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def on_device(images: Any) -> torch.Tensor:
    """Images as float32 on the floor's device. A tensor (perhaps on the GPU already, as the
    latency phase's is) moves there directly: NumPy cannot take a CUDA tensor. An array a
    user passes is converted."""
    if isinstance(images, torch.Tensor):
        return images.to(device=_device(), dtype=torch.float32)
    return torch.as_tensor(np.asarray(images, np.float32), device=_device())


class Weights(Draws):
    """Keras's draw on torch: `torch.rand` from a `torch.Generator` seeded with the seed,
    scaled to the glorot range; leaf tensors that autograd differentiates."""

    def kernel(self, shape: tuple[int, ...], limit: float, seed: int) -> torch.Tensor:
        generator = torch.Generator(device=_device())
        generator.manual_seed(seed & 0xFFFFFFFF)
        uniform = torch.rand(shape, generator=generator, dtype=torch.float32, device=_device())
        return ((limit - -limit) * uniform + -limit).requires_grad_()

    def bias(self, size: int) -> torch.Tensor:
        return torch.zeros(size, dtype=torch.float32, device=_device(), requires_grad=True)

    def orthogonal(self, shape: tuple[int, int], seed: int) -> torch.Tensor:
        rows, cols = shape
        generator = torch.Generator(device=_device())
        generator.manual_seed(seed & 0xFFFFFFFF)
        normal = torch.normal(
            0.0, 1.0, size=(max(rows, cols), min(rows, cols)), generator=generator, device=_device()
        )
        q, r = torch.linalg.qr(normal, mode="reduced")
        q = q * torch.sign(torch.diagonal(r))
        return (q.T if rows < cols else q).reshape(shape).contiguous().requires_grad_()

    def constant(self, values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=_device(), requires_grad=True)


class RawModel:
    """A forward function over a flat list of leaf tensors, with Keras-like accessors."""

    built = True

    def __init__(
        self, weights: Weights, forward: Callable[[Params, torch.Tensor], Any], spec: ArchSpec
    ) -> None:
        self.params, self.apply, self.spec = weights.arrays, forward, spec

    def __call__(self, images: Any) -> Any:
        with torch.no_grad():
            return self.apply(self.params, on_device(images))

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


def mlp(spec: MlpSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.mlp(spec, weights, torch.relu), spec)


def branched(spec: BranchedSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.branched(spec, weights, torch.relu), spec)


def residual(spec: ResidualSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.residual(spec, weights, torch.relu), spec)


def shared(spec: SharedSpec) -> RawModel:
    weights = Weights()
    return RawModel(
        weights, dense.shared(spec, weights, torch.relu, lambda x: torch.flip(x, dims=(2,))), spec
    )


_LSTM_STEP = dense.lstm_cell(torch.sigmoid, torch.tanh)


def _loop_lstm(params: Params, index: int, rows: torch.Tensor) -> torch.Tensor:
    """The LSTM's steps in a Python loop, as Keras's LSTM on torch runs them."""
    units = params[index + 1].shape[0]
    state = (rows.new_zeros(rows.shape[0], units), rows.new_zeros(rows.shape[0], units))
    for step in range(rows.shape[1]):
        state = _LSTM_STEP(params, index, state, rows[:, step])
    return state[0]


def recurrent(spec: RecurrentSpec) -> RawModel:
    weights = Weights()
    return RawModel(weights, dense.recurrent(spec, weights, _loop_lstm), spec)


def cnn(spec: CnnSpec) -> RawModel:
    weights = Weights()
    convs, classifier = cnn_draws(spec, weights)

    def forward(params: Params, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2)  # NHWC -> NCHW
        for index in convs:
            kernel = params[index].permute(3, 2, 0, 1)  # HWIO -> OIHW
            x = torch.relu(F.conv2d(x, kernel, params[index + 1]))
            x = F.max_pool2d(x, spec.pool_size)
        return dense.linear(params, classifier, dense.flatten(x.permute(0, 2, 3, 1)))  # flattened as NHWC

    return RawModel(weights, forward, spec)


def _conv(params: Params, index: int, x: torch.Tensor) -> torch.Tensor:
    """A valid convolution, channels-last in and out, as Keras keeps its values."""
    kernel = params[index].permute(3, 2, 0, 1)  # HWIO -> OIHW
    return F.conv2d(x.permute(0, 3, 1, 2), kernel, params[index + 1]).permute(0, 2, 3, 1)


def _max_pool(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.max_pool2d(x.permute(0, 3, 1, 2), size).permute(0, 2, 3, 1)


KIT = derived.Kit(
    linear=dense.linear,
    conv=_conv,
    max_pool=_max_pool,
    relu=torch.relu,
    reshape=lambda x, shape: x.reshape(-1, *shape),
    concat=lambda xs, axis: torch.cat(xs, dim=axis),
    mean=lambda x, axis: x.mean(dim=axis),
)


def custom(graph: Any, spec: ArchSpec) -> RawModel:
    """A user's model, its floor derived from its graph (bench/styles/raw/derived.py)."""
    weights = Weights()
    return RawModel(weights, derived.forward(graph, weights, KIT), spec)


class LoopTrainer(LoopDriver):
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

    def fetch(self, value: torch.Tensor) -> np.ndarray:
        return value.cpu().numpy()  # a copy from a GPU synchronizes with it

    def execution(self, iterator: Any) -> torch.Tensor:
        loss = torch.zeros(())
        for _ in range(self.train.steps_per_execution):
            images, labels = next(iterator)
            self.iterations += 1
            loss = self.one_step(_tensor(images), _tensor(labels), float(self.iterations))
        return loss


def _tensor(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tensor(v) for k, v in value.items()}
    return torch.as_tensor(value, device=_device())
