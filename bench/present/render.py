"""Render a Summary as one self-contained HTML page (Jinja2, autoescaped, figures
inline) and as Markdown fit for a pull request or a CI job summary."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from bench import decide, results
from bench.decide.looks import read as read_looks
from bench.present.comparisons import METRIC_WORDS
from bench.present.figures import all_figures
from bench.present.summarize import Summary, summarize

TEMPLATES = Path(__file__).parent / "templates"


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def _interval(low: Any, high: Any) -> str:
    return "-" if _number(low) == "-" else f"{_number(low)}–{_number(high)}"


def table_rows(table: pd.DataFrame, decisions: pd.DataFrame) -> list[dict[str, Any]]:
    """The per-cell table, with each cell's decision against the reference, formatted for people."""
    keyed = decisions.set_index(["arch", "setting", "who", "metric"]) if len(decisions) else None
    rows = []
    for _, row in table.iterrows():
        key = (row["arch"], row["setting"], row["who"], row["metric"])
        d = keyed.loc[key] if keyed is not None and key in keyed.index else None
        rows.append(
            {
                "arch": row["arch"], "setting": row["setting"], "style": row["who"], "label": row["label"],
                "n": row["n"], "median": _number(row["median"]), "ci": _interval(row["low"], row["high"]),
                "ratio": _number(None if d is None else d["ratio"], 3),
                "ratio_ci": "-" if d is None else _interval(d["ratio_low"], d["ratio_high"]),
                "decision": "" if d is None else d["decision"],
                "p": "-" if d is None else _number(d["p_adjusted"], 2),
            }
        )  # fmt: skip
    return rows


def clock_rows(clocks: pd.DataFrame) -> list[dict[str, Any]]:
    """Both steady-step clocks per cell and their gap, formatted for people."""
    return [
        {
            "arch": row["arch"], "setting": row["setting"], "style": row["who"], "n": row["n"],
            "per_step": _number(row["per_step_ms"]), "block": _number(row["block_ms"]),
            "gap": _number(row["gap"], 3), "gap_ci": _interval(row["gap_low"], row["gap_high"]),
        }
        for _, row in clocks.iterrows()
    ]  # fmt: skip


def loop_rows(loops: pd.DataFrame) -> list[dict[str, Any]]:
    """Fit loop against custom loop per style, formatted for people."""
    return [
        {
            "arch": row["arch"], "setting": row["setting"], "style": row["who"], "n": row["n"],
            "ratio": _number(row["ratio"], 3), "ci": _interval(row["ratio_low"], row["ratio_high"]),
            "decision": row["decision"], "reason": row["reason"],
        }
        for _, row in loops.iterrows()
    ]  # fmt: skip


def backend_rows(backends: pd.DataFrame) -> list[dict[str, Any]]:
    """Each style on jax or torch against tensorflow, per metric, formatted for people."""
    return [
        {
            "arch": row["arch"], "setting": row["setting"], "style": row["who"], "backend": row["value"],
            "metric": METRIC_WORDS.get(row["metric"], row["metric"]), "n": row["n"],
            "ratio": _number(row["ratio"], 3), "ci": _interval(row["ratio_low"], row["ratio_high"]),
            "decision": row["decision"], "reason": row["reason"],
        }
        for _, row in backends.iterrows()
    ]  # fmt: skip


def overhead_rows(overheads: pd.DataFrame) -> list[dict[str, Any]]:
    """Each style's fitted fixed overhead and per-sample cost per model, formatted for people."""
    return [
        {
            "model": row["model"], "style": row["who"], "n": row["n"], "batches": row["batches"],
            "fixed": _number(row["fixed_ms"], 3), "fixed_ci": _interval(row["fixed_low"], row["fixed_high"]),
            "per_sample": _number(row["per_sample_us"], 3),
            "per_sample_ci": _interval(row["per_sample_low"], row["per_sample_high"]),
            "r2": _number(row["r2"], 3), "extra": _number(row["extra_fixed_ms"], 3),
            "extra_ci": _interval(row["extra_fixed_low"], row["extra_fixed_high"]),
            "crossing": row["crossing"] if isinstance(row["crossing"], str) else "-",
        }
        for _, row in overheads.iterrows()
    ]  # fmt: skip


def why_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each style's phases against the reference, formatted for people."""
    return [
        {
            "arch": row["arch"], "setting": row["setting"], "style": row["who"], "part": row["label"],
            "unit": row["unit"], "median": _number(row["median"], 3), "extra": _number(row["extra"], 3),
            "ci": _interval(row["extra_low"], row["extra_high"]),
            "n": "-" if pd.isna(row["n"]) else int(row["n"]),
        }
        for _, row in table.iterrows()
    ]  # fmt: skip


def breakdown_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The profiled step's parts per style, their sum against the unprofiled step, formatted."""
    from bench.present.why import STEP_PARTS

    return [
        {
            "arch": row["arch"], "setting": row["setting"], "style": row["who"], "n": row["n"],
            "parts": [_number(row[part], 3) for part in STEP_PARTS], "sum": _number(row["parts_ms"], 3),
            "step": _number(row["step_ms"], 3), "ratio": _number(row["parts_over_step"], 3),
            "overhead": _number(row["overhead"], 3),
        }
        for _, row in table.iterrows()
    ]  # fmt: skip


def trials_ran(frame: Any) -> str:
    """When the folder's trials started, first to last (UTC), from their `started_at`: the
    report is a function of its results folder, so it states when they ran, not when it was
    drawn ('' where no trial recorded a start)."""
    started = pd.to_datetime(frame["started_at"], utc=True).dropna() if "started_at" in frame else []
    if not len(started):
        return ""
    first, last = (moment.strftime("%Y-%m-%d %H:%M") for moment in (started.min(), started.max()))
    if first[:10] == last[:10]:
        last = last[11:]
    return f"{first}–{last} UTC" if first != last else f"{first} UTC"


def render_html(summary: Summary, figures: list, ran: str) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("report.html.j2").render(
        summary=summary,
        figures=figures,
        rows=table_rows(summary.table, summary.decisions),
        clocks=clock_rows(summary.clocks),
        loops=loop_rows(summary.loops),
        backends=backend_rows(summary.backends),
        overheads=overhead_rows(summary.overheads),
        why=why_rows(summary.why),
        breakdown=breakdown_rows(summary.breakdown),
        compile_modes=summary.compile_modes.to_dict("records"),
        rule=decide.rule_text(summary.margin, summary.alpha),
        na=summary.not_applicable.to_dict("records"),
        errors=summary.errors.to_dict("records"),
        skipped=summary.skipped.to_dict("records"),
        ran=ran,
    )


def render_markdown(summary: Summary) -> str:
    """The answer, then one verdict per comparison and the steady-step table, for a PR comment
    or $GITHUB_STEP_SUMMARY."""
    lines = [f"## stylebench: sweep `{summary.sweep_id}` ({summary.trials} trials)", ""]
    lines += [f"> **Warning:** {banner}" for banner in summary.banners]
    lines += ["", "### The answer", ""] + (
        summary.answers or ["No style could be compared with the reference."]
    )
    lines += [f"- {line}" for line in summary.backend_answers]
    lines += ["", decide.rule_text(summary.margin, summary.alpha)]
    lines += ["", "### Verdicts", ""] + [f"- {line}" for line in summary.verdicts]
    rows = table_rows(summary.table[summary.table["metric"] == "step_ms_median"], summary.decisions)
    steps = pd.DataFrame(rows)
    if not steps.empty:
        steps = steps.drop(columns=["label"]).rename(
            columns={
                "median": "step ms",
                "ci": "95% CI",
                "ratio": f"× {summary.reference}",
                "ratio_ci": "ratio interval (family level)",
                "p": "adjusted p",
            }
        )
        lines += ["", "### Steady step time", "", steps.to_markdown(index=False)]
    if len(summary.clocks):
        clocks = pd.DataFrame(clock_rows(summary.clocks)).rename(
            columns={
                "per_step": "per-step ms",
                "block": "block ms",
                "gap": "block / per-step",
                "gap_ci": "95% CI",
            }
        )
        lines += ["", "### Two clocks", "", clocks.to_markdown(index=False)]
    if len(summary.loops):
        loops = pd.DataFrame(loop_rows(summary.loops)).drop(columns=["reason"])
        lines += ["", "### Fit loop against custom loop (steady step)", "", loops.to_markdown(index=False)]
    if len(summary.backends):
        table = pd.DataFrame(backend_rows(summary.backends)).drop(columns=["reason"])
        lines += ["", "### Backends against tensorflow", "", table.to_markdown(index=False)]
        lines += ["", "Compile toggle per backend:", "", summary.compile_modes.to_markdown(index=False)]
    if summary.why_answers:
        lines += ["", f"### Why: each style's largest extra cost against {summary.reference}", ""]
        lines += [f"- {line}" for line in summary.why_answers]
    if len(summary.breakdown):
        rows = [
            {"arch": r["arch"], "setting": r["setting"], "style": r["style"], "n": r["n"],
             **dict(zip(["compute ms", "input ms", "framework ms", "untraced ms"], r["parts"], strict=True)),
             "sum ms": r["sum"], "unprofiled step ms": r["step"], "sum / step": r["ratio"], "profiler cost": r["overhead"]}
            for r in breakdown_rows(summary.breakdown)
        ]  # fmt: skip
        lines += [
            "",
            "### Where a steady step goes (each backend's own profiler)",
            "",
            pd.DataFrame(rows).to_markdown(index=False),
        ]
    if len(summary.overheads):
        table = pd.DataFrame(overhead_rows(summary.overheads)).rename(
            columns={"fixed": "fixed ms", "fixed_ci": "95% CI", "per_sample": "µs per sample",
                     "per_sample_ci": "95% CI ", "extra": f"extra fixed ms vs {summary.reference}",
                     "extra_ci": "95% CI  ", "crossing": f"within ±{summary.margin:.0%} of {summary.reference}"}
        )  # fmt: skip
        lines += ["", "### Overhead against size", ""] + [f"- {line}" for line in summary.overhead_answers]
        lines += ["", table.to_markdown(index=False)]
    if len(summary.not_applicable):
        lines += ["", "### Not applicable", "", summary.not_applicable.to_markdown(index=False)]
    if len(summary.errors):
        errors = summary.errors.assign(
            error=summary.errors["error"].str.replace("|", "\\|").str.slice(0, 200)
        )
        lines += ["", "### Errors", "", errors.to_markdown(index=False)]
    return within_limit("\n".join(lines) + "\n")


SUMMARY_LIMIT = 1024 * 1024  # GitHub's job-summary limit per step, in bytes


def within_limit(markdown: str, limit: int = SUMMARY_LIMIT) -> str:
    """`markdown` cut at a line so that it and a closing note fit in `limit` bytes."""
    size = len(markdown.encode())
    if size <= limit:
        return markdown
    note = (
        f"\n\n> **Truncated:** this summary is {size:,} bytes, over GitHub's {limit:,}-byte job-summary "
        "limit; the rest is in the report's index.html.\n"
    )
    room = limit - len(note.encode())
    cut = markdown.encode()[:room].decode(errors="ignore")
    return cut[: cut.rfind("\n")] + note


def looks_alpha(results_dir: str | Path, alpha: float) -> tuple[float, list[str]]:
    """The alpha a sweep's decisions are made at, and the banner saying why: for a sweep that
    added blocks look by look (`--settle-budget`, looks.json), the share of the look it
    stopped at; otherwise alpha itself."""
    looks = read_looks(results_dir)
    if looks is None:
        return alpha, []
    share = decide.spend(alpha, looks.reached, looks.looks)
    return share, [
        f"This sweep added blocks where comparisons were undecided (planned looks at "
        f"{', '.join(map(str, looks.looks))} blocks; it stopped at {looks.reached}): every decision "
        f"is made at that look's share of alpha, {share:.3g}, so the error rate holds over all the looks."
    ]


def build_report(
    results_dir: str | Path,
    out_dir: str | Path = "reports",
    reference: str = "functional",
    margin: float = decide.MARGIN,
    alpha: float = decide.ALPHA,
    allow_mixed_hardware: bool = False,
) -> Path:
    """Write <out_dir>/<sweep_id>/index.html and summary.md; return the folder. A damaged
    result file is left out under a banner naming it."""
    frame, damaged = results.load_checked(results_dir)
    alpha, banner = looks_alpha(results_dir, alpha)
    summary = summarize(frame, reference, margin, alpha, damaged, allow_mixed_hardware)
    summary.banners.extend(banner)
    figures = all_figures(summary, reference)
    folder = Path(out_dir) / Path(results_dir).name
    folder.mkdir(parents=True, exist_ok=True)
    results.write_atomic(folder / "index.html", render_html(summary, figures, trials_ran(frame)).encode())
    results.write_atomic(folder / "summary.md", render_markdown(summary).encode())
    return folder
