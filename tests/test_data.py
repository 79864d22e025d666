"""Every data source, on real digits, including the corrupt-file and offline paths."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest

from bench import data
from bench.data import idx
from bench.data.idx import DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_idx_dir(directory: Path, source: data.Dataset, gz: bool = True, dotted: bool = False) -> Path:
    """The embedded digits written as the four standard IDX files."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": source.x_train,
        "train-labels-idx1-ubyte": source.y_train,
        "t10k-images-idx3-ubyte": source.x_test,
        "t10k-labels-idx1-ubyte": source.y_test,
    }
    for stem, array in arrays.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        idx.write(directory / (f"{name}.gz" if gz else name), array)
    return directory


@pytest.mark.parametrize(("gz", "dotted"), [(True, False), (False, False), (False, True)])
def test_idx_source_reads_gzipped_raw_and_dotted_files(tmp_path, embedded, gz, dotted):
    loaded = data.load("mnist", "idx", idx_dir=write_idx_dir(tmp_path, embedded, gz, dotted))
    np.testing.assert_array_equal(loaded.x_train, embedded.x_train)
    np.testing.assert_array_equal(loaded.y_test, embedded.y_test)
    assert loaded.provenance.source == "idx"
    assert loaded.provenance.sha256 == embedded.provenance.sha256


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="apt install dataset-fashion-mnist (.ci/run does)")
def test_idx_source_reads_debians_real_fashion_mnist():
    loaded = data.load("fashion_mnist", "auto")
    assert loaded.provenance.source == "idx"
    assert (loaded.provenance.train_samples, loaded.provenance.test_samples) == (60000, 10000)
    assert loaded.x_train.shape == (60000, 28, 28) and loaded.x_train.dtype == np.uint8
    assert np.bincount(loaded.y_test).tolist() == [1000] * 10


def test_embedded_source_is_a_stratified_deterministic_split(embedded):
    again = data.load("mnist", "embedded")
    assert embedded.provenance.sha256 == again.provenance.sha256
    assert (len(embedded.x_train), len(embedded.x_test)) == (4000, 1000)
    assert np.bincount(embedded.y_test).tolist() == [100] * 10
    assert embedded.x_train.max() == 255 and embedded.x_train.dtype == np.uint8


def test_max_samples_keep_the_first_n_and_are_recorded(embedded):
    loaded = data.load("mnist", "embedded", max_train_samples=100, max_test_samples=50)
    assert (loaded.provenance.train_samples, loaded.provenance.test_samples) == (100, 50)
    np.testing.assert_array_equal(loaded.x_train, embedded.x_train[:100])


def _corrupt(directory: Path, name: str, payload: bytes) -> Path:
    path = directory / name
    path.write_bytes(payload)
    return path


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("train-images-idx3-ubyte.gz", lambda raw: gzip.compress(raw)[:-200], "corrupt gzip"),
        ("train-images-idx3-ubyte.gz", lambda raw: gzip.compress(raw[:-1000]), "truncated or padded"),
        ("train-images-idx3-ubyte.gz", lambda raw: gzip.compress(b"\x01\x02" + raw[2:]), "bad magic number"),
        ("train-images-idx3-ubyte.gz", lambda raw: b"not gzip at all", "corrupt gzip"),
        ("train-labels-idx1-ubyte.gz", lambda raw: gzip.compress(raw[:-10]), "truncated or padded"),
    ],
)
def test_corrupt_idx_file_gives_one_line_naming_file_and_shape(tmp_path, embedded, name, damage, message):
    directory = write_idx_dir(tmp_path, embedded)
    raw = gzip.decompress((directory / name).read_bytes())
    _corrupt(directory, name, damage(raw))
    with pytest.raises(DataError) as caught:
        data.load("mnist", "idx", idx_dir=directory)
    text = str(caught.value)
    assert name in text and message in text and "\n" not in text
    assert "expected" in text or "gzip" in text


def test_label_count_that_does_not_match_images_is_refused(tmp_path, embedded):
    directory = write_idx_dir(tmp_path, embedded)
    idx.write(directory / "t10k-labels-idx1-ubyte.gz", embedded.y_test[:-1])
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte.gz: holds shape \(999,\); expected \(1000,\)"
    ):
        data.load("mnist", "idx", idx_dir=directory)


def test_images_of_the_wrong_shape_are_refused(tmp_path, embedded):
    directory = write_idx_dir(tmp_path, embedded)
    idx.write(directory / "train-images-idx3-ubyte.gz", embedded.x_train.reshape(-1, 784))
    with pytest.raises(DataError, match=r"expected images of shape \(N, 28, 28\)"):
        data.load("mnist", "idx", idx_dir=directory)


def test_missing_idx_file_is_named(tmp_path, embedded):
    directory = write_idx_dir(tmp_path, embedded)
    (directory / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*file not found"):
        data.load("mnist", "idx", idx_dir=directory)


def test_idx_source_without_a_folder_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("BENCH_MNIST_DIR", raising=False)
    with pytest.raises(DataError, match="set data.idx_dir or BENCH_MNIST_DIR"):
        data.load("mnist", "idx")


def test_unknown_dataset_and_source_name_the_choices():
    with pytest.raises(DataError, match="choose one of: mnist, fashion_mnist"):
        data.load("cifar", "auto")
    with pytest.raises(DataError, match="choose one of: auto, tfds, idx, embedded"):
        data.load("mnist", "ftp")


def _never(*args, **kwargs):
    raise AssertionError("must not be called offline")


def test_tfds_without_a_prepared_copy_fails_at_once_and_never_downloads(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", _never)
    with pytest.raises(DataError, match="no prepared TFDS copy of mnist.*data.download=true"):
        data.load("mnist", "tfds", data_dir=str(tmp_path))


def test_tfds_download_when_offline_fails_after_a_quick_probe(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", _never)
    monkeypatch.setattr(data, "host_reachable", lambda *a, **k: False)
    with pytest.raises(DataError, match="cannot reach"):
        data.load("mnist", "tfds", data_dir=str(tmp_path), download=True)


def test_tfds_source_converts_a_prepared_dataset(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=12):
        loaded = data.load("mnist", "tfds", data_dir=str(tmp_path))
    assert loaded.x_train.shape == (12, 28, 28) and loaded.y_train.shape == (12,)
    assert loaded.x_train.dtype == np.uint8 and loaded.provenance.source == "tfds"


def test_auto_offline_falls_back_to_embedded_with_a_one_line_warning(tmp_path, monkeypatch, caplog):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", _never)
    monkeypatch.setattr(data, "host_reachable", lambda *a, **k: False)
    monkeypatch.delenv("BENCH_MNIST_DIR", raising=False)
    with caplog.at_level(logging.WARNING, logger="bench.data"):
        loaded = data.load("mnist", "auto", data_dir=str(tmp_path))
    assert loaded.provenance.source == "embedded"
    warning = next(r.getMessage() for r in caplog.records if r.name == "bench.data")
    assert "embedded subset" in warning and "BENCH_MNIST_DIR" in warning and "\n" not in warning
    assert loaded.provenance.note == warning


def test_auto_prefers_an_idx_folder_from_the_environment(tmp_path, monkeypatch, embedded):
    monkeypatch.setattr(data, "host_reachable", _never)
    monkeypatch.setenv("BENCH_MNIST_DIR", str(write_idx_dir(tmp_path / "idx", embedded)))
    loaded = data.load("mnist", "auto", data_dir=str(tmp_path / "tfds"))
    assert loaded.provenance.source == "idx"


def test_auto_downloads_only_when_the_host_answers(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data, "host_reachable", lambda *a, **k: True)
    monkeypatch.setattr(data, "from_tfds", lambda dataset, data_dir, download: calls.append(download))
    monkeypatch.delenv("BENCH_MNIST_DIR", raising=False)
    data.load("mnist", "auto", data_dir=str(tmp_path))
    assert calls == [True]


def test_host_probe_answers_false_at_once_for_a_closed_port():
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]  # bound but not listening: connections are refused
        assert data.host_reachable(("127.0.0.1", port), timeout_s=2.0) is False


def test_coarse_groups_cover_every_class_with_four_groups():
    for dataset in data.DATASETS:
        groups = data.coarse_labels(np.arange(10), dataset)
        assert sorted(set(groups.tolist())) == [0, 1, 2, 3]


@pytest.mark.parametrize("kind", ["numpy", "tfdata"])
def test_a_batch_larger_than_the_training_set_is_refused_not_waited_for(kind):
    """Without the check the NumPy pipeline never yields (a pass holds no full batch) and the
    trial hangs until its timeout; 8,192 on the 4,000-digit embedded set is such a batch."""
    import numpy as np

    from bench.measure import training

    images, labels = np.zeros((100, 28, 28, 1), np.float32), np.zeros(100, np.int64)
    with pytest.raises(
        ValueError, match=r"train.batch_size=128 exceeds the 100 training samples; use a smaller"
    ):
        training.pipeline(images, labels, 128, seed=0, kind=kind)
    assert training.pipeline(images, labels, 100, seed=0, kind=kind) is not None  # a full batch is fine
