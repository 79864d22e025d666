"""Reports from a synthetic results table with known differences."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from bench import results
from bench.archs import default_spec
from bench.config import RunConfig
from bench.decide import stats
from bench.present import build_report

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
EVIL = '<script>alert("pwned")</script> & <b>bold</b>'
STEP_MS = {
    "functional": [10.0, 10.2, 9.9, 10.1, 10.05, 9.95],
    "subclass": [15.1, 15.3, 14.8, 15.0, 15.2, 14.9],  # 1.5x slower: a real difference
    "raw": [10.1, 9.9, 10.2, 10.0, 9.7, 10.05],  # the same within noise
}
ENVIRONMENT = {
    "tensorflow_version": "2.21.0", "keras_version": "3.15.1", "python_version": "3.11.7", "backend": "tensorflow",
    "cpu_model": "AMD EPYC", "cpu_count": 2, "host": "vm", "git_commit": "abc123", "data_source": "embedded",
    "data_train_samples": 4000, "data_test_samples": 1000, "data_sha256": "f00d", "peak_gflops": 100.0,
}  # fmt: skip


def _row(style: str, arch: str, repeat: int, **values) -> dict:
    config = RunConfig(style=style, arch=default_spec(arch), repeat=repeat, sweep_id="synthetic")
    return {**results.config_columns(config), **ENVIRONMENT, **values}


def synthetic_rows() -> list[dict]:
    rows = []
    for style, steps in STEP_MS.items():
        for repeat, step in enumerate(steps, start=1):
            phases = {"construct_ms": 50.0, "build_ms": 1.0, "compile_ms": 10.0, "first_step_ms": 900.0}
            rows.append(
                _row(style, "mlp", repeat, status="ok", step_ms_median=step, test_accuracy=0.9 + repeat / 10000,
                     time_to_first_step_ms=sum(phases.values()), gflops_per_s=7.8 / step, **phases)
            )  # fmt: skip
    reason = "keras.Sequential hands one tensor from layer to layer"
    rows.append(_row("sequential", "residual", 1, status="not_applicable", reason=reason))
    rows.append(_row("functions", "mlp", 1, status="error", error=f"ValueError: {EVIL}"))
    return rows


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("results") / "synthetic"
    folder.mkdir()
    for index, row in enumerate(synthetic_rows()):
        results.write_row(folder / f"row{index}.parquet", row)
    return build_report(folder, tmp_path_factory.mktemp("reports"))


def _decisions():
    comparisons = [stats.compare(STEP_MS[style], STEP_MS["functional"]) for style in ("subclass", "raw")]
    return comparisons


def test_verdicts_decide_which_difference_is_real_and_which_is_none(report):
    """Each verdict states its interval at the family's level: 4 comparisons (2 styles x 2
    metrics), each decided, so 1 - 2 x 0.05 x 4 / 4 = 90%; the bounds printed are the rank
    interval at that level, recomputed here from the rows."""
    import re

    html = (report / "index.html").read_text()
    slower, same = _decisions()
    levels = set(re.findall(r"\(([\d.]+)% interval", html))
    assert levels == {"90.0"}
    for comparison, who, word in ((slower, "subclass", "slower by 50%, beyond the ±5% margin"),
                                  (same, "raw", "equivalent within ±5%")):  # fmt: skip
        low, high = stats.interval(comparison, 0.90)
        assert (
            f"{who} steps {comparison.ratio:.2f}× functional (90.0% interval {low:.2f}–{high:.2f}; "
            f"6 repeats per style): {word}"
        ) in html


def test_the_page_opens_with_the_answer(report):
    html = (report / "index.html").read_text()
    slower, same = _decisions()
    answer = (
        f"mlp, steady step against functional: slower: subclass ({slower.ratio:.2f}×); "
        f"equivalent within ±5%: raw ({same.ratio:.2f}×)."
    )
    assert answer in html
    assert html.index("The answer") < html.index("Decisions against functional") < html.index("<h2>Verdicts")
    markdown = (report / "summary.md").read_text()
    assert markdown.index("### The answer") < markdown.index("### Verdicts") and answer in markdown


def test_every_verdict_line_carries_exactly_one_decision_word(report):
    from bench.decide import WORDS

    markdown = (report / "summary.md").read_text()
    section = markdown.split("### Verdicts", 1)[1].split("###", 1)[0]
    items = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(items) == 4  # 2 styles x (steady step, time to first step)
    for line in items:
        assert sum(line.count(word) for word in WORDS) == 1, line


def test_per_cell_table_shows_order_statistic_bounds(report):
    html = (report / "index.html").read_text()
    estimate = stats.median_ci(STEP_MS["subclass"])
    assert estimate.has_interval and f"{estimate.low:.4g}–{estimate.high:.4g}" in html


def test_every_figure_names_every_style_on_every_axis():
    from bench.present.figures import all_figures
    from bench.present.summarize import summarize

    summary = summarize(results.to_frame(synthetic_rows()))
    figures = {figure.title: figure for figure in all_figures(summary, "functional")}
    for title in (
        "Steady step time per style",
        "Test accuracy per style",
        "Achieved GFLOP/s against the machine's peak",
    ):
        for ticks in figures[title].x_ticks:
            assert ticks == ["functional", "subclass", "raw"], (title, ticks)
    assert figures["Decisions against functional"].x_ticks[0] == ["subclass", "raw"]
    assert figures["Time to first step by phase"].y_ticks[0] == ["functional", "subclass", "raw"]


def test_a_damaged_result_file_is_named_in_a_banner_and_the_report_goes_on(tmp_path):
    folder = tmp_path / "damaged"
    folder.mkdir()
    for index, row in enumerate(synthetic_rows()):
        results.write_row(folder / f"row{index}.parquet", row)
    broken = folder / "row3.parquet"
    broken.write_bytes(broken.read_bytes()[:64])  # as a copy cut short leaves it
    html = (build_report(folder, tmp_path / "out") / "index.html").read_text()
    assert "Damaged result file left out of this report (untouched on disk): row3.parquet" in html
    assert broken.stat().st_size == 64
    assert f"{len(synthetic_rows()) - 1} trials" in html


def test_styles_that_reach_different_accuracy_are_flagged():
    from bench.present.summarize import summarize

    rows = synthetic_rows()
    for row in rows:
        if row["style"] == "raw" and row["status"] == "ok":
            row["test_accuracy"] = 0.85
    banners = summarize(results.to_frame(rows)).banners
    assert any("reached different test accuracy" in b and "raw lowest" in b for b in banners)
    rows = synthetic_rows()
    for row in rows:  # within the stated tolerance (float reassociation): no banner
        if row["style"] == "raw" and row["status"] == "ok":
            row["test_accuracy"] -= 0.002
    assert not any("different test accuracy" in b for b in summarize(results.to_frame(rows)).banners)
    assert not any(
        "different test accuracy" in b for b in summarize(results.to_frame(synthetic_rows())).banners
    )


def test_error_text_is_escaped_and_not_applicable_cells_keep_their_reason(report):
    html = (report / "index.html").read_text()
    assert EVIL not in html and "<script>" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "keras.Sequential hands one tensor from layer to layer" in html


def test_every_figure_is_inline_and_nothing_is_fetched(report):
    html = (report / "index.html").read_text()
    images = re.findall(r"<img [^>]*src=\"([^\"]*)\"", html)
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"<(script|link|iframe)\b", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_embedded_data_raises_a_banner_and_markdown_carries_the_verdicts(report):
    html = (report / "index.html").read_text()
    assert 'class="banner"' in html and "embedded MNIST subset" in html
    markdown = (report / "summary.md").read_text()
    assert "slower by 50%" in markdown and "| subclass" in markdown


def test_mixed_machines_raise_a_banner(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    rows = synthetic_rows()[:12]
    rows[0]["host"] = "other-machine"
    for index, row in enumerate(rows):
        results.write_row(folder / f"row{index}.parquet", row)
    html = (build_report(folder, tmp_path / "out") / "index.html").read_text()
    assert "This sweep mixes hosts: other-machine, vm" in html


@pytest.mark.skipif(not CHROMIUM.exists(), reason="apt install chromium (.ci/run does)")
def test_report_renders_in_headless_chromium_offline(report):
    from playwright.sync_api import sync_playwright

    problems, requests = [], []
    screenshot = REPO / "reports" / "_tests" / "report-screenshot.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto((report / "index.html").as_uri(), wait_until="load")
        loaded = page.evaluate(
            "[...document.images].every(image => image.complete && image.naturalWidth > 0)"
        )
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert problems == []
    assert [url for url in requests if not url.startswith(("file://", "data:"))] == []
    assert loaded and screenshot.stat().st_size > 10_000


def test_a_machine_whose_speed_moved_raises_a_banner():
    from bench.present.banners import environment

    rows = synthetic_rows()[:10]
    for row in rows:
        row.update(anchor_step_ms=2.0, anchor_version=1)
    rows[3]["anchor_step_ms"] = 3.5
    described, banners = environment(results.to_frame(rows))
    assert described["machine-speed anchor"] == "2 ms median over 10 trials (range 2–3.5 ms)"
    assert any("(1.75× apart)" in banner for banner in banners)
    rows[3]["anchor_step_ms"] = 2.2
    assert not any("anchor" in banner for banner in environment(results.to_frame(rows))[1])


def test_a_model_that_does_not_match_the_reference_is_flagged():
    from bench.present.summarize import summarize

    rows = synthetic_rows()
    assert not any("differ from the reference" in b for b in summarize(results.to_frame(rows)).banners)
    for row in rows:
        if row["style"] == "subclass" and row["status"] == "ok":
            row["matches_reference"] = False
    banners = summarize(results.to_frame(rows)).banners
    assert [b for b in banners if "differ from the reference" in b and b.startswith("subclass on")]


def test_the_two_clocks_and_their_gap_per_cell():
    from bench.present.render import render_markdown
    from bench.present.summarize import summarize

    rows = synthetic_rows()
    for row in rows:
        if row.get("step_ms_median"):
            row["step_ms_block"] = row["step_ms_median"] * (0.9 if row["style"] == "subclass" else 1.0)
    summary = summarize(results.to_frame(rows))
    gaps = summary.clocks.set_index("who")["gap"]
    assert gaps["subclass"] == pytest.approx(0.9) and gaps["functional"] == pytest.approx(1.0)
    assert "### Two clocks" in render_markdown(summary)


def test_fit_against_custom_loop_per_style():
    from bench.present.summarize import summarize

    rows = []
    for loop, factor in (("fit", 1.2), ("custom", 1.0)):
        for style, steps in STEP_MS.items():
            for repeat, step in enumerate(steps, start=1):
                row = _row(style, "mlp", repeat, status="ok", step_ms_median=step * (factor if style != "raw" else 1.0),
                           time_to_first_step_ms=900.0, test_accuracy=0.9)  # fmt: skip
                row["train_loop"] = loop
                rows.append(row)
    loops = summarize(results.to_frame(rows)).loops.set_index("who")
    assert loops.loc["functional", "ratio"] == pytest.approx(1.2, rel=0.02)
    assert loops.loc["functional", "decision"] == "slower"
    assert loops.loc["raw", "decision"] != "slower" and loops.loc["raw", "ratio"] == pytest.approx(
        1.0, abs=0.03
    )
    assert summarize(results.to_frame(synthetic_rows())).loops.empty  # one loop: no such table


def test_the_decision_matrix_names_its_blank_cells():
    """sequential cannot express residual: its blank cell says so in the figure's own words, and a
    style with no successful residual trial is marked apart from it."""
    from bench.present.figures import BLANK_MEANINGS, decision_matrix
    from bench.present.summarize import summarize

    rows = synthetic_rows()  # sequential on residual: not_applicable; raw: mlp only
    for repeat, step in enumerate(STEP_MS["functional"], start=1):
        rows += [
            _row(style, "residual", repeat, status="ok", step_ms_median=step)
            for style in ("functional", "subclass")
        ]
        rows.append(_row("sequential", "mlp", repeat, status="ok", step_ms_median=step))
    caption = decision_matrix(summarize(results.to_frame(rows)), "functional").caption
    assert f"n/a: {BLANK_MEANINGS['n/a']}" in caption  # sequential on residual
    assert f"—: {BLANK_MEANINGS['—']}" in caption  # raw on residual: no trials there
    complete = decision_matrix(summarize(results.to_frame(synthetic_rows())), "functional").caption
    assert "n/a" not in complete and "—" not in complete


def test_one_results_folder_always_draws_the_same_report_byte_for_byte(report, tmp_path):
    """A report is a function of its results folder: built again (after the global NumPy
    generator, which seaborn's strip-plot jitter draws from, has moved on) it is the same
    bytes; without the seeded jitter two builds differed in every strip plot."""
    import numpy as np

    folder = tmp_path / "synthetic"
    folder.mkdir()
    for index, row in enumerate(synthetic_rows()):
        results.write_row(folder / f"row{index}.parquet", row)
    np.random.seed(12345)
    first = (build_report(folder, tmp_path / "one") / "index.html").read_bytes()
    after = np.random.random()
    np.random.seed(999)
    second = (build_report(folder, tmp_path / "two") / "index.html").read_bytes()
    assert first == second
    np.random.seed(12345)
    assert np.random.random() == after, "the report must leave the caller's generator where it found it"
    assert first == (report / "index.html").read_bytes()  # built earlier, maybe minutes earlier


def test_the_report_says_when_its_trials_ran_from_the_results_not_the_clock(tmp_path):
    from bench.present.render import trials_ran

    assert trials_ran(results.to_frame(synthetic_rows())) == ""  # no trial recorded a start
    rows = synthetic_rows()[:3]
    for row, moment in zip(
        rows, ["2026-12-06T03:51:10", "2026-12-06T03:57:59", "2026-12-06T03:55:00"], strict=True
    ):
        row["started_at"] = pd.Timestamp(moment, tz="UTC")
    assert trials_ran(results.to_frame(rows)) == "2026-12-06 03:51–03:57 UTC"
    rows[1]["started_at"] = pd.Timestamp("2026-12-07T00:10:00", tz="UTC")
    assert trials_ran(results.to_frame(rows)) == "2026-12-06 03:51–2026-12-07 00:10 UTC"
