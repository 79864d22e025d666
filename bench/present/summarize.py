"""Results table -> everything a report shows (`Summary`): the comparison tables
(bench.present.comparisons), their sentences (bench.present.sentences), the environment and
its banners (bench.present.banners), the fixed-overhead fit (overhead) and the why-breakdown
(why). Pure pandas + bench.decide; no drawing here."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench import decide
from bench.decide import cells
from bench.present import banners, overhead, why
from bench.present.comparisons import (
    backend_or_style,
    cell_table,
    clock_table,
    compile_modes,
    decided_together,
)
from bench.present.sentences import answers, backend_answers, verdict


@dataclass
class Summary:
    reference: str
    ok: pd.DataFrame  # the successful trials, with cells.with_labels columns
    table: pd.DataFrame  # one row per cell and headline metric
    decisions: pd.DataFrame  # one row per style-vs-reference comparison, with its decision
    verdicts: list[str]
    answers: list[str]
    not_applicable: pd.DataFrame
    errors: pd.DataFrame
    skipped: pd.DataFrame
    environment: dict[str, str]
    clocks: pd.DataFrame = field(default_factory=pd.DataFrame)  # per cell: per-step and block clock
    loops: pd.DataFrame = field(default_factory=pd.DataFrame)  # per style: fit loop against custom loop
    backends: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # per style and metric: jax, torch vs tensorflow
    backend_or_style: pd.DataFrame = field(default_factory=pd.DataFrame)  # spreads across styles vs backends
    backend_answers: list[str] = field(default_factory=list)  # which moves time more, per arch and metric
    compile_modes: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # hardware.xla -> how each backend compiled
    overheads: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # per model and style: fixed + per-sample fit
    overhead_answers: list[str] = field(default_factory=list)  # per model and style against the reference
    why: pd.DataFrame = field(default_factory=pd.DataFrame)  # per cell group, style and phase: extra cost
    why_answers: list[str] = field(default_factory=list)  # per cell group and style: its largest extra cost
    breakdown: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # per model, setting, style: the profiled step
    banners: list[str] = field(default_factory=list)
    sweep_id: str = ""
    trials: int = 0
    margin: float = decide.MARGIN
    alpha: float = decide.ALPHA


def _listed(frame: pd.DataFrame, status: str, columns: list[str]) -> pd.DataFrame:
    return frame[frame["status"] == status][columns].rename(columns={"who": "style"})


def summarize(
    frame: pd.DataFrame,
    reference: str = "functional",
    margin: float = decide.MARGIN,
    alpha: float = decide.ALPHA,
    damaged: list[str] | None = None,
    allow_mixed_hardware: bool = False,
) -> Summary:
    """Everything the report shows. Raises cells.MixedHardware when the ok rows come from more
    than one kind of hardware, unless `allow_mixed_hardware` (then a banner says so)."""
    frame = cells.with_labels(frame)
    ok = frame[frame["status"] == "ok"]
    mixed = cells.check_hardware(ok, allow_mixed_hardware, "The rows of this sweep")
    decisions, loops, backend_rows = decided_together(ok, reference, margin, alpha)
    spreads = backend_or_style(ok)
    described, warnings = banners.environment(frame)
    warnings += (
        banners.accuracy_banners(ok) + banners.reference_banners(ok)
        + banners.contention_banners(ok) + banners.retrace_banners(ok)
    )  # fmt: skip
    warnings += [mixed] if mixed else []
    warnings += [
        f"Damaged result file left out of this report (untouched on disk): {line}" for line in damaged or []
    ]
    pick = ["arch", "setting", "who"]
    overheads = overhead.overhead_table(ok, reference, margin)
    phases = why.why_table(ok, reference)
    return Summary(
        reference=reference,
        ok=ok,
        table=cell_table(ok),
        clocks=clock_table(ok),
        loops=loops,
        backends=backend_rows,
        backend_or_style=spreads,
        backend_answers=backend_answers(backend_rows, decisions, spreads),
        compile_modes=compile_modes(ok),
        overheads=overheads,
        overhead_answers=overhead.overhead_sentences(overheads, reference),
        why=phases,
        breakdown=why.breakdown_table(ok),
        why_answers=why.why_sentences(phases, reference, margin),
        decisions=decisions,
        verdicts=[verdict(row, reference) for _, row in decisions.iterrows()],
        answers=answers(decisions, reference, margin) if len(decisions) else [],
        not_applicable=_listed(frame, "not_applicable", [*pick, "reason"]).drop_duplicates(),
        errors=_listed(frame, "error", [*pick, "repeat", "error"]),
        skipped=_listed(frame, "skipped", [*pick, "reason"]).drop_duplicates(),
        environment=described,
        banners=warnings,
        sweep_id=", ".join(sorted(frame["sweep_id"].dropna().unique())),
        trials=len(frame),
        margin=margin,
        alpha=alpha,
    )
