"""The Why section (bench/present/why.py) on a synthetic block sweep with known phase costs:
the paired extra of each phase, its interval, and the sentence naming the largest."""

from __future__ import annotations

import re

import numpy as np

from bench import results
from bench.archs import default_spec
from bench.config import BlockConfig, RunConfig
from bench.present.render import render_markdown
from bench.present.summarize import summarize
from tests.test_report import ENVIRONMENT

PHASES = {"construct_ms": 40.0, "build_ms": 2.0, "compile_ms": 5.0, "first_step_ms": 300.0}
TRACE_MS = 120.0  # of the first step


def block_rows(blocks: int = 8) -> list[dict]:
    """functional and subclass in blocks; subclass's first execution 100 ms longer and its
    first execution 6 MiB more memory; raw builds 30 ms faster. Each block drifts as a whole."""
    rng = np.random.default_rng(4)
    rows = []
    for repeat in range(1, blocks + 1):
        drift = rng.normal(0, 10)
        for style in ("functional", "subclass", "raw"):
            phases = {k: v + drift * (k == "first_step_ms") + rng.normal(0, 1) for k, v in PHASES.items()}
            if style == "subclass":
                phases["first_step_ms"] += 100.0
            if style == "raw":
                phases["construct_ms"] -= 30.0
            memory = {
                "mem_build_mb": 1.0,
                "mem_first_step_mb": 10.0 + 6.0 * (style == "subclass"),
                "mem_steady_mb": 0.5,
            }
            config = RunConfig(style=style, arch=default_spec("mlp"), repeat=repeat, sweep_id="why",
                               block=BlockConfig(styles=("functional", "subclass", "raw")))  # fmt: skip
            rows.append({**results.config_columns(config), **ENVIRONMENT, "status": "ok", **phases, **memory,
                         "time_to_first_step_ms": sum(phases.values()), "step_ms_median": 1.0, "trace_ms": TRACE_MS,
                         "test_accuracy": 0.9, "traces_to_first_step": 1 if style == "raw" else 2,
                         "graph_ops": 125 if style == "raw" else 247, "layer_calls": 0 if style == "raw" else 4,
                         "retraces_steady": 0})  # fmt: skip
    return rows


def test_the_largest_extra_cost_is_named_with_its_interval():
    summary = summarize(results.to_frame(block_rows()))
    table = summary.why.set_index(["who", "part"])
    first = table.loc[("subclass", "first_run_ms")]
    assert first["paired"] and first["extra_low"] <= 100 <= first["extra_high"]
    assert first["extra_high"] - first["extra_low"] < 10  # the blocks' drift cancels in the pairs
    assert table.loc[("subclass", "mem_first_step_mb"), "extra"] == 6.0
    subclass = [s for s in summary.why_answers if "subclass" in s][0]
    assert subclass.startswith(
        "On mlp, subclass's largest extra cost against functional is the first execution beyond tracing"
    )
    assert (
        "+6 MiB" in subclass and "traced its train step 2× before its first step (functional: 2×)" in subclass
    )
    raw = [s for s in summary.why_answers if s.startswith("On mlp, raw")][0]
    assert "costs no more than functional" in raw
    saving = re.search(
        r"largest saving is Python construction, (-[\d.]+) ms \(95% CI (-[\d.]+) ms to (-[\d.]+) ms", raw
    )
    assert (
        saving and -32 < float(saving[1]) < -28 and float(saving[2]) <= float(saving[1]) <= float(saving[3])
    )
    assert (
        "It traced its train step 1× before its first step (functional: 2×) into a graph of 125 ops " in raw
    )
    assert "(functional: 247); a forward pass makes 0 Keras layer calls (functional: 4)." in raw
    markdown = render_markdown(summary)
    assert "### Why: each style's largest extra cost against functional" in markdown


def test_unpaired_trials_give_a_difference_without_an_interval():
    rows = [dict(r, design="trial", block_styles="[]") for r in block_rows()]
    summary = summarize(results.to_frame(rows))
    first = summary.why.set_index(["who", "part"]).loc[("subclass", "first_run_ms")]
    assert not first["paired"] and np.isnan(first["extra_low"]) and 80 < first["extra"] < 120
