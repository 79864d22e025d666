"""A Hydra sweeper that runs a sweep's trials interleaved, with a progress bar.

Like Hydra's basic sweeper it expands the cartesian product of the sweep
overrides, then reorders it: every configuration of repeat 1, then every
configuration of repeat 2, ..., shuffled inside each repeat with a recorded
seed, so that machine drift does not line up with one style. Each job gets
`sweep_order`, `sweep_shuffle_seed` and one shared `sweep_id`. Jobs go to
whichever launcher is configured (basic here; submitit or ray elsewhere) in
batches of `max_batch_size`.
"""

# no `from __future__ import annotations`: Hydra imports plugins outside sys.modules,
# where dataclasses cannot resolve string annotations.

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf
from tqdm import tqdm

log = logging.getLogger(__name__)


@dataclass
class InterleavedSweeperConf:
    _target_: str = "hydra_plugins.stylebench_sweeper.interleaved_sweeper.InterleavedSweeper"
    # 1 suits the basic launcher (the bar moves per trial); raise it for cluster launchers.
    max_batch_size: int | None = 1
    shuffle_seed: int = 0
    params: dict[str, str] | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="interleaved", node=InterleavedSweeperConf)


def repeat_of(job: Sequence[str]) -> str:
    return next((item.split("=", 1)[1] for item in job if item.startswith("repeat=")), "1")


def interleave(jobs: list[list[str]], seed: int) -> list[list[str]]:
    """All jobs of the first repeat value, then the next, each group shuffled with `seed`."""
    repeats = list(dict.fromkeys(repeat_of(job) for job in jobs))
    rng = random.Random(seed)
    ordered: list[list[str]] = []
    for value in repeats:
        group = [job for job in jobs if repeat_of(job) == value]
        rng.shuffle(group)
        ordered += group
    return ordered


class InterleavedSweeper(BasicSweeper):
    def __init__(self, max_batch_size: int | None, shuffle_seed: int = 0, params: dict | None = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.shuffle_seed = shuffle_seed

    def jobs(self, arguments: list[str]) -> list[list[str]]:
        """The expanded, interleaved job list, each with its order, seed and sweep id."""
        from bench.config import default_sweep_id

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        expanded = self.split_arguments(overrides, None)[0]
        sweep_id = self.config.get("sweep_id") or default_sweep_id()
        ordered = interleave(expanded, self.shuffle_seed)
        extra = [f"sweep_shuffle_seed={self.shuffle_seed}"]
        if not any(item.startswith("sweep_id=") for item in ordered[0]):
            extra.append(f"sweep_id={sweep_id}")
        return [job + [f"sweep_order={i}", *extra] for i, job in enumerate(ordered)]

    def sweep(self, arguments: list[str]) -> Any:
        from bench.summary import trial_line

        jobs = self.jobs(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        size = self.max_batch_size or len(jobs)
        returns: list[Sequence[JobReturn]] = []
        per_job = max(1, len(self.config.get("block", {}).get("styles") or []))  # a block job runs several
        with tqdm(total=len(jobs) * per_job, desc="trials", unit="trial", dynamic_ncols=True) as progress:
            for start in range(0, len(jobs), size):
                batch = jobs[start : start + size]
                self.validate_batch_is_legal(batch)
                results = self.launcher.launch(batch, initial_job_idx=start)
                for result in results:
                    rows = result.return_value  # re-raises a job that failed outside the trial
                    for row in rows or []:
                        progress.write(trial_line(row))
                    progress.update(len(rows or []) or per_job)
                returns.append(results)
        return returns


__all__ = ["InterleavedSweeper", "InterleavedSweeperConf", "Sweeper"]
