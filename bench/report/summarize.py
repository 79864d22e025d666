"""Results table -> the numbers a report shows: per-cell medians with intervals,
ratios to the reference style with significance, verdicts in words, and the
environment with its warnings. Pure pandas + bench.stats; no drawing here."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench import stats

HEADLINE = {
    "step_ms_median": "steady step (ms)",
    "time_to_first_step_ms": "time to first step (ms)",
    "test_accuracy": "test accuracy",
}
CELL = ["arch", "setting", "style"]
ENVIRONMENT = [
    "tensorflow_version", "keras_version", "python_version", "backend", "cuda_version", "gpu_name",
    "cpu_model", "cpu_count", "host", "git_commit", "data_dataset", "data_source",
    "data_train_samples", "data_test_samples", "data_sha256",
]  # fmt: skip
MUST_MATCH = ["tensorflow_version", "keras_version", "cpu_model", "host", "git_commit", "gpu_name"]


@dataclass
class Summary:
    reference: str
    ok: pd.DataFrame  # the successful trials, with their `setting` label
    table: pd.DataFrame  # one row per cell and headline metric
    verdicts: list[str]
    not_applicable: pd.DataFrame
    errors: pd.DataFrame
    skipped: pd.DataFrame
    environment: dict[str, str]
    banners: list[str] = field(default_factory=list)
    sweep_id: str = ""
    trials: int = 0


def setting_label(row: pd.Series) -> str:
    """The hardware/execution setting of a row in words, e.g. 'cpu, XLA, float32'."""
    parts = [
        str(row["hardware_device"]),
        "XLA" if row["hardware_xla"] else "no XLA",
        str(row["hardware_precision"]),
    ]
    if row.get("train_run_eagerly") is True:
        parts.append("eager")
    if pd.notna(row.get("train_steps_per_execution")) and row["train_steps_per_execution"] > 1:
        parts.append(f"{row['train_steps_per_execution']} steps/execution")
    return ", ".join(parts)


def with_settings(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(setting=frame.apply(setting_label, axis=1) if len(frame) else pd.Series(dtype=str))


def cell_table(ok: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Median, 95% CI, ratio to `reference` with CI, p-value, per cell and headline metric."""
    rows = []
    for (arch, setting, style), group in ok.groupby(CELL, sort=True):
        baseline = ok[(ok["arch"] == arch) & (ok["setting"] == setting) & (ok["style"] == reference)]
        for metric, label in HEADLINE.items():
            estimate = stats.median_ci(group[metric])
            row = {"arch": arch, "setting": setting, "style": style, "metric": metric, "label": label,
                   "n": estimate.n, "median": estimate.median, "low": estimate.low, "high": estimate.high}  # fmt: skip
            if style != reference and len(baseline):
                comparison = stats.compare(group[metric], baseline[metric])
                row.update(ratio=comparison.ratio, ratio_low=comparison.low, ratio_high=comparison.high,
                           p_value=comparison.p_value, significant=comparison.significant(),
                           min_p=stats.smallest_p_value(comparison.n_candidate, comparison.n_reference))  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows)


def verdict(row: pd.Series, reference: str) -> str:
    """One sentence from the numbers, e.g. '... 1.02× functional (95% CI 0.98–1.06): no significant difference.'"""
    ratio = f"{row['ratio']:.2f}× {reference} (95% CI {row['ratio_low']:.2f}–{row['ratio_high']:.2f})"
    if row["significant"]:
        direction = "slower" if row["ratio"] > 1 else "faster"
        conclusion = f"significantly {direction} (Mann-Whitney p = {row['p_value']:.3g})"
    else:
        conclusion = f"no significant difference (p = {row['p_value']:.2g})"
        if row["min_p"] >= 0.05:
            conclusion += f"; with {int(row['n'])} repeat(s) per style no test can reach p < 0.05"
    return f"On {row['arch']} ({row['setting']}), {row['style']} steps {ratio}: {conclusion}."


ANCHOR_SPREAD_WARNING = 1.5  # slowest / fastest anchor in one sweep that earns a banner


def environment(frame: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Each environment column's distinct values, and loud warnings for mixed or partial data."""
    described = {}
    for column in ENVIRONMENT:
        values = sorted({str(v) for v in frame[column].dropna().unique() if str(v)})
        described[column] = ", ".join(values) if values else "-"
    banners = [
        f"This sweep mixes {column.replace('_', ' ')}s: {described[column]}. Differences may be the machine, not the style."
        for column in MUST_MATCH
        if frame[column].dropna().nunique() > 1
    ]
    anchors = frame["anchor_step_ms"].dropna()
    if len(anchors):
        low, middle, high = anchors.min(), anchors.median(), anchors.max()
        described["machine-speed anchor"] = (
            f"{middle:.3g} ms median over {len(anchors)} trials (range {low:.3g}–{high:.3g} ms)"
        )
        if high > ANCHOR_SPREAD_WARNING * low:
            banners.append(
                f"The machine's own speed moved during this sweep: the fixed anchor workload took "
                f"{low:.3g}–{high:.3g} ms ({high / low:.2f}× apart). Interleaving spreads that over every "
                "style, but it widens every interval."
            )
    if (frame["data_source"] == "embedded").any():
        banners.append(
            "Data: the 5,000-digit embedded MNIST subset, not full MNIST. Timings hold; "
            "accuracies are from 4,000 training digits. Set BENCH_MNIST_DIR for the full set."
        )
    return described, banners


def summarize(frame: pd.DataFrame, reference: str = "functional") -> Summary:
    frame = with_settings(frame)
    ok = frame[frame["status"] == "ok"]
    table = cell_table(ok, reference)
    compared = table[table["ratio"].notna()] if "ratio" in table.columns else table.iloc[0:0]
    steps = compared[compared["metric"] == "step_ms_median"]
    described, banners = environment(frame)
    pick = ["arch", "setting", "style"]
    return Summary(
        reference=reference,
        ok=ok,
        table=table,
        verdicts=[verdict(row, reference) for _, row in steps.iterrows()],
        not_applicable=frame[frame["status"] == "not_applicable"][[*pick, "reason"]].drop_duplicates(),
        errors=frame[frame["status"] == "error"][[*pick, "repeat", "error"]],
        skipped=frame[frame["status"] == "skipped"][[*pick, "reason"]].drop_duplicates(),
        environment=described,
        banners=banners,
        sweep_id=", ".join(sorted(frame["sweep_id"].dropna().unique())),
        trials=len(frame),
    )
