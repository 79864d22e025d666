"""Architecture specs: the sizes every style shares, written once.

Each style module reads these frozen dataclasses and never re-types a width,
so a change here changes every style at once. The canonical weight order of
each architecture (the order `get_weights()` returns) is given in its
docstring; every style creates its weights in that order, and the identity
checks in `bench.styles.verify` hold them to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

IMAGE_SHAPE: tuple[int, int, int] = (28, 28, 1)
NUM_CLASSES = 10


@dataclass(frozen=True)
class MlpSpec:
    """Flatten -> Dense(hidden_units, relu) -> Dense(num_classes).

    Weights: hidden kernel, hidden bias, output kernel, output bias.
    """

    hidden_units: int = 128
    name: str = "mlp"


@dataclass(frozen=True)
class CnnSpec:
    """Conv(f0,k,relu) -> MaxPool -> Conv(f1,k,relu) -> MaxPool -> Flatten -> Dense.

    Convolutions are 'valid' and pooling is non-overlapping (stride = pool_size).
    Weights: conv1 kernel/bias, conv2 kernel/bias, output kernel/bias.
    """

    filters: tuple[int, int] = (32, 64)
    kernel_size: int = 3
    pool_size: int = 2
    name: str = "cnn"

    def flat_features(self) -> int:
        """Length of the flattened feature vector that feeds the output layer."""
        side = IMAGE_SHAPE[0]
        for _ in self.filters:
            side = (side - self.kernel_size + 1) // self.pool_size
        return side * side * self.filters[-1]


@dataclass(frozen=True)
class BranchedSpec:
    """Shared trunk with a main digit head and an auxiliary coarse head.

    trunk: Flatten -> Dense(trunk_units, relu)
    main ("class"): Dense(head_units, relu) -> Dense(num_classes)
    auxiliary ("coarse"): Dense(coarse_classes)
    Outputs are a dict {"class": logits, "coarse": logits}; the coarse labels
    come from `bench.data.coarse_labels`. Weights: trunk, main head (2 layers),
    auxiliary head.
    """

    trunk_units: int = 64
    head_units: int = 32
    coarse_classes: int = 4
    aux_loss_weight: float = 0.5
    name: str = "branched"


@dataclass(frozen=True)
class ResidualSpec:
    """Flatten -> Dense(units, relu) stem -> `blocks` residual blocks -> Dense.

    A block maps x to relu(x + Dense(units)(Dense(units, relu)(x))).
    Weights: stem, then each block's two layers, then the output layer.
    """

    units: int = 64
    blocks: int = 2
    name: str = "residual"


@dataclass(frozen=True)
class SharedSpec:
    """One feature extractor shared by two views of the digit: the image and its mirror
    (flipped left to right), a head on each view's features, their logits added.

    extractor: Flatten -> Dense(units, relu), one set of weights called on both views
    heads: Dense(num_classes) on the image's features, Dense(num_classes) on the mirror's
    Weights: extractor, image head, mirror head.
    """

    units: int = 64
    name: str = "shared"


@dataclass(frozen=True)
class RecurrentSpec:
    """An LSTM over the digit's 28 rows (each row one time step of 28 features) -> Dense.

    Reshape((28, 28)) -> LSTM(units) (its last output) -> Dense(num_classes). Keras's LSTM
    defaults: tanh, sigmoid gates in the order input, forget, cell, output; a glorot-uniform
    kernel, an orthogonal recurrent kernel, a zero bias but ones for the forget gate.
    Weights: kernel, recurrent kernel, bias, output kernel, output bias.
    """

    units: int = 64
    name: str = "recurrent"


@dataclass(frozen=True)
class CustomSpec:
    """The user's own model: `model` is `MODULE:FUNCTION`, a function that returns a Keras
    model, its module found on the current directory or PYTHONPATH. The other styles are
    derived from it (bench/styles/derive.py); its weight order is the model's own.

    The model takes MNIST as the suite feeds it: each input holding 784 values gets the
    image in that shape ((28, 28, 1), (28, 28) as 28 rows, (784,)), an input of shape (28,)
    its 28 row means; it returns one output of 10 logits.
    """

    model: str = ""
    title: str = ""  # the name results give it; default: `model`
    name: str = "custom"


ArchSpec = MlpSpec | CnnSpec | BranchedSpec | ResidualSpec | SharedSpec | RecurrentSpec | CustomSpec

ARCH_SPECS: dict[str, type[ArchSpec]] = {
    "mlp": MlpSpec,
    "cnn": CnnSpec,
    "branched": BranchedSpec,
    "residual": ResidualSpec,
    "shared": SharedSpec,
    "recurrent": RecurrentSpec,
    "custom": CustomSpec,
}
SHIPPED = tuple(name for name in ARCH_SPECS if name != "custom")  # written by hand in every style
# Written once as a user writes a model (bench/styles/zoo.py) and derived to every style, as a
# user's own model is: real models' features (BatchNorm, attention) and two inputs.
ZOO = {name: f"bench.styles.zoo:{name}" for name in ("resnet", "vit", "multi_input")}
VERIFIED = (*SHIPPED, *ZOO)  # what `bench verify` proves by default

OUTPUT_NAMES: tuple[str, str] = ("class", "coarse")


def default_spec(arch: str) -> ArchSpec:
    """The spec with its default sizes, or the user's model for `MODULE:FUNCTION`; raises
    ValueError on an unknown name."""
    if ":" in arch:
        return CustomSpec(model=arch)
    if arch in ZOO:
        return CustomSpec(model=ZOO[arch], title=arch)
    if arch not in SHIPPED:
        raise ValueError(
            f"unknown arch {arch!r}; choose one of: {', '.join(sorted(VERIFIED))} or MODULE:FUNCTION"
        )
    return ARCH_SPECS[arch]()


def label(spec: ArchSpec) -> str:
    """The architecture's name in results and reports: the user's `MODULE:FUNCTION` for theirs."""
    return (spec.title or spec.model) if isinstance(spec, CustomSpec) else spec.name


def _dense_flops(units_in: int, units_out: int) -> int:
    return 2 * units_in * units_out


def layer_flops(spec: ArchSpec) -> list[int]:
    """Forward FLOPs of one sample in each weighted layer call (matmul or convolution, 2 per
    multiply-add), in the canonical weight order (a shared layer once per call): the leading
    `image_fed_layers` entries are the calls the images feed; the recurrent model's entries
    are its 28 steps' input matmuls, their recurrent matmuls and the head. Biases,
    activations, pooling and the loss are left out (under 1%; the LSTM's gate arithmetic,
    about 5% of its matmuls' count, is left out too)."""
    pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    if isinstance(spec, CustomSpec):
        raise ValueError("the suite counts the FLOPs of its own architectures only")
    if isinstance(spec, MlpSpec):
        return [_dense_flops(pixels, spec.hidden_units), _dense_flops(spec.hidden_units, NUM_CLASSES)]
    if isinstance(spec, CnnSpec):
        layers, side, channels = [], IMAGE_SHAPE[0], IMAGE_SHAPE[2]
        for filters in spec.filters:
            side -= spec.kernel_size - 1
            layers.append(2 * side * side * spec.kernel_size**2 * channels * filters)
            side, channels = side // spec.pool_size, filters
        return [*layers, _dense_flops(spec.flat_features(), NUM_CLASSES)]
    if isinstance(spec, BranchedSpec):
        return [
            _dense_flops(pixels, spec.trunk_units),
            _dense_flops(spec.trunk_units, spec.head_units),
            _dense_flops(spec.head_units, NUM_CLASSES),
            _dense_flops(spec.trunk_units, spec.coarse_classes),
        ]
    if isinstance(spec, RecurrentSpec):  # the input and recurrent matmuls of all 28 steps, then the head
        steps, features, gates = IMAGE_SHAPE[0], IMAGE_SHAPE[1], 4 * spec.units
        return [
            steps * _dense_flops(features, gates),
            steps * _dense_flops(spec.units, gates),
            _dense_flops(spec.units, NUM_CLASSES),
        ]
    if isinstance(spec, SharedSpec):  # the extractor once per view, both fed images
        return [_dense_flops(pixels, spec.units)] * 2 + [_dense_flops(spec.units, NUM_CLASSES)] * 2
    blocks = [_dense_flops(spec.units, spec.units)] * (2 * spec.blocks)
    return [_dense_flops(pixels, spec.units), *blocks, _dense_flops(spec.units, NUM_CLASSES)]


def image_fed_layers(spec: ArchSpec) -> int:
    """How many of `layer_flops`'s leading entries the images feed: the shared extractor's
    two calls (one per view), else the first layer alone."""
    return 2 if isinstance(spec, SharedSpec) else 1


def forward_flops(spec: ArchSpec) -> int:
    """One sample's forward FLOPs: the sum over its weighted layer calls."""
    return sum(layer_flops(spec))


def train_flops(spec: ArchSpec) -> int:
    """One sample's training FLOPs, exactly as the step computes them: each weighted layer's
    forward, its weight gradient (the same count again) and the gradient with respect to its
    input (again the same), except for the calls the images feed: nothing asks for the
    gradient with respect to the images, so TensorFlow never computes it. Cross-checked
    against TensorFlow's own per-op counts of the traced train step (tests/test_flops.py)."""
    if isinstance(spec, CustomSpec):
        return math.nan  # not counted: a user's model (layer_flops)
    layers = layer_flops(spec)
    if isinstance(spec, RecurrentSpec):
        # the recurrent matmul's input gradient runs at every step but the first, whose
        # state (zeros) nothing asks a gradient for
        inputs, recurrent, head = layers
        return 2 * inputs + recurrent * (3 * IMAGE_SHAPE[0] - 1) // IMAGE_SHAPE[0] + 3 * head
    return 3 * sum(layers) - sum(layers[: image_fed_layers(spec)])


def is_multi_output(spec: ArchSpec) -> bool:
    """Whether the architecture returns the {"class", "coarse"} dict."""
    return isinstance(spec, BranchedSpec)
