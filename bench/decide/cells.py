"""The one definition of a benchmark cell, and the words that label it.

A cell is everything that makes two trials measure the same thing: every
configuration column (generated from the config dataclasses, see
`results.CONFIG_COLUMNS`) except the ones that only say which repeat it was
and where or in which order it ran. Results, summary, report and compare all
group by `key`; nobody lists cell columns by hand.

A cell's `setting` is the part of its configuration other than style and
architecture; labels name only the setting columns that vary within the rows
at hand, so a sweep over XLA says "XLA" / "no XLA" and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from bench.results import CONFIG_COLUMNS

# Which repeat, which sweep, when and how long it may run: not what was measured.
REPLICATE = ("repeat", "sweep_id", "sweep_order", "sweep_shuffle_seed", "trial_timeout_s", "config_json")
# Stand-ins for a code change: `bench compare` matches baseline and current across them.
TREATMENT = ("train_inject_delay_ms", "train_inject_into")
COLUMNS: tuple[str, ...] = tuple(c for c in CONFIG_COLUMNS if c not in REPLICATE)
WHO = ("style", "variant")  # the compared thing inside a cell group
WHERE = ("arch", "arch_config")
SETTING: tuple[str, ...] = tuple(c for c in COLUMNS if c not in (*WHO, *WHERE))


def _text(frame: pd.DataFrame, columns: Iterable[str]) -> pd.Series:
    columns = list(columns)
    if frame.empty:
        return pd.Series([], dtype=str, index=frame.index)
    return frame[columns].astype(str).agg("|".join, axis=1)


def key(frame: pd.DataFrame, ignore: Iterable[str] = ()) -> pd.Series:
    """One string per row naming its cell; rows with equal keys measured the same thing."""
    skip = set(ignore)
    return _text(frame, [c for c in COLUMNS if c not in skip])


def group_key(frame: pd.DataFrame, ignore: Iterable[str] = ()) -> pd.Series:
    """The cell without its style: the rows whose styles are compared with each other."""
    skip = set(ignore) | set(WHO)
    return _text(frame, [c for c in COLUMNS if c not in skip])


def varying(frame: pd.DataFrame, ignore: Iterable[str] = ()) -> list[str]:
    """The setting columns that take more than one value in these rows."""
    skip = set(ignore)
    return [c for c in SETTING if c not in skip and frame[c].astype(str).nunique() > 1]


def _word(column: str, value: object) -> str:
    """One setting value in words: XLA / no XLA, eager, 'batch 64', 'float32'..."""
    if column == "hardware_xla":
        return "XLA" if str(value) == "True" else "no XLA"
    if column == "hardware_tf32":
        return "TF32" if str(value) == "True" else "full float32"
    if column == "train_loop":
        return f"{value} loop"
    if column == "train_run_eagerly":
        return "eager" if str(value) == "True" else "graph"
    if column in ("backend", "hardware_device", "hardware_precision", "data_dataset", "design"):
        return str(value)
    if column == "block_styles":
        styles = json.loads(str(value)) if str(value).startswith("[") else []
        return f"block of {'+'.join(styles)}" if styles else "no block"
    short = column.split("_", 1)[1] if "_" in column else column
    return f"{short.replace('_', ' ')} {value}"


def arch_words(frame: pd.DataFrame) -> pd.Series:
    """Each row's architecture configuration in words, naming only the fields that vary among
    the rows of its architecture ('hidden units 1024' in a sweep over mlp widths; '' else)."""
    if frame.empty or "arch_config" not in frame:
        return pd.Series("", index=frame.index, dtype=str)
    parsed = frame["arch_config"].map(lambda text: json.loads(text) if text else {})
    words = pd.Series("", index=frame.index, dtype=str)
    for _, configs in parsed.groupby(frame["arch"]):
        fields = sorted({k for config in configs for k in config} - {"name"})
        varied = [k for k in fields if len({json.dumps(c.get(k)) for c in configs}) > 1]
        if varied:
            words[configs.index] = configs.map(
                lambda c, fields=tuple(varied): ", ".join(f"{k.replace('_', ' ')} {c.get(k)}" for k in fields)
            )
    return words


def model_labels(frame: pd.DataFrame) -> pd.Series:
    """Each row's model: 'mlp', or 'mlp, hidden units 1024' when mlp's width varies in the rows."""
    words = arch_words(frame)
    return frame["arch"].where(words == "", frame["arch"] + ", " + words)


def setting_labels(frame: pd.DataFrame, ignore: Iterable[str] = (), model_words: bool = True) -> pd.Series:
    """Each row's setting in words, naming only what varies across `frame` ('' when nothing
    does): the architecture's own varying fields first (unless not `model_words`: the caller
    names the model), then the setting columns."""
    columns = varying(frame, ignore)
    if frame.empty:
        return pd.Series([], dtype=str, index=frame.index)
    model = arch_words(frame) if model_words else pd.Series("", index=frame.index, dtype=str)
    if not columns:
        return model
    settings = frame[columns].apply(lambda row: ", ".join(_word(c, row[c]) for c in columns), axis=1)
    return (model + ", " + settings).where(model != "", settings)


# The settings a reader needs to know even when they do not vary (the report shows them once).
DESCRIBED = (
    "design", "backend", "data_dataset", "train_batch_size", "train_optimizer", "train_learning_rate",
    "train_warmup_steps", "train_timed_steps", "block_rounds", "train_epochs", "train_steps_per_execution",
    "train_run_eagerly", "train_loop", "train_pipeline", "hardware_device", "hardware_xla", "hardware_precision", "hardware_threads",
    "train_inject_delay_ms", "isolation",
)  # fmt: skip


def held_fixed(frame: pd.DataFrame) -> dict[str, str]:
    """The described setting columns that are the same in every row, in words."""
    fixed = {}
    trial_only = (frame["design"] == "trial").all()
    for column in DESCRIBED:
        if column == "block_rounds" and trial_only:
            continue  # rounds mean nothing without blocks
        values = frame[column].dropna().astype(str).unique()
        if len(values) == 1:
            fixed[column] = _word(column, frame[column].dropna().iloc[0])
    return fixed


# What a time depends on besides the configuration. Rows from different hardware are not put
# in one ratio unless asked (--allow-mixed-hardware); hosts of one kind are one hardware, and
# the GPU counts only for rows that ran on it.
HARDWARE = ("cpu_model", "cpu_count", "gpu_name", "hardware_device")


class MixedHardware(ValueError):
    """Rows from more than one kind of hardware where one ratio would mix them."""


def hardware_kinds(frame: pd.DataFrame) -> list[str]:
    """Each distinct hardware among the rows, in words: 'AMD EPYC 9R14 × 2 cores' or '..., NVIDIA H200'."""
    words = [
        f"{row.cpu_model} × {row.cpu_count} cores"
        + (f", {row.gpu_name}" if row.hardware_device == "gpu" else "")
        for row in frame[list(HARDWARE)].astype(str).itertuples()
    ]
    return list(dict.fromkeys(words))


def check_hardware(frame: pd.DataFrame, allowed: bool, what: str = "these rows") -> str | None:
    """None on one kind of hardware; else raise MixedHardware naming the kinds and the flag,
    or, when `allowed`, return the warning that goes with the mixed numbers."""
    kinds = hardware_kinds(frame)
    if len(kinds) <= 1:
        return None
    mixed = f"{what} come from {len(kinds)} kinds of hardware ({'; '.join(kinds)})"
    if not allowed:
        raise MixedHardware(
            f"{mixed}: a ratio between them would measure the machines as well as the styles; "
            "report or compare one kind at a time, or pass --allow-mixed-hardware"
        )
    return (
        f"{mixed}, put in one ratio because --allow-mixed-hardware was given: differences may be the machine."
    )


def where(model: str, setting: str) -> str:
    """'mlp (hidden units 1024, XLA)' from a model label ('mlp' or 'mlp, hidden units 1024')
    and a cell's setting: where a sentence says a comparison was made."""
    arch, _, words = model.partition(", ")
    details = [w for w in (words, setting) if w]
    return f"{arch} ({', '.join(details)})" if details else arch


def style_label(style: str, variant: object) -> str:
    """'functional', or 'functional#2' for the second copy of a style in an A/A block."""
    return style if pd.isna(variant) or int(variant) <= 1 else f"{style}#{int(variant)}"


def with_labels(frame: pd.DataFrame, ignore: Iterable[str] = ()) -> pd.DataFrame:
    """`frame` plus `cell` (key), `group` (key without style), `setting` and `who` (style label)."""
    who = [style_label(s, v) for s, v in zip(frame["style"], frame["variant"], strict=True)]
    return frame.assign(
        cell=key(frame, ignore),
        group=group_key(frame, ignore),
        setting=setting_labels(frame, ignore),
        who=pd.Series(who, index=frame.index, dtype=str),
    )
