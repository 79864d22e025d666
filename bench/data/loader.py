"""The user's own data (`data=MODULE:FUNCTION`): a function returning the arrays, in the shape
`keras.datasets.mnist.load_data()` returns them, `((x_train, y_train), (x_test, y_test))`.

The suite's models read 28 × 28 grayscale images and 10 classes, so the images are integers
0..255 in shape (N, 28, 28), (N, 28, 28, 1) or (N, 784), and the labels integers 0..9, one per
image; anything else is refused in one line naming the fix. `arch=branched` trains a second
head on 4 coarse groups of the classes: the module names them in `COARSE_GROUPS`, ten group
numbers 0..3 (see bench/data/__init__.py for MNIST's).

The module is found on the current directory or PYTHONPATH (`bench.config.check_model_source`
refuses a missing one at the door); the provenance names the data `MODULE:FUNCTION`, with the
arrays' checksum.
"""

from __future__ import annotations

import importlib
import numbers
from typing import Any

import numpy as np

from bench.config import function_at
from bench.data.idx import DataError

IMAGE_SIDE, CLASSES, GROUPS = 28, 10, 4


def _function(source: str) -> Any:
    try:
        return function_at(source, "data.loader")
    except ValueError as error:
        raise DataError(str(error)) from None


def _images(source: str, split: str, images: Any) -> np.ndarray:
    array = np.asarray(images)
    shape = tuple(array.shape[1:])
    if shape not in ((IMAGE_SIDE, IMAGE_SIDE), (IMAGE_SIDE, IMAGE_SIDE, 1), (IMAGE_SIDE * IMAGE_SIDE,)):
        raise DataError(
            f"data.loader={source}: {split} images of shape {array.shape}; the suite's models read 28 x 28 "
            "grayscale: give (N, 28, 28), (N, 28, 28, 1) or (N, 784)"
        )
    whole = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and bool(np.all(array == np.round(array)))
    )
    if not whole or array.size and (array.min() < 0 or array.max() > 255):
        raise DataError(
            f"data.loader={source}: {split} images must be whole numbers 0..255 (as uint8); "
            "scale images in [0, 1] by 255 and round"
        )
    return array.reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)


def _labels(source: str, split: str, labels: Any, count: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.shape != (count,) or not np.issubdtype(array.dtype, np.integer):
        raise DataError(
            f"data.loader={source}: {split} labels of shape {array.shape} and type {array.dtype}; "
            f"give one integer class per image, shape ({count},)"
        )
    if count and (array.min() < 0 or array.max() >= CLASSES):
        raise DataError(f"data.loader={source}: {split} labels must be classes 0..{CLASSES - 1}")
    return array.astype(np.uint8)


def load(source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_train, y_train, x_test, y_test from the user's function, checked; raises DataError."""
    returned = _function(source)()
    try:
        (x_train, y_train), (x_test, y_test) = returned
    except (TypeError, ValueError):
        raise DataError(
            f"data.loader={source}: return ((x_train, y_train), (x_test, y_test)), as "
            "keras.datasets.mnist.load_data() does"
        ) from None
    arrays = []
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        checked = _images(source, split, images)
        if not len(checked):
            raise DataError(f"data.loader={source}: the {split} split is empty")
        arrays += [checked, _labels(source, split, labels, len(checked))]
    return arrays[0], arrays[1], arrays[2], arrays[3]


def coarse_groups(source: str) -> tuple[int, ...]:
    """The module's COARSE_GROUPS (class -> coarse group), checked; raises DataError."""
    _function(source)  # found, and its function there
    module = importlib.import_module(source.partition(":")[0])
    groups = getattr(module, "COARSE_GROUPS", None)
    if (
        not isinstance(groups, list | tuple)
        or len(groups) != CLASSES
        or not all(
            isinstance(g, numbers.Integral) and not isinstance(g, bool) and 0 <= g < GROUPS for g in groups
        )
    ):
        raise DataError(
            f"data.loader={source}: arch=branched trains a head on {GROUPS} coarse groups; define "
            f"COARSE_GROUPS in {module.__name__}: {CLASSES} group numbers 0..{GROUPS - 1}, one per class"
        )
    return tuple(groups)
