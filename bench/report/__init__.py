"""Reports: a results folder -> reports/<sweep_id>/index.html and summary.md.

A pure function of the results folder (the asv way: `run` writes results,
`report` publishes them): summarize (pandas + stats) -> render (Jinja2, seaborn).
"""

from bench.report.render import build_report

__all__ = ["build_report"]
