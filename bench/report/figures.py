"""Seaborn figures of a results table, each returned as an inline PNG data URI.

Each function takes the settings-labelled frame of `ok` rows and returns a
`Figure` (title, caption, data URI) or None when the sweep has nothing to show.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.styles import STYLE_NAMES  # noqa: E402

PHASES = {
    "construct_ms": "construct",
    "build_ms": "build",
    "compile_ms": "compile",
    "first_step_ms": "first step",
}


@dataclass(frozen=True)
class Figure:
    title: str
    caption: str
    data_uri: str


def _styles(frame: pd.DataFrame) -> list[str]:
    return [style for style in STYLE_NAMES if style in set(frame["style"])]


def _encode(figure: matplotlib.figure.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def step_times(ok: pd.DataFrame) -> Figure | None:
    if ok.empty:
        return None
    order = _styles(ok)
    grid = sns.FacetGrid(
        ok, row="setting", col="arch", sharey=False, height=2.8, aspect=1.5, margin_titles=True
    )
    grid.map_dataframe(sns.stripplot, x="style", y="step_ms_median", order=order, alpha=0.6, jitter=0.15)
    grid.map_dataframe(
        sns.pointplot, x="style", y="step_ms_median", order=order, estimator=np.median,
        errorbar=None, color="black", markers="D", linestyles="none",
    )  # fmt: skip
    grid.set_axis_labels("", "step (ms)").set_xticklabels(rotation=30)
    caption = "Each dot is one repeat's median step; the black diamond is the median of the repeats."
    return Figure("Steady step time per style", caption, _encode(grid.figure))


def first_step_phases(ok: pd.DataFrame) -> Figure | None:
    if ok.empty:
        return None
    medians = ok.groupby(["arch", "setting", "style"])[list(PHASES)].median().rename(columns=PHASES)
    panels = medians.index.droplevel("style").unique()
    figure, axes = plt.subplots(len(panels), 1, figsize=(7.5, 2.6 * len(panels)), squeeze=False)
    for axis, (arch, setting) in zip(axes[:, 0], panels, strict=True):
        panel = medians.loc[(arch, setting)].reindex(
            [s for s in STYLE_NAMES if s in medians.loc[(arch, setting)].index]
        )
        panel.plot.barh(
            stacked=True, ax=axis, width=0.7, legend=axis is axes[0, 0], color=sns.color_palette("deep", 4)
        )
        axis.set_title(f"{arch} ({setting})", fontsize=9)
        axis.set_xlabel("ms (median over repeats)")
        axis.set_ylabel("")
        axis.invert_yaxis()
    figure.tight_layout()
    caption = (
        "Time to first step, split by phase: lazy styles pay at build or first call instead of construction."
    )
    return Figure("Time to first step by phase", caption, _encode(figure))


def accuracy(ok: pd.DataFrame) -> Figure | None:
    if ok.empty:
        return None
    grid = sns.catplot(
        data=ok, x="style", y="test_accuracy", col="arch", row="setting", order=_styles(ok),
        kind="strip", height=2.6, aspect=1.3, sharey=False, margin_titles=True,
    )  # fmt: skip
    grid.set_axis_labels("", "test accuracy").set_xticklabels(rotation=30)
    caption = (
        "Identical models with identical seeds should reach identical accuracy; a gap is a bug, not a style."
    )
    return Figure("Test accuracy per style", caption, _encode(grid.figure))


def ratio_heatmap(table: pd.DataFrame, reference: str) -> Figure | None:
    steps = table[table["metric"] == "step_ms_median"]
    if steps.empty or "ratio" not in steps:
        return None
    pivot = steps.assign(cell=steps["arch"] + " · " + steps["setting"]).pivot_table(
        index="cell", columns="style", values="ratio", aggfunc="first"
    )
    pivot[reference] = 1.0
    pivot = pivot[[s for s in STYLE_NAMES if s in pivot.columns]]
    figure, axis = plt.subplots(figsize=(1.3 * len(pivot.columns) + 2, 0.45 * len(pivot) + 1.2))
    sns.heatmap(
        pivot, annot=True, fmt=".2f", cmap="RdBu_r", center=1.0, ax=axis, cbar_kws={"label": "× reference"}
    )
    axis.set_xlabel("")
    axis.set_ylabel("")
    caption = f"Median step time of each style divided by {reference}'s, per architecture and setting (1.00 = same)."
    return Figure(f"Step time relative to {reference}", caption, _encode(figure))


def xla_speedup(ok: pd.DataFrame) -> Figure | None:
    keys = ["arch", "style", "hardware_device", "hardware_precision"]
    medians = ok.groupby([*keys, "hardware_xla"])["step_ms_median"].median().unstack("hardware_xla")
    if True not in medians.columns or False not in medians.columns:
        return None
    speedup = (medians[False] / medians[True]).dropna().rename("speedup").reset_index()
    if speedup.empty:
        return None
    grid = sns.catplot(
        data=speedup, x="style", y="speedup", col="arch", kind="bar", order=_styles(speedup),
        height=2.8, aspect=1.3, sharey=False,
    )  # fmt: skip
    for axis in grid.axes.flat:
        axis.axhline(1.0, color="black", linewidth=0.8)
    grid.set_axis_labels("", "step without XLA / with XLA").set_xticklabels(rotation=30)
    caption = "Above 1: XLA makes the step faster; below 1: slower (on CPUs convolutions often lose)."
    return Figure("XLA speed-up per style", caption, _encode(grid.figure))


def throughput(ok: pd.DataFrame) -> Figure | None:
    if ok.empty or ok["gflops_per_s"].isna().all():
        return None
    grid = sns.catplot(
        data=ok, x="style", y="gflops_per_s", col="arch", row="setting", kind="bar", order=_styles(ok),
        estimator=np.median, errorbar=None, height=2.6, aspect=1.3, sharey=False, margin_titles=True,
    )  # fmt: skip
    peak = ok["peak_gflops"].median()
    if pd.notna(peak):
        for axis in grid.axes.flat:
            axis.axhline(peak, color="crimson", linestyle="--", linewidth=1)
            axis.set_ylim(0, peak * 1.1)
    grid.set_axis_labels("", "achieved GFLOP/s").set_xticklabels(rotation=30)
    caption = (
        f"Training FLOPs per second; the dashed line is this machine's fp32 matmul peak ({peak:.0f} GFLOP/s)."
    )
    return Figure("Achieved GFLOP/s against the machine's peak", caption, _encode(grid.figure))


def all_figures(ok: pd.DataFrame, table: pd.DataFrame, reference: str) -> list[Figure]:
    candidates = [
        step_times(ok), first_step_phases(ok), accuracy(ok),
        ratio_heatmap(table, reference), xla_speedup(ok), throughput(ok),
    ]  # fmt: skip
    return [figure for figure in candidates if figure is not None]
