"""Typed configuration: dataclass schemas in Hydra's ConfigStore, values in conf/ YAML.

`register()` puts the schemas in the ConfigStore; the CLI converts the
composed DictConfig into a `RunConfig` once, with `to_run_config`, and nothing
past the door sees a DictConfig.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from bench.archs import ARCH_SPECS, ArchSpec

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("style", "arch", "data", "train", "hardware")


@dataclass
class StyleConfig:
    name: str = "functional"


@dataclass
class DataConfig:
    dataset: str = "mnist"  # mnist | fashion_mnist
    source: str = "auto"  # auto | tfds | idx | embedded
    idx_dir: str | None = None  # folder of the four IDX files (else $BENCH_MNIST_DIR)
    data_dir: str | None = None  # TFDS data_dir (else TFDS's default)
    download: bool = False  # let the tfds source download (needs network)
    max_train_samples: int | None = None  # keep the first N training samples
    max_test_samples: int | None = None


@dataclass
class TrainConfig:
    batch_size: int = 128
    steps: int = 300  # optimizer steps in the trial
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    seed: int = 0  # seeds weights (Python random, as Keras does) and the data order
    eval_batch_size: int = 1000


@dataclass
class HardwareConfig:
    device: str = "cpu"


@dataclass
class RunConfig:
    """Everything one trial needs, typed; `arch` is the architecture's own spec."""

    style: str
    arch: ArchSpec
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)


@dataclass
class Schema:
    """The root schema Hydra validates overrides against."""

    style: StyleConfig = field(default_factory=StyleConfig)
    arch: Any = None
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)


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
    """Convert the composed config once, at the door."""
    return RunConfig(
        style=cfg.style.name,
        arch=arch_spec(cfg.arch),
        data=OmegaConf.to_object(cfg.data),  # type: ignore[arg-type]
        train=OmegaConf.to_object(cfg.train),  # type: ignore[arg-type]
        hardware=OmegaConf.to_object(cfg.hardware),  # type: ignore[arg-type]
    )
