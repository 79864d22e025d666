"""A Hydra sweeper that runs a sweep's trials interleaved, with a progress bar.

Like Hydra's basic sweeper it expands the cartesian product of the sweep
overrides, then reorders it: every configuration of repeat 1, then every
configuration of repeat 2, ..., shuffled inside each repeat with a recorded
seed, so that machine drift does not line up with one style. Each job gets
`sweep_order`, `sweep_shuffle_seed`, one shared `sweep_id` and the results folder
as an absolute path (a job on another node or in another working directory writes
to the same place). Before launching, the driver plans the sweep and keeps only
the jobs with a trial still to record (bench/run/driver.py). Jobs go to whichever
launcher is configured (basic, submitit local or SLURM, Ray) in batches of
`max_batch_size`; a batch the launcher raised for becomes error rows for the trials
it left unrecorded, and the sweep goes on. The summary is read from the folder.
"""

# no `from __future__ import annotations`: Hydra imports plugins outside sys.modules,
# where dataclasses cannot resolve string annotations.

import dataclasses
import logging
import random
import re
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
    retry_errors: bool = False  # `bench run --retry-errors`: run trials with an error row again
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


def quoted(value: str) -> str:
    """A value as a Hydra override string, quoted unless it is plainly safe."""
    if re.fullmatch(r"[\w./:+@-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def launches_here(launcher: Any) -> bool:
    """Whether the configured launcher runs jobs on this host (basic, submitit local, a local Ray)."""
    target = str(launcher.get("_target_", ""))
    if target.endswith("SlurmLauncher"):
        return False
    if "ray" in target.lower():
        address = str(launcher.get("ray", {}).get("init", {}).get("address") or "local")
        return address == "local" or address.split(":")[0] in ("127.0.0.1", "localhost")
    return True


class InterleavedSweeper(BasicSweeper):
    def __init__(
        self,
        max_batch_size: int | None,
        shuffle_seed: int = 0,
        retry_errors: bool = False,
        params: dict | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.shuffle_seed = shuffle_seed
        self.retry_errors = retry_errors

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

    def planned(self, arguments: list[str]) -> list[Any]:
        """Every job with the RunConfig its overrides compose to (the composition a job does),
        the results folder made absolute against the driver's working directory, so that a
        job on another node or in another working directory writes to the same place."""
        from bench.config import ResultsConfig, to_run_config
        from bench.run.driver import Job

        loader = self.hydra_context.config_loader
        planned = []
        for order, job in enumerate(self.jobs(arguments)):
            config = to_run_config(loader.load_sweep_config(self.config, job))
            folder = Path(config.results.dir).expanduser()
            if not folder.is_absolute():
                absolute = str(folder.resolve())
                job = [item for item in job if not item.startswith("results.dir=")]
                job.append(f"results.dir={quoted(absolute)}")
                config = dataclasses.replace(config, results=ResultsConfig(dir=absolute))
            planned.append(Job(order=order, overrides=job, config=config))
        return planned

    def sweep(self, arguments: list[str]) -> Any:
        from bench import results
        from bench.present.summary import trial_line
        from bench.run import driver

        planned = self.planned(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        launcher = self.config.hydra.launcher
        pending, counts = driver.prepare(
            planned, self.shuffle_seed, self.retry_errors, probe_here=launches_here(launcher),
            jobs_in_this_process=str(launcher.get("_target_", "")).endswith("BasicLauncher"),
        )  # fmt: skip
        folder = results.sweep_dir(planned[0].config)
        retried = f", {counts['retried']} error rows moved aside to run again" if counts["retried"] else ""
        print(
            f"sweep {planned[0].config.sweep_id}: {counts['planned']} trials planned, "
            f"{counts['recorded']} recorded already, {counts['to_run']} to run{retried} ({folder})",
            flush=True,
        )
        size = self.max_batch_size or len(pending) or 1
        returns: list[Sequence[JobReturn]] = []
        with tqdm(total=counts["to_run"], desc="trials", unit="trial", dynamic_ncols=True) as progress:
            for start in range(0, len(pending), size):
                batch = pending[start : start + size]
                overrides = [job.overrides for job in batch]
                self.validate_batch_is_legal(overrides)
                to_record = sum(len(job.missing()) for job in batch)
                try:
                    launched = self.launcher.launch(overrides, initial_job_idx=batch[0].order)
                    rows = [row for result in launched for row in self._rows(result)]
                    returns.append(launched)
                except Exception as failure:  # a job died or the launcher failed: record, go on
                    timeout = max(job.config.trial_timeout_s for job in batch) + 60
                    lost = driver.settle(batch, failure, timeout)
                    rows = driver.rows_of(batch)
                    log.warning(
                        "a batch ended in %s; %d trials recorded as lost", type(failure).__name__, len(lost)
                    )
                for row in rows:
                    progress.write(trial_line(row))
                progress.update(to_record)
        print("\n" + driver.summary(folder), flush=True)
        return returns

    @staticmethod
    def _rows(result: JobReturn) -> list[dict]:
        """A job's rows; a job that failed outside its trial raises here (recorded by settle)."""
        return list(result.return_value or [])


__all__ = ["InterleavedSweeper", "InterleavedSweeperConf", "Sweeper"]
