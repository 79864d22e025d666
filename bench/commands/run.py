"""`bench run`: a Hydra app (overrides, `-m` multirun). Before Hydra starts, every value of
every swept key is composed and checked against conf/, so that a typo ends in one line naming
the valid choices instead of a traceback. The only module that sees a DictConfig."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import RunMode
from omegaconf import DictConfig

from bench import archs
from bench.commands import UsageError, one_line
from bench.config import CONF_DIR, GROUPS, group_choices, register, to_run_config


def _values(override: Override) -> list[str]:
    if override.is_sweep_override():
        return [str(value) for value in override.sweep_iterator()]
    return [override.get_value_element_as_str()]


def _parse(overrides: Sequence[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception as error:
        raise UsageError(f"bad override: {one_line(error)}") from error


def _compose(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=overrides, return_hydra_config=with_hydra)
    except Exception as error:
        raise UsageError(f"bad override: {one_line(error)}") from error


def _check_one(overrides: list[str]) -> None:
    try:
        to_run_config(_compose(overrides))
    except ValueError as error:
        raise UsageError(str(error)) from error


def _swept(parsed: list[Override]) -> dict[str, list[str]]:
    """key -> every value it takes (one value for a plain override), group choices checked."""
    values: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if key.startswith("hydra"):
            continue
        values[key] = _values(override)
        if key in GROUPS:
            choices = group_choices(key)
            unknown = [value for value in values[key] if value not in choices]
            if unknown:
                yours = "; or your own model as arch=MODULE:FUNCTION" if key == "arch" else ""
                raise UsageError(f"unknown {key} {unknown[0]!r}; choose one of: {', '.join(choices)}{yours}")
    return values


def check_overrides(overrides: Sequence[str]) -> None:
    """Raise UsageError on any value of any swept key (command line or the sweep preset's
    params) that Hydra or the config checks would refuse: before any trial runs."""
    parsed = _parse([o for o in overrides if not o.startswith("-")])
    command_line = _swept(parsed)
    first = [f"{key}={values[0]}" for key, values in command_line.items()]
    first += [o.input_line for o in parsed if o.get_key_element().startswith("hydra")]
    composed = _compose(first, with_hydra=True)
    preset = {str(k): str(v) for k, v in (composed.hydra.sweeper.get("params") or {}).items()}
    from_preset = _swept(_parse([f"{k}={v}" for k, v in preset.items() if k not in command_line]))
    swept = {**from_preset, **command_line}
    base = [f"{key}={values[0]}" for key, values in swept.items()]
    _check_one(base)
    for index, (key, values) in enumerate(swept.items()):
        for value in values[1:]:
            _check_one([*base[:index], f"{key}={value}", *base[index + 1 :]])


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _run_task(cfg: DictConfig) -> dict[str, Any]:
    """One Hydra job = one trial (or one block of trials), recorded in results/<sweep_id>/."""
    from bench.data.idx import DataError
    from bench.results import ResultsError
    from bench.run.sweep import run_job

    single = HydraConfig.get().mode == RunMode.RUN
    try:
        config = to_run_config(cfg)
        if single and HydraConfig.get().sweeper.get("retry_errors"):
            from bench.run.driver import Job, retry_errors

            retry_errors([Job(order=0, overrides=[], config=config)])
        rows = run_job(config)
    except (DataError, ResultsError, ValueError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    failed = [row for row in rows if row.get("status") == "error"]
    for row in failed:
        where = f"{row.get('style', config.style)}/{archs.label(config.arch)} repeat {config.repeat}"
        print(f"bench: trial {where} failed: {row['error']}", file=sys.stderr, flush=True)
    if single:  # a sweep's summary is the driver's (the sweeper); a single run prints its own
        from bench.results import sweep_dir
        from bench.run.driver import summary

        print(f"\n{summary(sweep_dir(config))}", flush=True)
        if failed:  # a sweep goes on; a single run says it failed
            raise SystemExit(1)
    return rows


VERBOSE = ("hydra/hydra_logging=default", "hydra/job_logging=default")


FLAGS = {"-v": VERBOSE, "--verbose": VERBOSE, "--retry-errors": ("hydra.sweeper.retry_errors=true",)}


SETTLE = {"--settle-budget": 0.0, "--settle-step": 2.0, "--settle-cap": 20.0}


def _settle_options(args: Sequence[str]) -> tuple[list[str], dict[str, float]]:
    """Take --settle-budget/--settle-step/--settle-cap (as FLAG=VALUE) out of the overrides."""
    options, rest = dict(SETTLE), []
    for arg in args:
        flag, _, value = arg.partition("=")
        if flag in SETTLE:
            try:
                options[flag] = float(value)
            except ValueError:
                raise UsageError(f"{arg!r}: give {flag}=NUMBER, e.g. --settle-budget=600") from None
        else:
            rest.append(arg)
    return rest, options


def _hydra_run(args: Sequence[str]) -> None:
    saved_argv = sys.argv
    sys.argv = ["bench run", *args]
    try:
        _run_task()
    finally:
        sys.argv = saved_argv


YOURS = {"arch": ("arch.model", "model"), "data": ("data.loader", "dataset")}


def own_model(args: Sequence[str]) -> list[str]:
    """`arch=MODULE:FUNCTION` (the user's model) is `arch=custom arch.model=MODULE:FUNCTION`,
    and `data=MODULE:FUNCTION` (their data) `data=custom data.loader=MODULE:FUNCTION`."""
    rewritten = []
    for arg in args:
        key, _, value = arg.partition("=")
        if key not in YOURS or ":" not in value:
            rewritten.append(arg)
        elif "," in value:
            raise UsageError(
                f"{arg!r}: one {YOURS[key][1]} per run; sweep the shipped ones in a run of their own"
            )
        else:
            rewritten += [f"{key}=custom", f"{YOURS[key][0]}='{value}'"]
    return rewritten


def run_command(args: Sequence[str]) -> int:
    import time

    register()
    started = time.monotonic()
    args, settling = _settle_options(own_model(args))
    extra = [override for flag in dict.fromkeys(a for a in args if a in FLAGS) for override in FLAGS[flag]]
    args = [a for a in args if a not in FLAGS] + extra
    budget = settling["--settle-budget"]
    named = [a for a in args if a.startswith("sweep_id=")]
    if budget > 0 and not named:
        raise UsageError("--settle-budget needs a named sweep (sweep_id=NAME) to add blocks to")
    check_overrides(args)
    _hydra_run(args)
    if budget > 0:
        from bench.run import settle

        plain = [a for a in args if not a.startswith(("-", "hydra")) and "," not in a and "range(" not in a]
        composed = _compose(plain)
        folder = Path(str(composed.results.dir)) / named[-1].split("=", 1)[1]
        settle.settle(
            folder, lambda more: _hydra_run([*args, *more]), budget, int(settling["--settle-step"]),
            int(settling["--settle-cap"]), started,
        )  # fmt: skip
    return 0
