"""Reports: a results folder -> reports/<sweep_id>/index.html and summary.md.

A pure function of the results folder (the asv way: `run` writes results,
`report` publishes them): summarize (pandas + stats) -> render (Jinja2, seaborn).

The folder owns presenting: the report (`summarize` over `comparisons`, `sentences`,
`banners`, `why` and `overhead`; `figures`, `render`, templates/), the terminal's tables
(`summary`) and the exports to MLflow and github-action-benchmark (`export`). It reads results/ and decide/ and must not import a
backend's runtime, a style, the measuring code or the runner (tests/test_layout.py):
a report is a function of the results folder alone.
"""

from bench.present.render import build_report

__all__ = ["build_report"]
