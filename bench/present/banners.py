"""The report's environment and its banners: what the rows were measured on, and a loud
warning for anything that makes their comparison doubtful (mixed machines, a moving
machine speed, the embedded data, builds that are not the same model, retraces in the
timed steps, trials that shared a host)."""

from __future__ import annotations

import pandas as pd

from bench.decide import cells

ENVIRONMENT = [
    "tensorflow_version", "keras_version", "python_version", "framework_version", "cuda_version", "gpu_name",
    "cpu_model", "cpu_count", "host", "git_commit", "data_dataset", "data_source",
    "data_train_samples", "data_test_samples", "data_sha256",
]  # fmt: skip
MUST_MATCH = ["tensorflow_version", "keras_version", "cpu_model", "host", "git_commit", "gpu_name"]
# Identical models from identical seeds reach the same accuracy up to float reassociation (a
# keras.ops convolution against Conv2D, a hand-written optimizer): at most this gap, inclusive
# (2 of the embedded set's 1,000 test digits); a larger one is a bug, not a style.
ACCURACY_GAP = 0.002


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
    # Each backend writes the anchor in its own framework (bench/runtime/anchor.py): compare like with like.
    for backend, anchors in frame.dropna(subset=["anchor_step_ms"]).groupby("backend")["anchor_step_ms"]:
        low, middle, high = anchors.min(), anchors.median(), anchors.max()
        name = "machine-speed anchor" + ("" if frame["backend"].nunique() == 1 else f" ({backend})")
        described[name] = f"{middle:.3g} ms median over {len(anchors)} trials (range {low:.3g}–{high:.3g} ms)"
        if high > ANCHOR_SPREAD_WARNING * low:
            banners.append(
                f"The machine's own speed moved during this sweep: the fixed anchor workload ({backend}) took "
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
                f"On {cells.where(first['arch'], first['setting'])} the styles reached different test accuracy "
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
        f"{who} on {cells.where(arch, setting)} built a model whose parameters or weight shapes differ from "
        "the reference style's: not the same model, so its timings are not comparable; run bench verify."
        for (who, arch, setting), _ in mismatched.groupby(["who", "arch", "setting"], sort=True)
    ]


def retrace_banners(ok: pd.DataFrame) -> list[str]:
    """Styles whose train step was traced again during the timed steps: each retrace (a new
    graph, and on JAX a new XLA compile) falls inside their steady-step numbers."""
    retraced = ok[ok["retraces_steady"].fillna(0) > 0]
    return [
        f"{who} on {cells.where(arch, setting)} retraced its train step during the timed steps "
        f"({int(group['retraces_steady'].sum())} retraces in {len(group)} trials; column retraces_steady): "
        'its steady-step numbers include new traces and compiles (docs/why.md "Retraces").'
        for (who, arch, setting), group in retraced.groupby(["who", "arch", "setting"], sort=True)
    ]


def contention_banners(ok: pd.DataFrame) -> list[str]:
    """Trials timed while other trials ran on their host (bench/run/jobs.py) carry that contention."""
    shared = ok[ok["concurrent_trials"].fillna(1) > 1]
    if shared.empty:
        return []
    return [
        f"{len(shared)} of {len(ok)} trials were timed while other stylebench trials ran on the same host "
        f"(up to {int(shared['concurrent_trials'].max())} at once; column concurrent_trials): their times "
        "include that contention, so compare them only with trials that shared a host alike. For clean "
        'timings run one trial per host at a time (docs/clusters.md "Running on a cluster").'
    ]
