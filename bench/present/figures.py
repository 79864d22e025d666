"""Seaborn figures of a summary, each returned as an inline PNG data URI.

Each function takes the Summary and returns a `Figure` (title, caption, data
URI, and the tick labels of every panel, so a test can check that every mark
is named) or None when the sweep has nothing to show.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402

from bench import decide  # noqa: E402
from bench.present import overhead, why  # noqa: E402
from bench.present.comparisons import METRIC_WORDS, style_order  # noqa: E402
from bench.present.summarize import Summary  # noqa: E402

PHASES = {
    "construct_ms": "construct",
    "build_ms": "build",
    "compile_ms": "compile",
    "trace_ms": "first step: tracing",
    "first_run_ms": "first step: graph optimisation / XLA, run",
}
DECISION_COLOURS = {
    decide.FASTER: "#7fc97f",
    decide.EQUIVALENT: "#d9d9d9",
    decide.UNDECIDED: "#fff2ae",
    decide.SLOWER: "#f0827d",
}

# A blank cell of the decision matrix: the style cannot express that architecture (True), or
# the comparison has no successful trials on a side (False).
BLANK_MARKS = {True: "n/a", False: "—"}
BLANK_MEANINGS = {
    "n/a": "the style cannot express this architecture",
    "—": "no comparison (no successful trials on one side)",
}


@dataclass(frozen=True)
class Figure:
    title: str
    caption: str
    data_uri: str
    lead: bool = False  # shown with the answer, at the top of the page
    x_ticks: list[list[str]] = field(default_factory=list)  # per panel, as drawn
    y_ticks: list[list[str]] = field(default_factory=list)


def _order(frame: pd.DataFrame) -> list[str]:
    return sorted(set(frame["who"]), key=style_order)


def _panel(frame: pd.DataFrame) -> pd.DataFrame:
    """A `panel` column: the architecture, plus the setting when settings vary."""
    panel = frame["arch"] + np.where(frame["setting"] != "", " · " + frame["setting"], "")
    return frame.assign(panel=panel)


def _encode(figure: matplotlib.figure.Figure, title: str, caption: str, lead: bool = False) -> Figure:
    figure.canvas.draw()  # tick labels exist only once drawn
    axes = [axis for axis in figure.axes if axis.get_label() != "<colorbar>"]
    x_ticks = [[t.get_text() for t in axis.get_xticklabels()] for axis in axes]
    y_ticks = [[t.get_text() for t in axis.get_yticklabels()] for axis in axes]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return Figure(title, caption, uri, lead, x_ticks, y_ticks)


def _name_every_style(grid: sns.FacetGrid) -> None:
    """Style names under every panel, rotated (set_xticklabels() with no labels would erase them)."""
    for axis in grid.axes.flat:
        axis.tick_params(axis="x", labelbottom=True, labelrotation=30)
    grid.tight_layout()  # room for the rotated names above the next row's titles


@contextlib.contextmanager
def _seeded_jitter(seed: int = 0) -> Iterator[None]:
    """seaborn's stripplot jitters with NumPy's global generator: seeded here (and the caller's
    state put back after) so that one results folder always draws the same report, byte for byte."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _facets(ok: pd.DataFrame) -> dict:
    panels = ok["panel"].nunique()
    return {"col": "panel", "col_wrap": min(panels, 2) if panels > 1 else None}


def step_times(summary: Summary) -> Figure | None:
    ok = _panel(summary.ok)
    if ok.empty:
        return None
    order = _order(ok)
    grid = sns.FacetGrid(ok, sharey=False, sharex=False, height=2.9, aspect=1.5, **_facets(ok))
    grid.map_dataframe(sns.stripplot, x="who", y="step_ms_median", order=order, alpha=0.6, jitter=0.15)
    grid.map_dataframe(
        sns.pointplot, x="who", y="step_ms_median", order=order, estimator=np.median,
        errorbar=None, color="black", markers="D", linestyles="none",
    )  # fmt: skip
    grid.set_axis_labels("", "step (ms)").set_titles("{col_name}")
    _name_every_style(grid)
    caption = "Each dot is one repeat's median step; the black diamond is the median of the repeats."
    return _encode(grid.figure, "Steady step time per style", caption)


def _stacked_panels(
    panels: dict[str, pd.DataFrame], xlabel: str, ticks: dict[str, pd.Series] | None = None
) -> matplotlib.figure.Figure:
    """One panel per entry: a horizontal stacked bar per style (rows: styles, columns: the parts,
    in order), styles in the house order, and optionally a black tick per style (`ticks`);
    one legend beside the first panel (inside a panel it would cover a bar)."""
    styles = max(len(frame) for frame in panels.values())
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(7.5, 0.45 * styles * len(panels) + 1.25 * len(panels)), squeeze=False
    )
    for axis, (panel, frame) in zip(axes[:, 0], panels.items(), strict=True):
        frame = frame.reindex(sorted(frame.index, key=style_order))
        frame.plot.barh(
            stacked=True, ax=axis, width=0.7, legend=False, color=sns.color_palette("deep", frame.shape[1])
        )
        if ticks is not None:
            axis.plot(ticks[panel].reindex(frame.index), range(len(frame)), "|", color="black", markersize=16,
                      markeredgewidth=2, label="unprofiled steady step")  # fmt: skip
        axis.set_title(panel, fontsize=9)
        axis.set_xlabel(xlabel)
        axis.set_ylabel("")
        axis.invert_yaxis()
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    return figure


def first_step_phases(summary: Summary) -> Figure | None:
    ok = _panel(why.with_first_run(summary.ok))
    if ok.empty:
        return None
    phases = {column: label for column, label in PHASES.items() if ok[column].notna().any()}
    medians = ok.groupby(["panel", "who"])[list(phases)].median().rename(columns=phases)
    panels = {panel: medians.loc[panel] for panel in medians.index.get_level_values("panel").unique()}
    figure = _stacked_panels(panels, "ms (median over repeats)")
    caption = (
        "Time to first step, split by phase: lazy styles pay at build or first call instead of construction; "
        "the first step splits into tracing the train step (its Python body, timed by a wrapper) and the rest "
        "(graph optimisation or XLA compilation, and running it)."
    )
    return _encode(figure, "Time to first step by phase", caption)


def accuracy(summary: Summary) -> Figure | None:
    ok = _panel(summary.ok)
    if ok.empty:
        return None
    grid = sns.catplot(
        data=ok, x="who", y="test_accuracy", order=_order(ok), kind="strip",
        height=2.7, aspect=1.4, sharey=False, sharex=False, **_facets(ok),
    )  # fmt: skip
    grid.set_axis_labels("", "test accuracy").set_titles("{col_name}")
    _name_every_style(grid)
    caption = (
        "Identical models with identical seeds should reach identical accuracy; a gap is a bug, not a style."
    )
    return _encode(grid.figure, "Test accuracy per style", caption)


def decision_matrix(summary: Summary, reference: str) -> Figure | None:
    """Styles × (architecture, setting, metric), coloured by decision, the ratio printed in each cell."""
    decisions = summary.decisions
    if decisions.empty:
        return None
    frame = decisions.assign(
        row=decisions["arch"]
        + np.where(decisions["setting"] != "", " · " + decisions["setting"], "")
        + " · "
        + decisions["metric"].map(METRIC_WORDS)
    )
    columns = sorted(set(frame["who"]), key=style_order)
    rows = list(dict.fromkeys(frame["row"]))
    words = list(DECISION_COLOURS)
    codes = frame.pivot_table(index="row", columns="who", values="decision", aggfunc="first")
    codes = codes.reindex(index=rows, columns=columns)
    ratios = frame.pivot_table(index="row", columns="who", values="ratio", aggfunc="first").reindex(
        index=rows, columns=columns
    )
    numeric = codes.apply(lambda col: col.map(lambda w: words.index(w) if isinstance(w, str) else np.nan))
    figure, axis = plt.subplots(figsize=(1.5 * len(columns) + 3.2, 0.42 * len(rows) + 1.4))
    axis.imshow(
        numeric.to_numpy(float),
        cmap=ListedColormap(list(DECISION_COLOURS.values())),
        vmin=-0.5,
        vmax=3.5,
        aspect="auto",
    )
    where = frame.drop_duplicates("row").set_index("row")[["arch", "setting"]]
    inexpressible = {tuple(r) for r in summary.not_applicable[["arch", "setting", "style"]].to_numpy()}
    blanks = set()
    for i, row in enumerate(rows):
        for j, who in enumerate(columns):
            value = ratios.loc[row, who]
            if pd.notna(value):
                axis.text(j, i, f"{value:.2f}×", ha="center", va="center", fontsize=9)
                continue
            mark = BLANK_MARKS[(*where.loc[row], who) in inexpressible]
            blanks.add(mark)
            axis.text(j, i, mark, ha="center", va="center", fontsize=9, color="#555555")
    axis.set_xticks(range(len(columns)), columns, rotation=30)
    axis.set_yticks(range(len(rows)), rows)
    legend = [Patch(color=colour, label=word) for word, colour in DECISION_COLOURS.items()]
    shown = [mark for mark in BLANK_MEANINGS if mark in blanks]
    legend += [
        Patch(facecolor="white", edgecolor="#999999", label=f"{mark}: {BLANK_MEANINGS[mark]}")
        for mark in shown
    ]
    axis.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    blank_words = "".join(f" A cell marked {mark}: {BLANK_MEANINGS[mark]}." for mark in shown)
    caption = (
        f"Each style against {reference}, per architecture, setting and metric: the colour is the decision "
        f"(±{summary.margin:.0%} margin), the number the ratio (below 1: faster).{blank_words}"
    )
    return _encode(figure, f"Decisions against {reference}", caption, lead=True)


def xla_speedup(summary: Summary) -> Figure | None:
    ok = summary.ok
    if ok["hardware_xla"].nunique() < 2:
        return None
    keys = [c for c in ("arch", "backend", "who", "hardware_device", "hardware_precision") if c in ok]
    medians = ok.groupby([*keys, "hardware_xla"])["step_ms_median"].median().unstack("hardware_xla")
    if True not in medians.columns or False not in medians.columns:
        return None
    speedup = (medians[False] / medians[True]).dropna().rename("speedup").reset_index()
    if speedup.empty:
        return None
    grid = sns.catplot(
        data=speedup, x="who", y="speedup", col="arch", kind="bar", order=_order(speedup),
        height=2.8, aspect=1.3, sharey=False, sharex=False,
    )  # fmt: skip
    for axis in grid.axes.flat:
        axis.axhline(1.0, color="black", linewidth=0.8)
    grid.set_axis_labels("", "step without XLA / with XLA").set_titles("{col_name}")
    _name_every_style(grid)
    caption = "Above 1: XLA makes the step faster; below 1: slower (on CPUs convolutions often lose)."
    return _encode(grid.figure, "XLA speed-up per style", caption)


def throughput(summary: Summary) -> Figure | None:
    ok = _panel(summary.ok)
    if ok.empty or ok["gflops_per_s"].isna().all():
        return None
    grid = sns.catplot(
        data=ok, x="who", y="gflops_per_s", order=_order(ok), kind="bar", estimator=np.median,
        errorbar=None, height=2.7, aspect=1.4, sharey=False, sharex=False, **_facets(ok),
    )  # fmt: skip
    peak = ok["peak_gflops"].median()
    if pd.notna(peak):
        for axis in grid.axes.flat:
            axis.axhline(peak, color="crimson", linestyle="--", linewidth=1)
            axis.set_ylim(0, peak * 1.1)
    grid.set_axis_labels("", "achieved GFLOP/s").set_titles("{col_name}")
    _name_every_style(grid)
    caption = (
        f"Training FLOPs per second; the dashed line is this machine's fp32 matmul peak ({peak:.0f} GFLOP/s)."
    )
    return _encode(grid.figure, "Achieved GFLOP/s against the machine's peak", caption)


def backend_or_style(summary: Summary) -> Figure | None:
    """Which choice moves a metric more: one bar per style (its spread across backends) and
    one per backend (its spread across styles), per architecture and metric."""
    spreads = summary.backend_or_style
    if spreads.empty:
        return None
    spreads = spreads.assign(
        choice=np.where(spreads["across"] == "backends", "backend", "style"),
        bar=np.where(
            spreads["across"] == "backends",
            "backends, for " + spreads["within"],
            "styles, on " + spreads["within"],
        ),
        panel=spreads["arch"] + " · " + spreads["metric"].map(METRIC_WORDS),
    )
    grid = sns.catplot(
        data=spreads, y="bar", x="spread", hue="choice", col="panel", col_wrap=2, kind="bar",
        palette={"backend": "#80b1d3", "style": "#fdb462"}, height=3.0, aspect=1.5,
        sharey=False, sharex=False, dodge=False, legend_out=True,
    )  # fmt: skip
    for axis in grid.axes.flat:
        axis.set_xscale("log")
        axis.axvline(1.0, color="black", linewidth=0.8)
        axis.tick_params(axis="y", labelleft=True)
        axis.tick_params(axis="x", labelbottom=True)
        axis.set_xlabel("slowest median / fastest median (log)")
        axis.set_ylabel("")
        ticks = [1, 2, 5] if axis.get_xlim()[1] < 10 else [1, 3, 10, 30, 100, 300]
        axis.xaxis.set_major_locator(FixedLocator(ticks))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        for bars in axis.containers:
            axis.bar_label(bars, fmt="%.2g×", padding=2, fontsize=8)
        axis.set_xlim(0.9, axis.get_xlim()[1] * 1.6)
    grid.set_titles("{col_name}")
    grid.legend.set_title("what varies")
    grid.tight_layout()
    caption = (
        "Each bar is one spread: blue, the slowest over the fastest backend for one style; orange, the "
        "slowest over the fastest style on one backend. The longer the bars of a colour, the more that choice "
        "moves the metric. Intervals: the backend and style tables."
    )
    return _encode(grid.figure, "Which moves time more: the backend or the style?", caption, lead=True)


def step_breakdown(summary: Summary) -> Figure | None:
    """Per panel: each style's profiled step split into its parts (stacked medians), and its
    unprofiled steady step as a black tick, so a reader sees both what the parts add up to
    and how far that is from the step measured without the profiler."""
    table = summary.breakdown
    if table.empty:
        return None
    table = table.assign(panel=table["arch"] + np.where(table["setting"] != "", " · " + table["setting"], ""))
    labels = {part: label.removesuffix(" per steady step") for part, label in why.STEP_PARTS.items()}
    frames = {panel: rows.set_index("who") for panel, rows in table.groupby("panel", sort=False)}
    panels = {panel: frame[list(labels)].rename(columns=labels) for panel, frame in frames.items()}
    figure = _stacked_panels(
        panels, "ms per step (median over trials)", {p: f["step_ms"] for p, f in frames.items()}
    )
    caption = (
        "Each bar is a style's profiled step split by what TensorFlow's trace shows running (medians over trials); "
        "the black tick is its steady step without the profiler. Bars past the tick: the profiler's own cost."
    )
    return _encode(figure, "Where a steady step goes", caption)


def overhead_curves(summary: Summary, reference: str) -> Figure | None:
    """Per model: each style's fitted step over the reference's fitted step against the batch
    size (lines), the measured paired ratios (dots, median over blocks), and the margin band."""
    fits = summary.overheads
    if fits.empty or reference not in set(fits["who"]):
        return None
    models = list(dict.fromkeys(fits["model"]))
    figure, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.6), squeeze=False)
    labels = overhead.fit_labels(summary.ok)
    styles = [w for w in _order(fits) if w != reference]
    palette = dict(zip(styles, sns.color_palette("tab10", len(styles)), strict=False))
    for axis, model in zip(axes.flat, models, strict=True):
        mine = fits[fits["model"] == model].set_index("who")
        ref = mine.loc[reference]
        rows = summary.ok[labels == model]
        batches = np.sort(rows[overhead.BATCH].unique().astype(float))
        grid = np.geomspace(batches[0], batches[-1], 100)
        axis.axhspan(1 - summary.margin, 1 + summary.margin, color="#d9d9d9", alpha=0.6, lw=0,
                     label=f"±{summary.margin:.0%} of {reference}")  # fmt: skip
        for who in styles:
            if who not in mine.index:
                continue
            fit = mine.loc[who]
            ratio = (fit["fixed_ms"] + fit["per_sample_us"] / 1000 * grid) / (
                ref["fixed_ms"] + ref["per_sample_us"] / 1000 * grid
            )
            axis.plot(grid, ratio, color=palette[who], label=who)
            measured = overhead.paired_ratios(rows, who, reference)
            axis.plot(measured.index, measured.to_numpy(), "o", color=palette[who], markersize=4)
        axis.plot([], [], "o", color="grey", markersize=4, label="measured (median over blocks)")
        axis.set_xscale("log", base=2)
        axis.xaxis.set_major_locator(FixedLocator(batches))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("batch size")
        axis.set_ylabel(f"step / {reference}'s step")
        axis.set_title(model)
    figure.tight_layout()
    handles, names = axes[0, 0].get_legend_handles_labels()  # one legend, outside: inside it hides points
    figure.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
    caption = (
        f"Lines: each style's fitted step (fixed + per-sample × batch) over {reference}'s fitted step; dots: the "
        f"measured ratio at each batch size (median over blocks, each block's style step over its {reference} step). "
        f"Inside the grey band the style is within ±{summary.margin:.0%} of {reference}. Intervals: the table above."
    )
    return _encode(figure, "Overhead against size: style / reference by batch size", caption)


def all_figures(summary: Summary, reference: str) -> list[Figure]:
    with _seeded_jitter():
        candidates = [
            decision_matrix(summary, reference), backend_or_style(summary), step_times(summary),
            first_step_phases(summary), accuracy(summary), xla_speedup(summary), throughput(summary),
            step_breakdown(summary), overhead_curves(summary, reference),
        ]  # fmt: skip
    return [figure for figure in candidates if figure is not None]
