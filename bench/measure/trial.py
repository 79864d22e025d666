"""One configuration: build, train, time, evaluate -> one record (numbers, never text).

Phases, in order, each timed on its own (see docs/why.md "The phases of the first step"): runtime
settings applied, read back and the runtime started (bench/runtime/) ->
construct -> build -> (reference check, untimed) -> compile -> first execution
-> warm-up executions -> timed executions (per-step clock) -> block clock ->
full epochs -> machine-speed anchor (bench/runtime/anchor.py) -> evaluation -> forward
latencies -> save and load (the last three in bench/measure/trained.py).

The block design (`run_block`) runs the same phases for every style of a cell
in one process: a throw-away reference model first takes the process's
one-off costs, then each style is built and run to its first steps (build
order rotated by the repeat), then the timed steps of all styles alternate in
rounds (order rotated by the round), then each style's block clock and epochs,
one anchor for the block, and each style's evaluation, latency and save/load.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import asdict
from typing import Any

import numpy as np

from bench import archs, data, runtime, styles
from bench.config import DataConfig, RunConfig
from bench.config import members as config_members
from bench.measure import memory, profile, training
from bench.measure.trained import after_training
from bench.runtime import anchor
from bench.styles import trainer_common
from bench.timing import StepClock, elapsed_ms, step_summary


@functools.lru_cache(maxsize=4)
def _load_cached(fields: tuple[tuple[str, Any], ...]) -> data.Dataset:
    return data.load(**dict(fields))


def load_data(config: DataConfig, backend: str = "tensorflow") -> data.Dataset:
    """Load once per process for identical data settings (inline sweeps run many trials);
    a trial on another backend than TensorFlow never reaches for TFDS (which imports it)."""
    fields = {**asdict(config), "tfds_allowed": not runtime.for_backend(backend).TENSORFLOW_FREE}
    return _load_cached(tuple(sorted(fields.items())))


def start_runtime(config: RunConfig) -> dict[str, Any]:
    """Select the backend, apply and read back the settings, start the runtime: the record's
    `runtime_init_ms` and `threads`, `{"status": "skipped", ...}` without the backend or
    the device, or an error record when a setting did not take."""
    try:
        settings = runtime.configure(config.hardware, config.backend)
    except runtime.SettingsNotApplied as error:
        return {"status": "error", "error": str(error)}
    if "skipped" in settings:
        return {"status": "skipped", "reason": settings["skipped"]}
    return settings


def run_trial(config: RunConfig, peak_gflops: float | None = None) -> dict[str, Any]:
    """One record: status `ok`, `skipped`, `not_applicable` or `error` (settings not applied);
    other failures raise."""
    settings = start_runtime(config)
    if "status" in settings:
        return settings
    try:
        return {"status": "ok", **settings, **measure(config, peak_gflops)}
    except styles.NotExpressible as reason:
        return {"status": "not_applicable", "reason": str(reason)}


def _matches_reference(model: Any, spec: archs.ArchSpec) -> bool:
    reference = styles.build(styles.reference_style(spec), spec)
    same_count = model.count_params() == reference.count_params()
    return same_count and styles.weight_shapes(model) == styles.weight_shapes(reference)


def build_phases(config: RunConfig, record: dict[str, Any], check_reference: bool = True) -> Any:
    """Construct, build and compile, each timed; returns the trainer. Then, untimed and unless
    told not to (a throw-away build), whether the model matches the reference style's."""
    styles.prepare(config.arch)  # untimed, before the seed: reading a user's model
    runtime.seed(config.train.seed)
    build = memory.Phase(collect=True)  # before the clocks start: 220-310 ms
    build.start()
    with elapsed_ms(record, "construct_ms"):
        model = styles.construct(config.style, config.arch)
    with elapsed_ms(record, "build_ms"):
        styles.build_weights(model)
    params = int(model.count_params())
    trainer = training.trainer_for(config.style, model, config.arch, config.train, config.hardware)
    with elapsed_ms(record, "compile_ms"):
        trainer.compile()
    record["mem_build_mb"] = build.growth_mb()  # before the reference check builds its own model
    record["params"] = params
    if check_reference:
        record["matches_reference"] = _matches_reference(model, config.arch)
    record["jit_compile_resolved"] = training.jit_compile_resolved(trainer)
    return trainer


def training_phases(config: RunConfig, trainer: Any, dataset: data.Dataset, record: dict[str, Any]) -> None:
    """First execution, warm-up, timed executions, then full epochs."""
    train = config.train
    batches = training.pipeline_for(config, train_arrays(config, dataset))
    per_execution = train.steps_per_execution
    warmup_executions = -(-train.warmup_steps // per_execution)
    steady = memory.Phase()  # from the last warm-up execution: reading the counters falls in no timed step
    marks = first_step_marks(trainer, record, steady, max(warmup_executions - 1, 0))
    clock = StepClock(counter=trainer.traces, on_tick=marks)
    trainer.fit(batches, 1 + warmup_executions + train.timed_steps, clock)
    record["mem_steady_mb"] = steady.growth_mb()
    record.update(trace_columns(clock.counts[0], clock.counts[warmup_executions], clock.counts[-1]))
    gaps = clock.gaps_ms(per_execution)
    record["first_step_ms"] = float(gaps[0] * per_execution)
    record.update(step_summary(gaps[-train.timed_steps :], train.batch_size))
    record["time_to_first_step_ms"] = _time_to_first_step(record)
    block_clock(config, trainer, batches, record)
    _epochs(config, trainer, batches, len(dataset.x_train), record)
    profile_steps(config, trainer, batches, record)


def profile_steps(config: RunConfig, trainer: Any, batches: Any, record: dict[str, Any]) -> None:
    """The step breakdown under the backend's profiler and, where the backend's first
    execution can be split (TensorFlow), a second build's first execution (bench/measure/profile.py),
    when asked."""
    if config.train.profile:
        profile.profile_phase(trainer, batches, config.train.profile_steps, record, config.hardware.device)
        if runtime.for_backend(config.backend).SPLITS_FIRST_EXECUTION:
            rebuild = functools.partial(build_phases, config, {}, check_reference=False)
            profile.first_execution_phase(rebuild, batches, record)


def first_step_marks(
    trainer: Any, record: dict[str, Any], steady: memory.Phase | None = None, steady_from: int = 0
) -> Any:
    """A StepClock tick hook for a fit that starts with the first execution: after it, the time
    spent tracing the step (`trace_ms`), the ops its TensorFlow graph holds (`graph_ops`), and
    that execution's memory growth (`mem_first_step_mb`); given a `steady` phase, it also
    starts that phase at tick `steady_from`."""
    first = memory.Phase()
    first.start()

    def on_tick(index: int) -> None:
        if index == 0:
            record["mem_first_step_mb"] = first.growth_mb()
            counter = getattr(trainer, "trace_counter", None)  # none where nothing traces (eager torch)
            if counter is not None:
                record.update(trace_ms=counter.trace_ms, graph_ops=counter.graph_ops)
        if steady is not None and index == steady_from:
            steady.start()

    return on_tick


def block_clock(config: RunConfig, trainer: Any, batches: Any, record: dict[str, Any]) -> None:
    """`step_ms_block`: steps timed as one interval, with no per-step callback (which would
    make Keras wait for every step), ended by a blocking fetch: two passes of
    `block_clock_steps`, the second timed (the first takes the new iterator's start)."""
    per_execution = config.train.steps_per_execution
    steps = config.train.block_clock_steps // per_execution * per_execution
    if steps > 0:
        record["step_ms_block"] = trainer.fit_epochs(batches, steps, 2)[1] * 1000.0 / steps


def trace_columns(first: int | None, after_warmup: int | None, end: int | None) -> dict[str, Any]:
    """Traces of the train step up to the first step, and retraces during the timed steps
    (trainer.traces(): none for a step nobody compiles)."""
    if first is None or after_warmup is None or end is None:
        return {}
    return {"traces_to_first_step": first, "retraces_steady": end - after_warmup}


def train_arrays(config: RunConfig, dataset: data.Dataset) -> tuple[np.ndarray, Any]:
    """The training images as the model takes them and the labels as its outputs want them."""
    labels = trainer_common.targets(config.arch, dataset.y_train, dataset.provenance.dataset)
    return data.model_inputs(dataset.x_train), labels


def _time_to_first_step(record: dict[str, Any]) -> float:
    return sum(record[k] for k in ("construct_ms", "build_ms", "compile_ms", "first_step_ms"))


def first_executions(config: RunConfig, trainer: Any, batches: Any, record: dict[str, Any]) -> None:
    """The first execution and the warm-up executions; records the first step and the total."""
    per_execution = config.train.steps_per_execution
    clock = StepClock(counter=trainer.traces, on_tick=first_step_marks(trainer, record))
    trainer.fit(batches, 1 + -(-config.train.warmup_steps // per_execution), clock)
    record["traces_to_first_step"] = clock.counts[0]
    record["first_step_ms"] = float(clock.gaps_ms(per_execution)[0] * per_execution)
    record["time_to_first_step_ms"] = _time_to_first_step(record)


def round_sizes(timed_steps: int, rounds: int) -> list[int]:
    """`timed_steps` executions split into `rounds` nearly equal rounds."""
    return [timed_steps // rounds + (1 if r < timed_steps % rounds else 0) for r in range(rounds)]


def rotated(items: list[Any], by: int) -> list[Any]:
    by %= max(len(items), 1)
    return items[by:] + items[:by]


def warm_up_process(config: RunConfig, arrays: tuple[np.ndarray, Any]) -> None:
    """Build and run a throw-away reference model: the process's one-off costs (runtime start,
    lazy imports, first tf.data iterator) fall on it, not on whichever style is built first."""
    member = dataclasses.replace(
        config, style=styles.REFERENCE_STYLE, train=dataclasses.replace(config.train, inject_delay_ms=0.0)
    )
    trainer = build_phases(member, {}, check_reference=False)
    trainer.fit(training.pipeline_for(config, arrays), 2, StepClock())


def run_block(config: RunConfig, peak_gflops: float | None = None) -> list[dict[str, Any]]:
    """One record per member of the block (config.members order); the build order is rotated
    by the repeat, so every style is built first equally often."""
    members = config_members(config)
    settings = start_runtime(config)
    if "status" in settings:
        return [dict(settings) for _ in members]
    dataset = load_data(config.data, config.backend)
    arrays = train_arrays(config, dataset)  # converted once, each member still gets its own pipeline
    after_data = memory.resident_mb()
    warm_up_process(config, arrays)
    records: list[dict[str, Any]] = [{} for _ in members]
    active: list[tuple[RunConfig, Any, Any, dict[str, Any]]] = []
    order = rotated(list(range(len(members))), config.repeat - 1)
    for position, index in enumerate(order):
        member, record = members[index], records[index]
        record["block_position"] = position
        try:
            trainer = build_phases(member, record)
        except styles.NotExpressible as reason:
            record.update(status="not_applicable", reason=str(reason))
            continue
        # each member its own pipeline with the same seed: every style sees the same batches
        batches = training.pipeline_for(config, arrays)
        first_executions(member, trainer, batches, record)
        active.append((member, trainer, batches, record))
    gaps: dict[int, list[np.ndarray]] = {id(r): [] for *_, r in active}
    traced = {id(record): trainer.traces() for _, trainer, _, record in active}
    per_execution = config.train.steps_per_execution
    for index, size in enumerate(round_sizes(config.train.timed_steps, config.block.rounds)):
        for _member, trainer, batches, record in rotated(active, index):
            clock = StepClock()
            with memory.growth(record, "mem_steady_mb"):  # read outside the fit: in no timed step
                trainer.fit(batches, 1 + size, clock)  # the first gap is fit's own start: not a step
            gaps[id(record)].append(clock.gaps_ms(per_execution)[1:])
    for member, trainer, batches, record in active:
        record.update(trace_columns(record.pop("traces_to_first_step"), traced[id(record)], trainer.traces()))
        record.update(step_summary(np.concatenate(gaps[id(record)]), config.train.batch_size))
        block_clock(member, trainer, batches, record)
        _epochs(member, trainer, batches, len(dataset.x_train), record)
        profile_steps(member, trainer, batches, record)
    anchor_record: dict[str, Any] = {}
    anchor_phase(config.train.anchor_steps, anchor_record)
    for member, trainer, _, record in active:
        record.update(status="ok", rss_after_data_mb=after_data, **settings, **anchor_record)
        record.update(after_training(member, trainer, dataset, peak_gflops, record["step_ms_median"]))
    return records


def _epochs(config: RunConfig, trainer: Any, batches: Any, samples: int, record: dict[str, Any]) -> None:
    train = config.train
    steps_per_epoch = (samples // train.batch_size) // train.steps_per_execution * train.steps_per_execution
    if train.epochs > 0 and steps_per_epoch > 0:
        record["epoch_s"] = float(np.median(trainer.fit_epochs(batches, steps_per_epoch, train.epochs)))


def anchor_phase(steps: int, record: dict[str, Any]) -> None:
    """The fixed machine-speed anchor of this process's backend, after the training phases."""
    if steps > 0:
        record["anchor_version"] = anchor.ANCHOR_VERSION
        record["anchor_step_ms"] = anchor.anchor_step_ms(runtime.for_backend().anchor_step(), steps)


def measure(config: RunConfig, peak_gflops: float | None) -> dict[str, Any]:
    """All phases of one trial; raises NotExpressible before any timing."""
    dataset = load_data(config.data, config.backend)
    record: dict[str, Any] = {"rss_after_data_mb": memory.resident_mb()}
    trainer = build_phases(config, record)
    training_phases(config, trainer, dataset, record)
    anchor_phase(config.train.anchor_steps, record)
    record.update(after_training(config, trainer, dataset, peak_gflops, record["step_ms_median"]))
    return record
