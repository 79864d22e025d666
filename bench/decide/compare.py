"""Baseline vs current: a regression gate that neither cries wolf nor passes blind.

Each cell (bench.decide.cells, matched across the stand-ins for a code change such as
`train.inject_delay_ms`) and time metric is decided by bench.decide with the
threshold as the margin: REGRESSION when current is *slower* (beyond the
threshold and significant, Benjamini-Hochberg over the gate's decisions);
otherwise faster, equivalent or undecided, said as such. Accuracy is checked
apart: a median drop beyond a tolerance is a regression.

The gate never passes blind: a baseline cell that is missing, errored or
without numbers in current is a failure naming it; repeats too few for any
test to reach alpha, or a damaged result file, end the gate with exit 2.

Anchored mode (`--anchored`) is for a baseline measured in another session:
each trial also timed a fixed workload (bench/runtime/anchor.py), and the ratio of the
two sides' median anchors is the machine factor. On a slower current machine
(factor > 1) a cell regresses only when slower both in milliseconds and with
the factor divided out (contention slows the small anchor more than the step);
on a faster one (factor <= 1) the milliseconds understate a slowdown, so the
anchored witness alone decides (the machine counts as faster only when its anchor
is faster beyond the threshold and significantly, by the same rule: an anchor factor below
1 by noise would otherwise turn noise into a regression). The anchor does not travel perfectly between
hosts; `bench compare --against REF` (bench/run/against.py) avoids stored numbers
altogether and is what CI runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench import decide, results
from bench.decide import cells, stats

ACCURACY = "test_accuracy"
ANCHOR = "anchor_step_ms"
REGRESSION, ACCURACY_DROP, MISSING, ERRORED, UNCHANGED = (
    "REGRESSION",
    "ACCURACY DROP",
    "MISSING",
    "ERRORED",
    "ok",
)


class UnusableInput(Exception):
    """The two result sets cannot be compared; the message is one line."""


@dataclass(frozen=True)
class Verdict:
    cell: str
    metric: str
    baseline: float
    current: float
    comparison: stats.Comparison
    status: str
    anchored: stats.Comparison | None = None  # the same comparison with the machine factor divided out
    detail: str = ""
    decision: decide.Decision | None = None  # the rule's decision (in milliseconds), for a time metric

    @property
    def failed(self) -> bool:
        return self.status in (REGRESSION, ACCURACY_DROP, MISSING, ERRORED)

    @property
    def undecided(self) -> bool:
        """A gated comparison the rule could not place: the gate does not pass it."""
        return self.status == decide.UNDECIDED


def load_all(path: str | Path) -> pd.DataFrame:
    """Every row of a sweep folder or exported Parquet file; a damaged file is UnusableInput."""
    try:
        frame, damaged = results.load_checked(path)
    except (results.ResultsError, OSError, ValueError) as error:
        raise UnusableInput(str(error)) from error
    if damaged:
        raise UnusableInput(f"damaged result file in {path}: {damaged[0]}")
    if not (frame["status"] == "ok").any():
        raise UnusableInput(f"{path}: no successful trials to compare")
    return frame


def _keyed(frame: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    return frame.assign(cell_key=cells.key(frame, ignore=cells.TREATMENT), cell=labels)


def _labels(baseline: pd.DataFrame, current: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """'raw/mlp' plus the settings that vary across both sides, e.g. 'raw/mlp (XLA)'."""
    both = pd.concat([baseline, current], keys=["b", "c"])
    settings = cells.setting_labels(both, ignore=cells.TREATMENT)
    who = [cells.style_label(s, v) for s, v in zip(both["style"], both["variant"], strict=True)]
    text = pd.Series(who, index=both.index) + "/" + both["arch"].astype(str)
    text = text + settings.map(lambda s: f" ({s})" if s else "")
    return text.loc["b"], text.loc["c"]


def machine_factor(baseline: pd.DataFrame, current: pd.DataFrame) -> float:
    """How much slower the machine ran the fixed anchor workload in `current` than in
    `baseline`: the ratio of the median anchor over all ok trials of each side."""
    baseline, current = baseline[baseline["status"] == "ok"], current[current["status"] == "ok"]
    for name, frame in (("baseline", baseline), ("current", current)):
        if frame[ANCHOR].isna().any():
            raise UnusableInput(
                f"{name} has trials without {ANCHOR}; re-measure it with train.anchor_steps>0 (make baseline)"
            )
    versions = set(baseline["anchor_version"]) | set(current["anchor_version"])
    if len(versions) > 1:
        raise UnusableInput(
            f"anchor versions differ ({sorted(int(v) for v in versions)}); re-measure the baseline (make baseline)"
        )
    backends = set(baseline["backend"].dropna()) | set(current["backend"].dropna())
    if len(backends) > 1:  # each backend times the anchor in its own framework: not one workload
        raise UnusableInput(
            f"anchored comparison over several backends ({', '.join(sorted(backends))}); "
            "compare one backend at a time (--anchored divides by one anchor workload)"
        )
    return float(current[ANCHOR].median() / baseline[ANCHOR].median())


def check_hardware(baseline: pd.DataFrame, current: pd.DataFrame, anchored: bool, allowed: bool) -> None:
    """UnusableInput when a ratio would mix hardware: rows of one side from several kinds, or,
    unless the anchor divides the machine out (--anchored), the two sides from different ones."""
    ok = {"baseline": baseline[baseline["status"] == "ok"], "current": current[current["status"] == "ok"]}
    checks = [(frame, f"the {name}'s rows", "") for name, frame in ok.items()]
    if not anchored:
        both = pd.concat(ok.values())
        checks.append((both, "baseline and current", "; for a baseline from another machine, --anchored"))
    for frame, what, hint in checks:
        try:
            warning = cells.check_hardware(frame, allowed, what)
        except cells.MixedHardware as error:
            raise UnusableInput(f"{error}{hint}") from error
        if warning:
            print(f"warning: {warning}", file=sys.stderr)


def _values(
    base: pd.DataFrame, cur: pd.DataFrame, metric: str, paired: bool
) -> tuple[np.ndarray, np.ndarray]:
    if paired:  # the two sides of one repeat ran back to back
        joined = (
            cur.set_index("repeat")[metric]
            .to_frame("c")
            .join(base.set_index("repeat")[metric].to_frame("b"), how="inner")
        )
        return joined["c"].to_numpy(float), joined["b"].to_numpy(float)
    return cur[metric].to_numpy(float), base[metric].to_numpy(float)


def matched(base: pd.DataFrame, cur: pd.DataFrame, paired: bool) -> int:
    """The repeats that count: repeats present on both sides (paired), or the smaller side."""
    if paired:
        return len(set(base["repeat"]) & set(cur["repeat"]))
    return min(len(base), len(cur))


def check_repeats(pairs: list[tuple[str, int, int, int]], alpha: float, paired: bool) -> None:
    """UnusableInput when a cell has too few repeats (matched pairs, when paired) for any
    test to reach alpha: (label, baseline rows, current rows, repeats that count)."""
    need = stats.repeats_to_reach(alpha, paired)
    for label, n_base, n_cur, usable in pairs:
        if usable < need:
            unit = "paired repeats" if paired else "repeats per side"
            have = (
                f"{usable} matched pairs of {n_base} vs {n_cur} repeats"
                if paired
                else (f"{n_base} vs {n_cur} repeats")
            )
            raise UnusableInput(
                f"{label}: {have} can never reach p < {alpha:g}; "
                f"run at least {need} {unit} (repeat=range(1,{need + 1}))"
            )


def compare_frames(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    metrics: list[str],
    threshold: float,
    alpha: float,
    accuracy_tolerance: float,
    factor: float | None = None,
    paired: bool = False,
    faster: bool | None = None,
) -> list[Verdict]:
    """A verdict per baseline cell and metric, plus an accuracy verdict per cell; a baseline
    cell without usable current rows is a MISSING verdict naming why. `faster` (whether the
    current machine is shown faster, see machine_is_faster) is worked out here unless given."""
    unknown = [m for m in metrics if m not in results.SCHEMA or results.SCHEMA[m] != "float64"]
    if unknown:
        raise UnusableInput(
            f"unknown metric {unknown[0]!r}; pass a numeric results column, e.g. step_ms_median"
        )
    base_labels, cur_labels = _labels(baseline, current)
    baseline, current = _keyed(baseline, base_labels), _keyed(current, cur_labels)
    base_ok, cur_ok = baseline[baseline["status"] == "ok"], current[current["status"] == "ok"]
    common = sorted(set(base_ok["cell_key"]) & set(cur_ok["cell_key"]))
    if not common:
        raise UnusableInput(
            f"no common cells: baseline has {base_ok['cell'].nunique()} cells, current "
            f"{cur_ok['cell'].nunique()}, none with the same configuration"
        )
    verdicts = [_missing(key, base_ok, current) for key in sorted(set(base_ok["cell_key"]) - set(common))]
    verdicts = [v for v in verdicts if v is not None]
    sides = {key: (base_ok[base_ok["cell_key"] == key], cur_ok[cur_ok["cell_key"] == key]) for key in common}
    check_repeats(
        [(c["cell"].iloc[0], len(b), len(c), matched(b, c, paired)) for b, c in sides.values()], alpha, paired
    )
    verdicts += _errored(baseline, current, common)
    judged: list[tuple[str, str, pd.DataFrame, pd.DataFrame, stats.Comparison, stats.Comparison | None]] = []
    for base, cur in sides.values():
        label = cur["cell"].iloc[0]
        for metric in metrics:
            if cur[metric].isna().all() and base[metric].notna().any():
                verdicts.append(_no_numbers(label, metric, base))
                continue
            a, b = _values(base, cur, metric, paired)
            plain = stats.compare(a, b, margin=threshold, paired=paired)
            anchored = (
                None if factor is None else stats.compare(a / factor, b, margin=threshold, paired=paired)
            )
            judged.append((label, metric, base, cur, plain, anchored))
    if faster is None:
        faster = factor is not None and machine_is_faster(base_ok, cur_ok, threshold, alpha)
    verdicts += _decide(judged, threshold, alpha, factor, faster)
    for base, cur in sides.values():
        verdicts.append(_accuracy(cur["cell"].iloc[0], base, cur, accuracy_tolerance))
    return verdicts


def machine_is_faster(base_ok: pd.DataFrame, cur_ok: pd.DataFrame, threshold: float, alpha: float) -> bool:
    """Whether the current machine ran the anchor faster, decided by the same rule as the code:
    beyond the threshold and significant. A factor below 1 by noise alone must not let the
    machine-free witness, which divides by that noise, decide by itself."""
    comparison = stats.compare(cur_ok[ANCHOR], base_ok[ANCHOR], margin=threshold)
    return decide.decide(comparison, threshold, alpha).word == decide.FASTER


def _decide(
    judged: list, threshold: float, alpha: float, factor: float | None, faster: bool
) -> list[Verdict]:
    """Every time metric decided as one family; the anchored witness as described in the module doc."""
    plain = decide.decide_all([j[4] for j in judged], threshold, alpha)
    anchored = decide.decide_all([j[5] for j in judged], threshold, alpha) if factor is not None else plain
    verdicts = []
    for (label, metric, base, cur, comparison, relative), p, r in zip(judged, plain, anchored, strict=True):
        if factor is None:
            word = p.word
        elif faster:  # a faster machine hides a slowdown in ms: the machine-free witness decides
            word = r.word
        else:
            word = p.word if p.word == r.word else decide.UNDECIDED
        status = REGRESSION if word == decide.SLOWER else word
        detail = p.reason() if factor is None else f"{p.reason()}; ÷anchor: {r.reason()}"
        verdicts.append(
            Verdict(label, metric, float(base[metric].median()), float(cur[metric].median()), comparison,
                    status, relative, detail, p)
        )  # fmt: skip
    return verdicts


def _missing(key: str, base_ok: pd.DataFrame, current: pd.DataFrame) -> Verdict | None:
    base = base_ok[base_ok["cell_key"] == key]
    label = base["cell"].iloc[0]
    mine = current[current["cell_key"] == key]
    if mine.empty:
        detail = "no trials of this cell in current (the style vanished or the config changed)"
    else:
        statuses = ", ".join(sorted(set(mine["status"])))
        message = mine["error"].dropna()
        detail = f"no successful trial in current ({statuses})" + (
            f": {message.iloc[0][:200]}" if len(message) else ""
        )
    nan = float("nan")
    empty = stats.Comparison(nan, nan, nan, nan, 0, len(base))
    return Verdict(label, "trials", float(len(base)), float(len(mine)), empty, MISSING, None, detail)


def _errored(baseline: pd.DataFrame, current: pd.DataFrame, common: list[str]) -> list[Verdict]:
    """An ERRORED verdict per compared cell with errored trials on either side: their repeats
    would otherwise drop out of the comparison without a word."""
    verdicts = []
    nan = float("nan")
    for key in common:
        for side, frame in (("current", current), ("baseline", baseline)):
            mine = frame[frame["cell_key"] == key]
            errors = mine[mine["status"] == "error"]
            if errors.empty:
                continue
            message = errors["error"].dropna()
            detail = f"{len(errors)} of {len(mine)} trials errored in {side}" + (
                f": {str(message.iloc[0])[:200]}" if len(message) else ""
            )
            empty = stats.Comparison(nan, nan, nan, nan, 0, 0)
            verdicts.append(
                Verdict(mine["cell"].iloc[0], "trials", nan, float(len(errors)), empty, ERRORED, None, detail)
            )
    return verdicts


def _no_numbers(label: str, metric: str, base: pd.DataFrame) -> Verdict:
    nan = float("nan")
    empty = stats.Comparison(nan, nan, nan, nan, 0, len(base))
    detail = f"{metric} is missing (NaN) in every current trial"
    return Verdict(label, metric, float(base[metric].median()), nan, empty, MISSING, None, detail)


def _accuracy(label: str, base: pd.DataFrame, cur: pd.DataFrame, tolerance: float) -> Verdict:
    drop = float(base[ACCURACY].median() - cur[ACCURACY].median())
    status = ACCURACY_DROP if (drop > tolerance or cur[ACCURACY].isna().all()) else UNCHANGED
    comparison = stats.compare(cur[ACCURACY], base[ACCURACY])
    detail = f"median drop {drop:.4f} (tolerance {tolerance:g})"
    return Verdict(label, ACCURACY, float(base[ACCURACY].median()), float(cur[ACCURACY].median()),
                   comparison, status, None, detail)  # fmt: skip


def _row(v: Verdict) -> dict[str, str]:
    c, d = v.comparison, v.decision
    low, high = (c.low, c.high) if d is None else (d.low, d.high)
    interval = "-" if not np.isfinite(low) else f"{low:.3f}–{high:.3f}"
    row = {
        "cell": v.cell, "metric": v.metric, "n": f"{c.n_reference}/{c.n_candidate}",
        "baseline": f"{v.baseline:.4g}", "current": f"{v.current:.4g}", "ratio": f"{c.ratio:.3f}",
        "interval": interval, "level": "95%" if d is None else f"{d.level:.1%}",
        "adjusted p": f"{c.p_value:.2g}" if d is None else f"{d.p_adjusted:.2g}",
    }  # fmt: skip
    if v.anchored is not None:
        row["÷anchor ratio"] = f"{v.anchored.ratio:.3f}"
        row["÷anchor p"] = f"{v.anchored.p_value:.2g}"
    return {**row, "verdict": v.status}


def table(verdicts: list[Verdict]) -> pd.DataFrame:
    return pd.DataFrame([_row(v) for v in verdicts]).fillna("")


def rule_text(
    threshold: float, alpha: float, factor: float | None, paired: bool = False, faster: bool = False
) -> str:
    rule = (
        f"a cell regresses when current is slower beyond {threshold:.0%}: its ratio's interval lies wholly "
        f"above {1 + threshold:.2f} (a one-sided {'signed-rank test, paired by repeat' if paired else 'Mann-Whitney test'} "
        f"against the threshold, Benjamini-Hochberg adjusted over every gated comparison, p < {alpha:g}); "
        f"equivalent when the interval lies within ±{threshold:.0%}; anything else is undecided, and an "
        f"undecided gate does not pass (exit 3)"
    )
    if factor is not None:
        witness = (
            "with the machine's speed divided out (the current machine is shown faster, so milliseconds "
            "understate a slowdown)"
            if faster
            else "both in milliseconds and with the machine's speed divided out"
        )
        rule += f"; judged {witness}: the fixed anchor workload ran {factor:.3f}× as long in current as in baseline"
    return (
        rule
        + ". A baseline cell missing or without numbers in current, or errored trials on either side, fail."
    )


def markdown(
    verdicts: list[Verdict],
    threshold: float,
    alpha: float,
    factor: float | None = None,
    paired: bool = False,
    faster: bool = False,
) -> str:
    failed = [v for v in verdicts if v.failed]
    undecided = [v for v in verdicts if v.undecided]
    head = "**Regression**" if failed else "**Undecided**" if undecided else "**No regression**"
    rule = rule_text(threshold, alpha, factor, paired, faster)
    lines = [f"## stylebench compare: {head}", "", f"Rule: {rule}", ""]
    lines += [f"- {v.status}: {v.cell}, {v.metric}: {v.detail}" for v in failed + undecided]
    return "\n".join([*lines, "", table(verdicts).to_markdown(index=False), ""])


def parse_fraction(text: str) -> float:
    """'10%' or '0.1' -> 0.1; ValueError on anything else or a negative value."""
    text = text.strip()
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if value < 0:
        raise ValueError(f"negative threshold {text!r}")
    return value
