"""Proof that the styles build the same network, architecture by architecture.

For each architecture the reference style (functional) is built with a seed;
every other style, built with the same seed, must have the same parameter
count, the same ordered weight shapes and the same initial weights, and once
given the reference's weights it must produce the same outputs (to within
`tolerance`) on a batch of real digits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from bench import data, styles
from bench.archs import VERIFIED, ArchSpec, default_spec, label
from bench.styles import predict_logits

IDENTICAL, MISMATCH, NOT_EXPRESSIBLE = "identical", "mismatch", "not expressible"
Builder = Callable[[str, ArchSpec], Any]


@dataclass(frozen=True)
class Cell:
    """The verdict for one architecture × style."""

    arch: str
    style: str
    status: str
    params: int | None = None
    max_abs_diff: float | None = None
    detail: str = ""

    def verdict(self) -> str:
        if self.status == IDENTICAL:
            return f"{IDENTICAL} ({self.detail})" if self.detail else IDENTICAL
        return f"{self.status}: {self.detail}"


def real_batch(size: int = 64) -> np.ndarray:
    """The first `size` test digits of the embedded MNIST subset, as model inputs."""
    return data.model_inputs(data.load("mnist", "embedded").x_test[:size])


def seeded_build(build: Builder, style: str, spec: ArchSpec, seed: int) -> Any:
    keras.utils.set_random_seed(seed)
    return build(style, spec)


def _first_difference(model: Any, reference_weights: list[np.ndarray], reference: Any) -> str:
    """Why `model`'s structure or initial weights differ from the reference, or ''."""
    weights = model.get_weights()
    shapes = [w.shape for w in weights]
    reference_shapes = [w.shape for w in reference_weights]
    if model.count_params() != reference.count_params():
        return f"{model.count_params()} parameters, reference has {reference.count_params()}"
    if shapes != reference_shapes:
        return f"weight shapes {shapes} differ from reference {reference_shapes}"
    unequal = [
        i for i, (a, b) in enumerate(zip(weights, reference_weights, strict=True)) if not np.array_equal(a, b)
    ]
    return f"initial weights {unequal} differ from reference with the same seed" if unequal else ""


def _output_gap(model: Any, reference_outputs: dict[str, np.ndarray], batch: np.ndarray) -> float:
    outputs = predict_logits(model, batch, len(batch))
    if outputs.keys() != reference_outputs.keys():
        return float("inf")
    return max(float(np.max(np.abs(outputs[k] - reference_outputs[k]))) for k in outputs)


def check_arch(
    spec: ArchSpec,
    style_names: Sequence[str],
    batch: np.ndarray,
    seed: int = 0,
    tolerance: float = 1e-5,
    build: Builder = styles.build,
) -> list[Cell]:
    """One cell per style for one architecture."""
    reference = seeded_build(build, styles.reference_style(spec), spec, seed)
    reference_weights = reference.get_weights()
    reference_outputs = predict_logits(reference, batch, len(batch))
    cells = []
    for style in style_names:
        try:
            model = seeded_build(build, style, spec, seed)
        except styles.NotExpressible as reason:
            cells.append(Cell(label(spec), style, NOT_EXPRESSIBLE, detail=str(reason)))
            continue
        difference = _first_difference(model, reference_weights, reference)
        if difference:
            cells.append(Cell(label(spec), style, MISMATCH, model.count_params(), detail=difference))
            continue
        model.set_weights([w.copy() for w in reference_weights])
        gap = _output_gap(model, reference_outputs, batch)
        note = getattr(styles.style_module(style), "NOTES", {}).get(spec.name, "")
        if gap > tolerance:
            detail = f"outputs differ by up to {gap:.3g} (> {tolerance:g}) with the reference's weights"
            cells.append(Cell(label(spec), style, MISMATCH, model.count_params(), gap, detail))
        else:
            cells.append(Cell(label(spec), style, IDENTICAL, model.count_params(), gap, note))
    return cells


def verify(
    arch_names: Sequence[str] = VERIFIED,
    style_names: Sequence[str] = styles.STYLE_NAMES,
    seed: int = 0,
    build: Builder = styles.build,
) -> list[Cell]:
    """Every requested architecture × style, checked against the reference style."""
    batch = real_batch()
    return [
        cell
        for arch in arch_names
        for cell in check_arch(default_spec(arch), style_names, batch, seed, build=build)
    ]


def all_consistent(cells: Sequence[Cell]) -> bool:
    """True when no cell is a mismatch (not-expressible cells are allowed)."""
    return all(cell.status != MISMATCH for cell in cells)
