"""Results table -> the numbers a report shows: per-cell medians with intervals, every
style-vs-reference comparison decided (bench.decide), the answer in one sentence per
architecture and metric, and the environment with its warnings. Pure pandas + bench.stats
+ bench.decide; no drawing here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import cells, decide, stats

HEADLINE = {
    "step_ms_median": "steady step (ms)",
    "step_ms_block": "steady step, block clock (ms)",
    "time_to_first_step_ms": "time to first step (ms)",
    "test_accuracy": "test accuracy",
}
DECIDED_METRICS = {"step_ms_median": "steady step", "time_to_first_step_ms": "time to first step"}
ENVIRONMENT = [
    "tensorflow_version", "keras_version", "python_version", "backend", "cuda_version", "gpu_name",
    "cpu_model", "cpu_count", "host", "git_commit", "data_dataset", "data_source",
    "data_train_samples", "data_test_samples", "data_sha256",
]  # fmt: skip
MUST_MATCH = ["tensorflow_version", "keras_version", "cpu_model", "host", "git_commit", "gpu_name"]
# Identical models from identical seeds reach the same accuracy up to float reassociation (a
# keras.ops convolution against Conv2D, a hand-written optimizer): at most this gap, inclusive
# (2 of the embedded set's 1,000 test digits); a larger one is a bug, not a style.
ACCURACY_GAP = 0.002


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
    banners: list[str] = field(default_factory=list)
    sweep_id: str = ""
    trials: int = 0
    margin: float = decide.MARGIN
    alpha: float = decide.ALPHA


def cell_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Median and its distribution-free 95% interval per cell and headline metric."""
    rows = []
    for (arch, setting, who), group in ok.groupby(["arch", "setting", "who"], sort=True):
        for metric, label in HEADLINE.items():
            estimate = stats.median_ci(group[metric])
            rows.append(
                {"arch": arch, "setting": setting, "who": who, "metric": metric, "label": label,
                 "n": estimate.n, "median": estimate.median, "low": estimate.low, "high": estimate.high}
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["arch", "setting", "who", "metric", "label", "n", "median", "low", "high"]
    )


CLOCK_COLUMNS = ["arch", "setting", "who", "n", "per_step_ms", "block_ms", "gap", "gap_low", "gap_high"]


def clock_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the per-step clock's median (a callback after every step, which makes Keras
    wait for each), the block clock's (no per-step callback, one fetch at the end), and their
    gap: the median over trials of block / per-step, with its 95% interval."""
    rows = []
    timed = ok.dropna(subset=["step_ms_block", "step_ms_median"]) if "step_ms_block" in ok else ok.iloc[0:0]
    for (arch, setting, who), group in timed.groupby(["arch", "setting", "who"], sort=True):
        gap = stats.median_ci(group["step_ms_block"] / group["step_ms_median"])
        rows.append([arch, setting, who, gap.n, group["step_ms_median"].median(), group["step_ms_block"].median(),
                     gap.median, gap.low, gap.high])  # fmt: skip
    return pd.DataFrame(rows, columns=CLOCK_COLUMNS)


def loop_costs(ok: pd.DataFrame, margin: float, alpha: float) -> pd.DataFrame:
    """Each style's steady step in the fit loop against the custom loop, in otherwise equal
    cells (unpaired: the loops ran in different processes): what `fit` costs that style.
    Raw has no fit; its two cells both run the custom loop, an A/A check."""
    columns = ["arch", "setting", "who", "ratio", "ratio_low", "ratio_high", "n", "decision", "reason"]
    if ok.empty or ok["train_loop"].nunique() < 2:
        return pd.DataFrame(columns=columns)
    labelled = ok.assign(
        rest=cells.group_key(ok, ignore=["train_loop"]),
        rest_setting=cells.setting_labels(ok, ignore=["train_loop"]),
    )
    rows, compared = [], []
    for (_, who), group in labelled.groupby(["rest", "who"], sort=False):
        fit = group.loc[group["train_loop"] == "fit", "step_ms_median"].to_numpy(float)
        custom = group.loc[group["train_loop"] == "custom", "step_ms_median"].to_numpy(float)
        if len(fit) and len(custom):
            compared.append(stats.compare(fit, custom, margin=margin, paired=False))
            rows.append({"arch": group["arch"].iloc[0], "setting": group["rest_setting"].iloc[0], "who": who})
    for row, decision in zip(rows, decide.decide_all(compared, margin, alpha), strict=True):
        c = decision.comparison
        row.update(ratio=c.ratio, ratio_low=c.low, ratio_high=c.high, n=min(c.n_candidate, c.n_reference),
                   decision=decision.word, reason=decision.reason())  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _pairs(group: pd.DataFrame, who: str, reference: str, metric: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """The candidate's and the reference's values; paired by repeat when timed in blocks."""
    mine, ref = group[group["who"] == who], group[group["who"] == reference]
    if (group["design"] == "block").all():
        joined = (
            mine.set_index("repeat")[metric]
            .to_frame("a")
            .join(ref.set_index("repeat")[metric].to_frame("b"), how="inner")
        )
        return joined["a"].to_numpy(float), joined["b"].to_numpy(float), True
    return mine[metric].to_numpy(float), ref[metric].to_numpy(float), False


def comparisons(ok: pd.DataFrame, reference: str, margin: float, alpha: float) -> pd.DataFrame:
    """Every style against the reference in its cell group, for each decided metric, decided as one family."""
    rows, compared = [], []
    for _, group in ok.groupby("group", sort=False):
        if reference not in set(group["who"]):
            continue
        first = group.iloc[0]
        for metric in DECIDED_METRICS:
            for who in sorted(set(group["who"]) - {reference}, key=_style_order):
                a, b, paired = _pairs(group, who, reference, metric)
                compared.append(stats.compare(a, b, margin=margin, paired=paired))
                rows.append(
                    {"arch": first["arch"], "setting": first["setting"], "who": who, "metric": metric}
                )
    decisions = decide.decide_all(compared, margin, alpha)
    for row, decision in zip(rows, decisions, strict=True):
        c = decision.comparison
        row.update(
            ratio=c.ratio, ratio_low=c.low, ratio_high=c.high, p_value=c.p_value, paired=c.paired,
            n=min(c.n_candidate, c.n_reference), decision=decision.word, p_adjusted=decision.p_adjusted,
            repeats_needed=decision.repeats_needed, reason=decision.reason(),
        )  # fmt: skip
    columns = [
        "arch",
        "setting",
        "who",
        "metric",
        "ratio",
        "ratio_low",
        "ratio_high",
        "p_value",
        "paired",
        "n",
    ]
    return pd.DataFrame(rows, columns=[*columns, "decision", "p_adjusted", "repeats_needed", "reason"])


def _style_order(who: str) -> tuple[int, str]:
    from bench.styles import STYLE_NAMES

    base = who.split("#")[0]
    return (STYLE_NAMES.index(base) if base in STYLE_NAMES else 99, who)


def _where(arch: str, setting: str) -> str:
    return f"{arch} ({setting})" if setting else arch


def _interval(row: pd.Series) -> str:
    unit = "paired blocks" if row["paired"] else "repeats per style"
    if not np.isfinite(row["ratio_low"]):
        return f"too few repeats for a 95% interval; {row['n']} {unit}"
    return f"95% CI {row['ratio_low']:.2f}–{row['ratio_high']:.2f}; {row['n']} {unit}"


def verdict(row: pd.Series, reference: str) -> str:
    """One sentence per comparison, carrying exactly one decision word."""
    if row["metric"] == "step_ms_median":
        claim = f"{row['who']} steps {row['ratio']:.2f}× {reference}"
    else:
        claim = f"{row['who']}'s time to first step is {row['ratio']:.2f}× {reference}'s"
    return f"On {_where(row['arch'], row['setting'])}, {claim} ({_interval(row)}): {row['reason']}."


def answers(decisions: pd.DataFrame, reference: str, margin: float) -> list[str]:
    """One sentence per architecture and metric: which styles are faster, slower, equivalent, undecided."""
    sentences = []
    several_settings = decisions["setting"].nunique() > 1
    for (arch, metric), group in decisions.groupby(["arch", "metric"], sort=False):
        parts = []
        for word in decide.WORDS:
            chosen = group[group["decision"] == word]
            if chosen.empty:
                continue
            items = []
            for who, mine in chosen.groupby("who", sort=False):
                ratios = ", ".join(
                    f"{r:.2f}×" + (f" {s}" if several_settings and s else "")
                    for r, s in zip(mine["ratio"], mine["setting"], strict=True)
                )
                items.append(f"{who} ({ratios})")
            label = f"{word} within ±{margin:.0%}" if word == decide.EQUIVALENT else word
            parts.append(f"{label}: {', '.join(items)}")
        sentences.append(f"{arch}, {DECIDED_METRICS[metric]} against {reference}: " + "; ".join(parts) + ".")
    return sentences


ANCHOR_SPREAD_WARNING = 1.5  # slowest / fastest anchor in one sweep that earns a banner


def environment(frame: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Each environment column's distinct values, and loud warnings for mixed or partial data."""
    described = {}
    for column in ENVIRONMENT:
        values = sorted({str(v) for v in frame[column].dropna().unique() if str(v)})
        described[column] = ", ".join(values) if values else "-"
    fixed = cells.held_fixed(frame)
    if fixed:
        described["settings held fixed"] = ", ".join(fixed.values())
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


def accuracy_banners(ok: pd.DataFrame) -> list[str]:
    """Identical models with identical seeds must reach the same accuracy: name any cell that does not."""
    banners = []
    for _, group in ok.groupby("group", sort=False):
        medians = group.groupby("who")["test_accuracy"].median().dropna()
        if len(medians) > 1 and medians.max() - medians.min() > ACCURACY_GAP + 1e-9:
            first = group.iloc[0]
            banners.append(
                f"On {_where(first['arch'], first['setting'])} the styles reached different test accuracy "
                f"({medians.min():.4f}–{medians.max():.4f}, {medians.idxmin()} lowest): the builds are not "
                "the same model, so their timings are not comparable; run bench verify."
            )
    return banners


def reference_banners(ok: pd.DataFrame) -> list[str]:
    """Rows whose model did not match the reference style's parameter count and weight shapes."""
    if "matches_reference" not in ok:
        return []
    mismatched = ok[ok["matches_reference"].astype("boolean").eq(False)]
    return [
        f"{who} on {_where(arch, setting)} built a model whose parameters or weight shapes differ from "
        "the reference style's: not the same model, so its timings are not comparable; run bench verify."
        for (who, arch, setting), _ in mismatched.groupby(["who", "arch", "setting"], sort=True)
    ]


def _listed(frame: pd.DataFrame, status: str, columns: list[str]) -> pd.DataFrame:
    return frame[frame["status"] == status][columns].rename(columns={"who": "style"})


def summarize(
    frame: pd.DataFrame,
    reference: str = "functional",
    margin: float = decide.MARGIN,
    alpha: float = decide.ALPHA,
    damaged: list[str] | None = None,
) -> Summary:
    frame = cells.with_labels(frame)
    ok = frame[frame["status"] == "ok"]
    decisions = comparisons(ok, reference, margin, alpha)
    described, banners = environment(frame)
    banners += accuracy_banners(ok) + reference_banners(ok)
    banners += [
        f"Damaged result file left out of this report (untouched on disk): {line}" for line in damaged or []
    ]
    pick = ["arch", "setting", "who"]
    return Summary(
        reference=reference,
        ok=ok,
        table=cell_table(ok),
        clocks=clock_table(ok),
        loops=loop_costs(ok, margin, alpha),
        decisions=decisions,
        verdicts=[verdict(row, reference) for _, row in decisions.iterrows()],
        answers=answers(decisions, reference, margin) if len(decisions) else [],
        not_applicable=_listed(frame, "not_applicable", [*pick, "reason"]).drop_duplicates(),
        errors=_listed(frame, "error", [*pick, "repeat", "error"]),
        skipped=_listed(frame, "skipped", [*pick, "reason"]).drop_duplicates(),
        environment=described,
        banners=banners,
        sweep_id=", ".join(sorted(frame["sweep_id"].dropna().unique())),
        trials=len(frame),
        margin=margin,
        alpha=alpha,
    )
