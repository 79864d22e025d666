"""Your own data (`data=MODULE:FUNCTION`, bench/data/loader.py): a function in a module the suite
has never seen returns ((x_train, y_train), (x_test, y_test)); the suite checks it, trains on it,
records where it came from; what it cannot use is refused in one line naming the fix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench import cli, data
from bench.data.idx import DataError

# The embedded digits, handed back by the user's function in three of the accepted forms,
# and a few a benchmark cannot use.
LOADERS = """
import dataclasses

import numpy as np
from bench import data

COARSE_GROUPS = (3, 2, 1, 0, 3, 2, 1, 0, 3, 2)

def _digits():
    d = data.load("mnist", "embedded")
    return d.x_train, d.y_train, d.x_test, d.y_test

def load_data():
    x, y, xt, yt = _digits()
    return (x, y), (xt, yt)

def flat_float():
    x, y, xt, yt = _digits()
    return (x.reshape(-1, 784).astype("float32"), y.astype("int64")), (xt[..., None].astype("float64"), yt)

def scaled():
    x, y, xt, yt = _digits()
    return (x / 255.0, y), (xt / 255.0, yt)

def wrong_shape():
    x, y, xt, yt = _digits()
    return (x[:, :14], y), (xt, yt)

def eleven_classes():
    x, y, xt, yt = _digits()
    return (x, y + 1), (xt, yt)

def short_labels():
    x, y, xt, yt = _digits()
    return (x, y[:-1]), (xt, yt)

def too_bright():
    x, y, xt, yt = _digits()
    return (x.astype("int32") + 1, y), (xt, yt)

def negative():
    x, y, xt, yt = _digits()
    return (x, y), (xt.astype("int32") - 1, yt)

def empty_test():
    x, y, xt, yt = _digits()
    return (x, y), (xt[:0], yt[:0])

def test_labels_as_floats():
    x, y, xt, yt = _digits()
    return (x, y), (xt, yt.astype("float32"))

def arrays_only():
    x, y, xt, yt = _digits()
    return x, y, xt, yt
"""


@pytest.fixture
def loaders(new_module) -> str:
    return new_module("user_data", LOADERS)


@pytest.mark.parametrize("function", ["load_data", "flat_float"])
def test_a_users_arrays_arrive_as_given_and_are_recorded_by_name_and_checksum(loaders, embedded, function):
    loaded = data.load(loader=f"{loaders}:{function}")
    for mine, theirs in zip(
        (loaded.x_train, loaded.y_train, loaded.x_test, loaded.y_test),
        (embedded.x_train, embedded.y_train, embedded.x_test, embedded.y_test),
        strict=True,
    ):
        assert mine.dtype == np.uint8
        np.testing.assert_array_equal(mine, theirs)
    provenance = loaded.provenance
    assert (provenance.dataset, provenance.source) == (f"{loaders}:{function}", "loader")
    assert provenance.location.endswith(f"{loaders}.py")
    assert provenance.sha256 == embedded.provenance.sha256  # the same digits, the same checksum


def test_the_users_coarse_groups_feed_the_branched_head(loaders):
    labels = np.array([0, 1, 2, 9], dtype=np.uint8)
    assert data.coarse_labels(labels, f"{loaders}:load_data").tolist() == [3, 2, 1, 2]


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("scaled", "train images must be whole numbers 0..255 (as uint8); scale images in [0, 1] by 255"),
        ("wrong_shape", "train images of shape (4000, 14, 28); the suite's models read 28 x 28 grayscale"),
        ("eleven_classes", "train labels must be classes 0..9"),
        ("short_labels", "train labels of shape (3999,) and type uint8; give one integer class per image"),
        ("arrays_only", "return ((x_train, y_train), (x_test, y_test)), as keras.datasets.mnist.load_data()"),
        ("missing", "has no function 'missing'"),
        ("too_bright", "train images must be whole numbers 0..255"),
        ("negative", "test images must be whole numbers 0..255"),
        ("empty_test", "the test split is empty"),
        ("test_labels_as_floats", "test labels of shape (1000,) and type float32; give one integer class"),
    ],
)
def test_data_the_suite_cannot_use_is_one_line_naming_the_fix(loaders, function, expected):
    with pytest.raises(DataError) as caught:
        data.load(loader=f"{loaders}:{function}")
    message = str(caught.value)
    assert message.startswith(f"data.loader={loaders}:{function}: ") and expected in message
    assert "\n" not in message


def test_a_missing_data_module_is_one_line_at_load_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as caught:
        data.load(loader="no_such_data:load_data")
    assert str(caught.value) == (
        "data.loader=no_such_data:load_data: no module 'no_such_data' on the current directory or PYTHONPATH"
    )
    with pytest.raises(
        DataError, match="^data.loader='my_data': write MODULE:FUNCTION, e.g. my_data:load_data$"
    ):
        data.load(loader="my_data")


@pytest.mark.parametrize(
    "groups", ["(0, 1, 2, 3)", "(0, 1, 2, 3, 4, 0, 1, 2, 3, 0)", "(0.0,) * 10", "(True,) * 10"]
)
def test_coarse_groups_that_are_not_ten_groups_of_four_are_refused(new_module, groups):
    name = new_module("grouped", f"COARSE_GROUPS = {groups}\n\ndef load_data():\n    return None\n")
    with pytest.raises(DataError, match="define COARSE_GROUPS in"):
        data.coarse_labels(np.zeros(3, dtype=np.uint8), f"{name}:load_data")


def test_a_missing_data_module_or_no_loader_is_refused_at_the_door(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "data=no_such_data:load_data"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "bench: error: data.loader=no_such_data:load_data: no module 'no_such_data' on the current "
        "directory or PYTHONPATH"
    )
    assert cli.main(["run", "data=custom"]) == 2
    assert "name it, data=MODULE:FUNCTION (data.loader)" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()  # refused before any trial ran


def test_coarse_groups_may_be_numpy_integers(new_module):
    source = (
        "import numpy as np\nCOARSE_GROUPS = tuple(np.arange(10) % 4)\n\ndef load_data():\n    return None\n"
    )
    name = new_module("numpy_grouped", source)
    assert data.coarse_labels(np.array([5, 9], dtype=np.uint8), f"{name}:load_data").tolist() == [1, 1]


def test_branched_on_data_without_coarse_groups_names_them(new_module):
    name = new_module("plain_data", "def load_data():\n    return None\n")
    with pytest.raises(DataError, match=f"define COARSE_GROUPS in {name}: 10 group numbers 0..3"):
        data.coarse_labels(np.zeros(3, dtype=np.uint8), f"{name}:load_data")


@pytest.mark.slow
def test_a_sweep_trains_on_the_users_data_and_records_it(loaders, tmp_path, capsys):
    from bench.results import load

    overrides = [
        f"data={loaders}:load_data", "arch=branched", "style=functional", "train.warmup_steps=1",
        "train.timed_steps=3", "train.epochs=0", "data.max_train_samples=512", "data.max_test_samples=128",
        "isolation=inline", "sweep_id=own",
    ]  # fmt: skip
    assert cli.main(["run", *overrides]) == 0
    rows = load(tmp_path / "results" / "own")
    assert rows.loc[0, "status"] == "ok"
    assert rows.loc[0, "data_dataset"] == rows.loc[0, "data_loader"] == f"{loaders}:load_data"
    assert rows.loc[0, "data_source"] == "loader" and rows.loc[0, "data_train_samples"] == 512
    assert rows.loc[0, "data_location"].endswith(f"{loaders}.py")


def test_a_trial_on_the_users_data_is_another_trial_and_every_earlier_key_stands(run_config):
    from bench.config import DataConfig
    from bench.results import identity, trial_key

    shipped = run_config()
    own = dataclasses.replace(
        shipped, data=DataConfig(dataset="custom", source="loader", loader="mine:load_data")
    )
    assert "loader" not in identity(shipped)["data"]  # the field added later changes no stored key
    assert identity(own)["data"]["loader"] == "mine:load_data" and trial_key(own) != trial_key(shipped)
