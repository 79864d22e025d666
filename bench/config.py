"""Typed configuration: dataclass schemas in Hydra's ConfigStore, values in conf/ YAML.

`register()` puts the schemas in the ConfigStore; the CLI converts the
composed DictConfig into a `RunConfig` once, with `to_run_config`, and nothing
past the door sees a DictConfig.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import operator
import os
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from bench.archs import ARCH_SPECS, ArchSpec, CustomSpec
from bench.backends import BACKENDS

# The styles' names (bench/styles/ builds them): a vocabulary the config checks and the report orders by.
STYLE_NAMES: tuple[str, ...] = ("sequential", "functional", "subclass", "functions", "raw")
REFERENCE_STYLE = "functional"
KERAS_STYLES: frozenset[str] = frozenset(STYLE_NAMES) - {"raw"}

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("style", "arch", "data", "train", "hardware", "backend", "cell", "sweep")


@dataclass
class StyleConfig:
    name: str = "functional"


@dataclass
class DataConfig:
    dataset: str = "mnist"  # mnist | fashion_mnist | custom (the user's, data.loader)
    source: str = "auto"  # auto | tfds | idx | embedded | loader
    loader: str | None = None  # MODULE:FUNCTION returning ((x_train, y_train), (x_test, y_test))
    idx_dir: str | None = None  # folder of the four IDX files (else $BENCH_MNIST_DIR)
    data_dir: str | None = None  # TFDS data_dir (else TFDS's default)
    download: bool = False  # let the tfds source download (needs network)
    max_train_samples: int | None = None  # keep the first N training samples
    max_test_samples: int | None = None


@dataclass
class TrainConfig:
    batch_size: int = 128
    warmup_steps: int = 10  # steps after the first, run but not timed
    timed_steps: int = 50  # steps timed one by one -> step_ms_median / iqr / p95
    block_clock_steps: int = 50  # steps timed as one interval, no per-step callback -> step_ms_block; 0 = off
    epochs: int = 1  # full passes over the training set after the timed steps -> epoch_s
    optimizer: str = "adam"  # adam | sgd
    learning_rate: float = 1e-3
    seed: int = 0  # seeds weights (Python random, as Keras does) and the data order
    steps_per_execution: int = 1  # Keras compile(steps_per_execution); raw loops inside its tf.function
    run_eagerly: bool = False  # no tf.function: Python runs every step
    loop: str = "fit"  # fit: Keras styles in compile+fit | custom: every style in raw's GradientTape loop
    pipeline: str = "auto"  # auto: tf.data on TensorFlow, numpy elsewhere | tfdata | numpy (any backend)
    vary_batch: bool = (
        False  # keep each pass's last partial batch: a new input shape once per pass (retraces)
    )
    eval_batch_size: int = 1000
    latency_repeats: int = 5  # at least this many timed calls per latency metric; 0: no latency phase
    latency_budget_ms: float = 100.0  # and more calls until this long was spent on one (0: just the repeats)
    save_load: bool = True  # time saving and loading the trained model -> save_ms, load_ms, saved_bytes
    inject_delay_ms: float = 0.0  # busy time inside every training step: a fake slowdown to test the gate
    inject_into: str | None = None  # only this style gets the injected delay (None: every style)
    anchor_steps: int = 0  # the fixed machine-speed anchor (bench/runtime/anchor.py) after the trial; 0 = off
    profile: bool = False  # the step breakdown under the backend's profiler; first execution: TF (bench/measure/profile.py)
    profile_steps: int = 30  # steps in each of its windows (unprofiled, then profiled)


@dataclass
class HardwareConfig:
    device: str = "cpu"  # cpu | gpu (gpu with none visible -> status=skipped)
    # compile the step: XLA on tensorflow and jax, torch.compile on torch; the default is what
    # Keras's jit_compile="auto" does for the backend on the device (conf/backend/, docs/gpu.md)
    xla: bool = False
    precision: str = "float32"  # float32 | mixed_float16 | mixed_bfloat16
    threads: int = 0  # the framework's intra-op threads (tensorflow, torch); 0 = all cores
    # TensorFloat-32 for float32 matmuls and convolutions on a GPU that has it: off by default on
    # every backend (set and read back, bench/runtime/), so that all compute the same arithmetic
    tf32: bool = False


@dataclass
class BlockConfig:
    """The block design: all `styles` of one cell built and timed in one process.

    Empty `styles` is the trial design (one process per trial). In a block the
    build order is rotated by the repeat and the steady steps are timed in
    `rounds` alternating rounds (order rotated each round), so that machine
    drift falls on every style alike and each block gives paired ratios. A
    style listed twice is timed twice (its second copy is variant 2): an A/A check.
    """

    styles: list[str] = field(default_factory=list)
    rounds: int = 10  # the timed steps of each style are split into this many alternating rounds


@dataclass
class ResultsConfig:
    dir: str = "results"  # one folder per sweep below it


@dataclass
class RunConfig:
    """Everything one trial needs, typed; `arch` is the architecture's own spec."""

    style: str
    arch: ArchSpec
    backend: str = "tensorflow"  # the Keras 3 backend (bench/backends.py); set before Keras is imported
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    block: BlockConfig = field(default_factory=BlockConfig)
    repeat: int = 1  # swept for repeats; part of the trial's identity
    variant: int = 1  # which copy of `style` in a block (2: the A/A twin); set by the block, not by users
    sweep_id: str = "adhoc"  # names the results folder
    # process: a fresh Python per trial | fork: a child of a server that imported the framework
    # once (bench/run/forkserver.py) | inline: in this process
    isolation: str = "process"
    trial_timeout_s: int = 3600  # a process-isolated trial running longer is killed -> error row
    results: ResultsConfig = field(default_factory=ResultsConfig)
    # Set by the interleaving sweeper; not part of a trial's identity.
    sweep_order: int = -1  # position of this trial in the sweep's run order
    sweep_shuffle_seed: int = -1  # the seed that shuffled the order inside each repeat


@dataclass
class Schema:
    """The root schema Hydra validates overrides against."""

    style: StyleConfig = field(default_factory=StyleConfig)
    arch: Any = None
    backend: str = "tensorflow"
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    block: BlockConfig = field(default_factory=BlockConfig)
    repeat: int = 1
    sweep_id: str | None = None  # default: the date and time the run or sweep started
    isolation: str = "process"
    trial_timeout_s: int = 3600
    results: ResultsConfig = field(default_factory=ResultsConfig)
    sweep_order: int = -1
    sweep_shuffle_seed: int = -1


def xla_auto(backend: str, device: str) -> bool:
    """`hardware.xla`'s default: what Keras's `jit_compile="auto"` compiles to for `backend`
    on `device`, as each backend's runtime module says (conf/backend/ interpolates it)."""
    from bench import runtime  # not at the top: bench.runtime imports this module

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    return bool(runtime.for_backend(backend).xla_auto(device))


# Registered at import, so that every process that resolves a config (a launcher's job too) has it.
OmegaConf.register_new_resolver("keras_xla_auto", xla_auto, replace=True)


def register() -> None:
    """Put the schemas in Hydra's ConfigStore (safe to call more than once)."""
    store = ConfigStore.instance()
    store.store(name="schema", node=Schema)
    for name, spec_type in ARCH_SPECS.items():
        store.store(group="arch", name=f"{name}_schema", node=editable_schema(spec_type))


def editable_schema(spec_type: type) -> type:
    """A non-frozen twin of a frozen spec dataclass: OmegaConf makes frozen nodes read-only,
    which would refuse YAML values and overrides; the twin keeps names, types and defaults."""
    hints = typing.get_type_hints(spec_type)
    fields = [(f.name, hints[f.name], field(default=f.default)) for f in dataclasses.fields(spec_type)]
    return dataclasses.make_dataclass(f"{spec_type.__name__}Schema", fields)


def group_choices(group: str) -> list[str]:
    """The option names of a config group, from the YAML files in conf/."""
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


def arch_spec(node: DictConfig) -> ArchSpec:
    """The frozen spec of the composed `arch` node (lists become tuples)."""
    fields = OmegaConf.to_container(node, resolve=True)
    assert isinstance(fields, dict)
    spec_type = ARCH_SPECS[str(fields["name"])]
    return spec_type(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def to_run_config(cfg: DictConfig) -> RunConfig:
    """Convert the composed config once, at the door, and check the enumerated values."""
    config = RunConfig(
        style=cfg.style.name,
        arch=arch_spec(cfg.arch),
        backend=cfg.backend,
        data=OmegaConf.to_object(cfg.data),  # type: ignore[arg-type]
        train=OmegaConf.to_object(cfg.train),  # type: ignore[arg-type]
        hardware=OmegaConf.to_object(cfg.hardware),  # type: ignore[arg-type]
        block=OmegaConf.to_object(cfg.block),  # type: ignore[arg-type]
        repeat=cfg.repeat,
        sweep_id=str(cfg.sweep_id) if cfg.sweep_id is not None else default_sweep_id(),
        isolation=cfg.isolation,
        trial_timeout_s=cfg.trial_timeout_s,
        results=OmegaConf.to_object(cfg.results),  # type: ignore[arg-type]
        sweep_order=cfg.sweep_order,
        sweep_shuffle_seed=cfg.sweep_shuffle_seed,
    )
    check_choices(config)
    return config


def default_sweep_id() -> str:
    """Date and time, to the second: the folder name of a sweep nobody named."""
    return time.strftime("%Y-%m-%d_%H-%M-%S")


def from_dict(fields: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from `dataclasses.asdict` output (the worker's JSON)."""
    fields = dict(fields)
    arch = dict(fields.pop("arch"))
    spec_type = ARCH_SPECS[arch["name"]]
    return RunConfig(
        arch=spec_type(**{k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()}),
        data=DataConfig(**fields.pop("data")),
        train=TrainConfig(**fields.pop("train")),
        hardware=HardwareConfig(**fields.pop("hardware")),
        block=BlockConfig(**fields.pop("block")),
        results=ResultsConfig(**fields.pop("results")),
        **fields,
    )


def members(config: RunConfig) -> list[RunConfig]:
    """The trials one job runs: the config itself, or one per style of its block (in
    block.styles order; a style listed again is variant 2, 3...: an A/A twin)."""
    if not config.block.styles:
        return [config]
    seen: dict[str, int] = {}
    out = []
    for style in config.block.styles:
        seen[style] = seen.get(style, 0) + 1
        out.append(dataclasses.replace(config, style=style, variant=seen[style]))
    return out


CHOICES = {
    "backend": BACKENDS,
    "train.pipeline": ("auto", "tfdata", "numpy"),
    "hardware.device": ("cpu", "gpu"),
    "hardware.precision": ("float32", "mixed_float16", "mixed_bfloat16"),
    "train.optimizer": ("adam", "sgd"),
    "train.loop": ("fit", "custom"),
    "isolation": ("process", "fork", "inline"),
}


def check_choices(config: RunConfig) -> None:
    """Raise ValueError naming the choices when an enumerated setting is unknown."""
    for key, allowed in CHOICES.items():
        value = operator.attrgetter(key)(config)
        if value not in allowed:
            raise ValueError(f"unknown {key} {value!r}; choose one of: {', '.join(allowed)}")
    positive = {"train.batch_size": config.train.batch_size, "train.timed_steps": config.train.timed_steps}
    positive["train.steps_per_execution"] = config.train.steps_per_execution
    positive["block.rounds"] = config.block.rounds
    if config.train.profile:
        positive["train.profile_steps"] = config.train.profile_steps
    for key, number in positive.items():
        if number < 1:
            raise ValueError(f"{key} must be at least 1, got {number}")
    not_negative = {"train.warmup_steps": config.train.warmup_steps, "train.epochs": config.train.epochs}
    not_negative |= {"train.inject_delay_ms": config.train.inject_delay_ms, "repeat": config.repeat}
    not_negative |= {
        "train.anchor_steps": config.train.anchor_steps,
        "train.block_clock_steps": config.train.block_clock_steps,
        "train.latency_budget_ms": config.train.latency_budget_ms,
        "train.latency_repeats": config.train.latency_repeats,
        "hardware.threads": config.hardware.threads,
    }
    for key, number in not_negative.items():
        if number < 0:
            raise ValueError(f"{key} must not be negative, got {number}")
    if config.train.learning_rate <= 0:
        raise ValueError(f"train.learning_rate must be positive, got {config.train.learning_rate}")
    for style in [*config.block.styles, *filter(None, [config.train.inject_into])]:
        if style not in STYLE_NAMES:
            raise ValueError(
                f"unknown style {style!r} in block.styles or train.inject_into; choose one of: {', '.join(STYLE_NAMES)}"
            )
    check_backend(config)
    if config.block.styles and config.block.rounds > config.train.timed_steps:
        raise ValueError(
            f"block.rounds ({config.block.rounds}) exceeds train.timed_steps ({config.train.timed_steps}); "
            "give every round at least one timed step"
        )
    if isinstance(config.arch, CustomSpec):
        check_model_source(config.arch.model)
    if config.data.loader:
        check_model_source(config.data.loader, "data.loader")
    elif config.data.dataset == "custom" or config.data.source == "loader":
        raise ValueError(NO_LOADER)


NO_LOADER = "data=custom reads your own data: name it, data=MODULE:FUNCTION (data.loader)"


# What names a user's module, per setting: an example, and what follows a missing module's error.
SOURCE_HINTS = {
    "arch.model": ("my_models:encoder", "; `bench new-arch NAME` writes a starter"),
    "data.loader": ("my_data:load_data", ""),
}
WANTED = {"arch.model": " returning a model", "data.loader": ""}  # what its function should be


def check_model_source(source: str, key: str = "arch.model") -> None:
    """Raise ValueError naming the fix when `MODULE:FUNCTION` (the user's model, or with `key`
    data.loader their data) names no module that can be found (on the current directory or
    PYTHONPATH), without importing it."""
    example, starter = SOURCE_HINTS[key]
    module, _, function = source.partition(":")
    if not module or not function:
        raise ValueError(f"{key}={source!r}: write MODULE:FUNCTION, e.g. {example}")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ValueError(
            f"{key}={source}: no module {module!r} on the current directory or PYTHONPATH{starter}"
        )


def function_at(source: str, key: str = "arch.model") -> Any:
    """The function `MODULE:FUNCTION` names, its module imported (checked first as
    `check_model_source` checks it); raises ValueError naming the fix."""
    check_model_source(source, key)
    module_name, _, attribute = source.partition(":")
    function = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(function):
        raise ValueError(f"{key}={source}: {module_name} has no function {attribute!r}{WANTED[key]}")
    return function


def check_backend(config: RunConfig) -> None:
    """Settings a backend cannot honour, refused before any trial runs."""
    from bench import runtime  # not at the top: bench.runtime imports this module

    backend, facts = config.backend, runtime.for_backend(config.backend)
    if facts.THREADS_REFUSED and config.hardware.threads > 0:
        raise ValueError(
            f"hardware.threads cannot be set on the {backend} backend ({facts.THREADS_REFUSED}); "
            "use hardware.threads=0 or pin the process with taskset"
        )
    if not facts.TENSORFLOW_FREE:
        return
    if config.train.pipeline == "tfdata":
        raise ValueError(
            f"train.pipeline=tfdata runs on the tensorflow backend only (backend={backend} trials "
            "stay TensorFlow-free); use train.pipeline=numpy or auto"
        )
    if config.data.source == "tfds":
        raise ValueError(
            f"data.source=tfds needs TensorFlow, which a backend={backend} trial never imports; "
            "use data.source=idx, embedded or auto"
        )
