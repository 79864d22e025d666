"""`bench export`: MLflow runs or github-action-benchmark JSON (bench/present/export.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bench.commands import UsageError


def export_command(args: Sequence[str]) -> int:
    import json

    from bench.present import export
    from bench.results import ResultsError

    parser = argparse.ArgumentParser(prog="bench export", description="Results into MLflow or CI dashboards.")
    targets = parser.add_subparsers(dest="target", required=True)
    mlflow = targets.add_parser("mlflow", help="one MLflow run per trial under one parent run per sweep")
    mlflow.add_argument("results_dir")
    mlflow.add_argument(
        "--tracking-uri", help="MLflow tracking server (default: $MLFLOW_TRACKING_URI, else ./mlruns)"
    )
    mlflow.add_argument("--experiment", default="stylebench", help="experiment name (default: stylebench)")
    mlflow.add_argument(
        "--report",
        help="a report folder to attach to the parent run (default: reports/<sweep_id> if it exists)",
    )
    github = targets.add_parser("github-benchmark", help="github-action-benchmark customSmallerIsBetter JSON")
    github.add_argument("results_dir")
    github.add_argument("-o", "--output", help="write to this file (default: standard output)")
    options = parser.parse_args(list(args))
    try:
        if options.target == "mlflow":
            report = options.report or Path("reports") / Path(options.results_dir).name
            counts = export.to_mlflow(options.results_dir, options.tracking_uri, options.experiment, report)
            print(
                f"mlflow: {counts['created']} trial runs created, {counts['replaced']} replaced, "
                f"{counts['kept']} already there, in experiment {options.experiment!r}"
            )
            return 0
        text = json.dumps(export.github_benchmark(options.results_dir), indent=1)
    except ResultsError as error:
        raise UsageError(str(error)) from error
    if options.output:
        Path(options.output).write_text(text + "\n")
    else:
        print(text)
    return 0
