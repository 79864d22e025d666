"""Read the IDX files that MNIST and Fashion-MNIST ship as, gzipped or raw.

The format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte
(0x08 = unsigned byte), a byte with the number of dimensions, one big-endian
uint32 per dimension, then the values in row-major order. Every check that
fails raises `DataError` with one line naming the file and what was expected.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

UBYTE = 0x08
IMAGE_SIDE = 28

# split -> (images stem, labels stem); each may end in .gz, and some mirrors use a dot.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(ValueError):
    """A data file or source that cannot give the arrays it should."""


def find_file(directory: Path, stem: str) -> Path:
    """The file for `stem` in `directory`: gzipped or raw, dash or dot spelling."""
    dotted = stem.replace("-idx", ".idx")
    for name in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory / stem}[.gz]: file not found; expected the four standard MNIST IDX files")


def read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: unreadable or corrupt gzip ({error})") from error


def parse(path: Path, expected: str) -> np.ndarray:
    """Parse one IDX file; `expected` describes the wanted shape for error messages."""
    payload = read_bytes(path)
    if len(payload) < 4 or payload[0:2] != b"\x00\x00" or payload[2] != UBYTE:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number); expected {expected}")
    ndim = payload[3]
    header_size = 4 + 4 * ndim
    if len(payload) < header_size:
        raise DataError(f"{path}: truncated header; expected {expected}")
    shape = struct.unpack(f">{ndim}I", payload[4:header_size])
    values = np.frombuffer(payload, dtype=np.uint8, offset=header_size)
    if values.size != int(np.prod(shape)):
        raise DataError(
            f"{path}: truncated or padded: header says shape {shape} ({int(np.prod(shape))} values) "
            f"but the file holds {values.size}; expected {expected}"
        )
    return values.reshape(shape)


def read_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of one split, validated."""
    images_stem, labels_stem = SPLIT_FILES[split]
    images_path = find_file(directory, images_stem)
    labels_path = find_file(directory, labels_stem)
    images = parse(images_path, "images of shape (N, 28, 28), uint8")
    labels = parse(labels_path, "labels of shape (N,), uint8 in 0..9")
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{images_path}: holds shape {images.shape}; expected images of shape (N, 28, 28)")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: holds shape {labels.shape}; expected ({images.shape[0]},) "
            f"labels to match {images_path.name}"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: label {labels.max()} out of range; expected labels in 0..9")
    return images, labels


def write(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz)."""
    header = bytes([0, 0, UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as stream:
            stream.write(payload)
    else:
        path.write_bytes(payload)
