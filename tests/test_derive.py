"""Your own model (bench/styles/derive.py): written once in a module the suite has never seen,
every other style derived from it, proven identical by `bench verify`, swept by `bench run`
and reported; what a style cannot express is not applicable with the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from bench import cli, styles
from bench.archs import CustomSpec
from bench.styles import derive, verify

# Two inputs (the digit's rows and its row means), one Dense block shared by both, a GRU.
TWO_INPUTS = '''
import keras

def model():
    rows = keras.Input((28, 28), name="rows")
    means = keras.Input((28,), name="means")
    shared = keras.layers.Dense(16, activation="relu", name="shared")
    h = keras.layers.GRU(32, name="gru")(shared(rows))
    m = keras.layers.Flatten()(shared(keras.layers.Reshape((1, 28))(means)))
    x = keras.layers.Concatenate()([h, m])
    return keras.Model([rows, means], keras.layers.Dense(10, name="logits")(x))


class Looped(keras.Model):
    """Python control flow in call: a loop whose length is the input's width."""

    def __init__(self):
        super().__init__()
        self.flat = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.out = keras.layers.Dense(10)

    def call(self, x):
        h = self.flat(x)
        if h.shape[-1] > 32:
            h = self.hidden(h)
        return self.out(h)


def looped():
    return Looped()


def skip():
    image = keras.Input((28, 28, 1))
    x = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(image))
    x = x + keras.layers.Dense(32, activation="relu")(x)
    return keras.Model(image, keras.layers.Dense(10)(x))


def reshaped():
    """A Reshape Keras resolves (-1), a Dense shared by two calls, a positive concatenation axis."""
    image = keras.Input((28, 28, 1))
    rows = keras.layers.Reshape((-1, 28))(image)
    shared = keras.layers.Dense(8, activation="relu")
    both = keras.layers.Concatenate(axis=1)([shared(rows), shared(keras.layers.ReLU()(rows))])
    return keras.Model(image, keras.layers.Dense(10)(keras.layers.Flatten()(both)))


def channels_first():
    image = keras.Input((1, 28, 28))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first")(image)
    return keras.Model(image, keras.layers.Dense(10)(keras.layers.Flatten()(x)))


def three_logits():
    image = keras.Input((784,))
    return keras.Model(image, keras.layers.Dense(3)(image))
'''


@pytest.fixture
def user_module(new_module) -> str:
    """A model module in a fresh folder, the current directory, under a name no test used."""
    return new_module("user_models", TWO_INPUTS)


def cells_of(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["verify", *args])
    return code, capsys.readouterr().out


def test_a_model_the_suite_never_saw_verifies_identical_where_a_style_can_express_it(user_module, capsys):
    code, out = cells_of(capsys, f"arch={user_module}:model,{user_module}:looped,{user_module}:skip")
    assert code == 0
    lines = {tuple(line.split()[:2]): line for line in out.splitlines()[2:-1]}
    two, looped, skip = (f"{user_module}:{f}" for f in ("model", "looped", "skip"))
    for style in ("functional", "subclass"):
        assert lines[(two, style)].split()[2] == "5754" and "identical" in lines[(two, style)]
    assert "it takes 2 inputs; the styles that remain: functional, subclass" in lines[(two, "sequential")]
    # the layer the functions style cannot write, named, and the styles that remain
    assert "functions cannot express layer 'gru' (GRU)" in lines[(two, "functions")]
    assert lines[(two, "functions")].endswith("the styles that remain: functional, subclass")
    assert "raw cannot express layer 'gru' (GRU): the derivation writes only Dense" in lines[(two, "raw")]
    # a subclass with Python control flow: only the subclass style runs it, the others say why
    assert "identical" in lines[(looped, "subclass")]
    for style in ("sequential", "functional", "functions"):
        assert "its call is Python the suite does not read" in lines[(looped, style)]
    # a keras.ops operation (x + y) in the graph: every style but Sequential writes it
    assert [s for s in styles.STYLE_NAMES if "identical" in lines[(skip, s)]] == [
        "functional",
        "subclass",
        "functions",
    ]
    assert "is an operation, not a layer" in lines[(skip, "sequential")]
    assert "a keras.ops operation (the floor has no Keras)" in lines[(skip, "raw")]


def test_what_keras_resolves_and_what_it_lays_out_otherwise(user_module, capsys):
    """Reshape((-1, 28)) reshapes to the shape Keras resolved, a shared Dense is one set of
    weights in every style, the raw floor included; a channels-first convolution is refused by
    the styles that write channels-last values, not built wrong."""
    code, out = cells_of(capsys, f"arch={user_module}:reshaped,{user_module}:channels_first")
    lines = {tuple(line.split()[:2]): line for line in out.splitlines()[2:-1]}
    reshaped, first = f"{user_module}:reshaped", f"{user_module}:channels_first"
    for style in ("functional", "subclass", "functions", "raw"):
        assert "identical" in lines[(reshaped, style)], lines[(reshaped, style)]
    assert "not expressible: Sequential holds a chain" in lines[(reshaped, "sequential")]
    for style in ("functions", "raw"):
        assert "it writes channels-last values only" in lines[(first, style)]


def test_the_derived_subclass_is_the_call_a_user_writes_with_the_shared_layer_called_twice(user_module):
    keras.utils.set_random_seed(0)
    model = derive.construct("subclass", CustomSpec(f"{user_module}:model"))
    assert model.source.count("self.shared(") == 2 and model.source.count("self.gru(") == 1
    assert "self.image_as_0(image)" in model.source and "self.image_as_1(image)" in model.source
    outputs = model(np.zeros((2, 28, 28, 1), dtype="float32"))
    assert tuple(outputs.shape) == (2, 10)
    keras.utils.set_random_seed(0)
    functional = styles.build("functional", CustomSpec(f"{user_module}:model"))
    assert styles.weight_shapes(model) == styles.weight_shapes(functional)  # the user's layer order


def test_reading_the_model_draws_no_seed_the_styles_builds_see(new_module):
    """The first build of a process reads the user's model (once, cached); the builds after it
    must draw the same initial weights as that first one."""
    name = new_module("user_models_fresh", TWO_INPUTS)
    spec = CustomSpec(f"{name}:skip")
    first = verify.seeded_build(styles.build, "functional", spec, 3).get_weights()
    again = verify.seeded_build(styles.build, "functional", spec, 3).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_images_reach_each_input_in_its_shape():
    image = np.arange(784, dtype="float32").reshape(1, 28, 28, 1)
    rows = keras.ops.convert_to_numpy(derive.image_as(image, (28, 28)))
    means = keras.ops.convert_to_numpy(derive.image_as(image, (28,)))
    np.testing.assert_array_equal(rows[0], image[0, :, :, 0])
    np.testing.assert_allclose(means[0], image[0, :, :, 0].mean(axis=1))


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("{m}:three_logits", "the suite trains one output of 10 logits; it returns [(None, 3)]"),
        ("no_such_module:model", "no module 'no_such_module' on the current directory or PYTHONPATH"),
        ("{m}", "unknown arch"),
        ("{m}:missing", "has no function 'missing' returning a model"),
    ],
)
def test_a_model_that_cannot_be_read_is_one_line_naming_the_fix(user_module, capsys, arch, expected):
    assert cli.main(["verify", f"arch={arch.format(m=user_module)}"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and err.startswith("bench: error:")


def test_new_arch_writes_a_starter_that_verifies(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    name = f"demo_{tmp_path.name}"
    assert cli.main(["new-arch", name]) == 0
    assert f"bench verify arch={name}:model" in capsys.readouterr().out
    code, out = cells_of(capsys, f"arch={name}:model")
    assert code == 0 and "5 identical" in out and "not expressible" not in out
    assert cli.main(["new-arch", name]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


@pytest.mark.slow
def test_a_user_model_sweeps_and_reports_like_a_shipped_one(user_module, tmp_path):
    command = [sys.executable, "-m", "bench.cli"]
    environment = {"PYTHONPATH": str(Path(__file__).parents[1])}
    sweep = [
        "run", "-m", f"arch={user_module}:model", "repeat=1,2", "data=embedded", "sweep_id=mine",
        "block.styles=[sequential,functional,subclass,functions,raw]", "block.rounds=2", "train.warmup_steps=2",
        "train.timed_steps=6", "train.epochs=0", "train.block_clock_steps=0", "train.latency_repeats=0",
        "train.save_load=false", "train.anchor_steps=0", "isolation=fork",
    ]  # fmt: skip
    import os

    env = {**os.environ, **environment}
    finished = subprocess.run([*command, *sweep], capture_output=True, text=True, timeout=600, env=env)
    assert finished.returncode == 0, finished.stderr[-2000:]
    rows = pd.concat(pd.read_parquet(p) for p in (tmp_path / "results" / "mine").glob("*.parquet"))
    status = rows.groupby("style")["status"].agg(set).to_dict()
    assert status == {
        "functional": {"ok"}, "subclass": {"ok"},
        "sequential": {"not_applicable"}, "functions": {"not_applicable"}, "raw": {"not_applicable"},
    }  # fmt: skip
    assert set(rows["arch"]) == {f"{user_module}:model"} and sorted(rows["repeat"].unique()) == [1, 2]
    ok = rows[rows["status"] == "ok"]
    assert (ok["params"] == 5754).all() and ok["matches_reference"].all()
    reported = subprocess.run(
        [*command, "report", "results/mine"], capture_output=True, text=True, timeout=300, env=env
    )
    assert reported.returncode == 0, reported.stderr[-2000:]
    summary = (tmp_path / "reports" / "mine" / "summary.md").read_text()
    assert f"{user_module}:model, steady step against functional" in summary
    assert "functions cannot express layer 'gru' (GRU)" in summary


@pytest.mark.parametrize("arch", ["resnet", "vit"])
def test_one_fit_step_trains_every_derived_style_alike_batchnorm_and_dropout_in_training_mode(arch):
    """`bench verify` compares inference outputs; this compares training. Keras's fit passes
    training=True only to a call that takes `training`: a derived subclass without it trained
    BatchNorm in inference mode (its moving statistics never moved) and stepped 0.6x."""
    from bench.archs import default_spec

    spec, batch = default_spec(arch), verify.real_batch(32)
    trained = {}
    for style in ("functional", "subclass"):
        model = verify.seeded_build(styles.build, style, spec, 0)
        before = [w.copy() for w in model.get_weights()]
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        keras.utils.set_random_seed(1)
        model.fit(batch, np.arange(32) % 10, batch_size=32, epochs=1, verbose=0)
        trained[style] = model.get_weights()
        moved = {
            v.path
            for v, a, b in zip(model.weights, before, trained[style], strict=True)
            if not np.array_equal(a, b)
        }
        assert moved == {v.path for v in model.weights}, (
            "every weight moves, BatchNorm's moving statistics too"
        )
    for a, b in zip(trained["functional"], trained["subclass"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_the_derived_raw_floor_trains_saves_and_loads_like_the_keras_styles(tmp_path, monkeypatch, capsys):
    """bench verify proves the floor's initial weights and outputs; this trains it: the same
    digits, steps and Adam give the same accuracy as functional's, and its save reloads."""
    from bench.results import load

    monkeypatch.chdir(tmp_path)
    overrides = [
        "-m", "arch=multi_input", "block.styles=[functional,raw]", "repeat=1", "data=embedded",
        "data.max_train_samples=512", "data.max_test_samples=256", "train.warmup_steps=1", "train.timed_steps=4",
        "train.epochs=1", "block.rounds=2", "train.latency_repeats=1", "isolation=inline", "sweep_id=floor",
    ]  # fmt: skip
    assert cli.main(["run", *overrides]) == 0
    rows = load(tmp_path / "results" / "floor").set_index("style")
    assert set(rows["status"]) == {"ok"} and rows["save_load_ok"].all() and rows["matches_reference"].all()
    assert rows.loc["raw", "params"] == rows.loc["functional", "params"] == 14234
    assert rows.loc["raw", "test_accuracy"] == pytest.approx(
        rows.loc["functional", "test_accuracy"], abs=1 / 256
    )
    assert rows.loc["raw", "test_loss"] == pytest.approx(rows.loc["functional", "test_loss"], rel=1e-5)
