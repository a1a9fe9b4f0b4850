"""Gates on any metric: two runs on the same samples, one paired test per metric.

- ``top1``, ``top5``: one-sided exact McNemar test on per-sample top-k correctness;
- ``macro_f1``, ``nll``, ``ece``, ``brier``, ``mce``: paired bootstrap of the difference (the
  same resamples for both runs), p-value from inverting the percentile interval; ``mce``
  resamples images, each with all its corrupted variants (runs with the same ``--corruptions``);
- ``per_class``: per class, an exact McNemar test on its images' top-1 correctness, with a Holm
  correction across classes;
- ``slice:COLUMN``: the same within each slice of a manifest column or image property
  (:mod:`evalkit.analysis.slices`), Holm-corrected across the slices: a drop confined to one
  camera fails it even when an improvement elsewhere keeps overall top-1 level.

A metric regresses when it got worse by at least ``max_drop`` (absolute: 0.01 is one point of
accuracy, F1 or ECE) *and* the test says the change is unlikely under no real change (``alpha``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.analysis.robustness import image_terms
from evalkit.analysis.slices import MISSING, grouping_of
from evalkit.bootstrap import Statistic, paired_difference
from evalkit.calibration import Scores, brier, ece, macro_f1, mean_of, nll
from evalkit.compare.alignment import aligned_predictions
from evalkit.compare.stats import is_regression, mcnemar_worse_p, regressed
from evalkit.errors import EvalkitError
from evalkit.options import GATE_METRICS, SLICE_BINS
from evalkit.results import PATH, RunResult, prediction_hits, prediction_topk
from evalkit.scoring import calibration_scores, class_indices, class_outputs_of, ece_bins_of

LOWER_IS_BETTER = frozenset({"nll", "ece", "brier", "mce"})
NOT_RATES = frozenset({"nll", "brier"})  # shown as numbers, not percentages
BOOTSTRAPPED = ("macro_f1", "nll", "ece", "brier", "mce")
MCE_SETUP = ("corruptions", "severities", "protocol", "seed", "implementation")
LABELS = {
    "top1": "top-1",
    "top5": "top-5",
    "macro_f1": "macro-F1",
    "nll": "NLL",
    "ece": "ECE",
    "brier": "Brier",
    "mce": "mCE",
}


@dataclass(frozen=True)
class MetricCheck:
    """One metric of the current run against the baseline, the test and the verdict."""

    metric: str
    baseline: float
    current: float
    p_value: float  # one-sided: the current run is worse
    test: str
    regression: bool
    low: float | None = None  # interval of the difference (bootstrapped metrics)
    high: float | None = None
    worse: int | None = None  # McNemar: samples newly wrong / newly right
    better: int | None = None

    @property
    def delta(self) -> float:
        return self.current - self.baseline

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"delta": self.delta}

    def summary(self) -> str:
        rate = self.metric not in NOT_RATES
        scale, unit = (100, " points") if rate else (1, "")

        def shown(value: float) -> str:
            return f"{100 * value:.2f}%" if rate else f"{value:.4f}"

        text = (
            f"{LABELS[self.metric]} {shown(self.baseline)} -> {shown(self.current)} "
            f"({scale * self.delta:+.{2 if rate else 4}f}{unit}"
        )
        if self.low is not None and self.high is not None:
            digits = 2 if rate else 4
            text += (
                f", 95% interval {scale * self.low:+.{digits}f} to {scale * self.high:+.{digits}f}"
            )
        if self.worse is not None:
            text += f"; {self.worse} newly wrong, {self.better} newly right"
        verdict = "REGRESSION" if self.regression else "ok"
        return f"{text}); {self.test} p={self.p_value:.3g}: {verdict}"


@dataclass(frozen=True)
class ClassDrop:
    """A class (or slice) whose top-1 accuracy dropped significantly (after the Holm
    correction); ``kind``: ``class``, or the column a slice belongs to."""

    name: str
    n: int
    baseline: float
    current: float
    worse: int
    better: int
    p_value: float
    p_holm: float
    kind: str = "class"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        what = f"class {self.name}" if self.kind == "class" else f"slice {self.kind}={self.name}"
        return (
            f"{what}: {100 * self.baseline:.1f}% -> {100 * self.current:.1f}% "
            f"(n={self.n}; {self.worse} newly wrong, {self.better} newly right; McNemar "
            f"p={self.p_value:.3g}, Holm-adjusted p={self.p_holm:.3g})"
        )


@dataclass(frozen=True)
class Paired:
    """Two runs' per-sample values on the same images, in the same order."""

    classes: list[str]
    y_true: np.ndarray
    predicted: tuple[np.ndarray, np.ndarray]  # dataset class index of each run's top-1
    hits: dict[int, tuple[np.ndarray, np.ndarray]]  # k -> top-k correctness of both runs
    scores: tuple[Scores | None, Scores | None]
    bins: int
    frame: pd.DataFrame  # the current run's predictions, aligned (slice columns)
    slice_bins: int = SLICE_BINS
    runs: tuple[RunResult, RunResult] | None = None  # (baseline, current): corruption results

    @property
    def n(self) -> int:
        return int(self.y_true.size)


def paired(baseline: RunResult, current: RunResult, *, same_model: bool = True) -> Paired:
    left, right = aligned_predictions(baseline, current, same_model=same_model)
    classes = list(current.dataset.classes)
    y_true, before = class_indices(left, classes, np.asarray(class_outputs_of(baseline)))
    _, after = class_indices(right, classes, np.asarray(class_outputs_of(current)))
    return Paired(
        classes=classes,
        y_true=y_true,
        predicted=(before, after),
        hits={k: (prediction_hits(left, k), prediction_hits(right, k)) for k in (1, 5)},
        scores=(_scores(left), _scores(right)),
        bins=ece_bins_of(current),
        frame=right.reset_index(),
        slice_bins=int((current.options or {}).get("slice_bins", SLICE_BINS)),
        runs=(baseline, current),
    )


def _scores(frame: Any) -> Scores | None:
    topk, probs = prediction_topk(frame)
    return calibration_scores(frame, topk, probs, frame["target"].to_numpy(np.int64))


def _mcnemar(data: Paired, metric: str, max_drop: float, alpha: float) -> MetricCheck:
    before, after = data.hits[1 if metric == "top1" else 5]
    worse, better = int((before & ~after).sum()), int((~before & after).sum())
    p = float(mcnemar_worse_p(worse, better))
    return MetricCheck(
        metric=metric,
        baseline=float(before.mean()) if data.n else float("nan"),
        current=float(after.mean()) if data.n else float("nan"),
        p_value=p,
        test="exact McNemar (one-sided)",
        regression=is_regression(worse, better, max(data.n, 1), max_drop, alpha),
        worse=worse,
        better=better,
    )


def _statistics(data: Paired, metric: str) -> tuple[Statistic, Statistic]:
    if metric == "mce":
        return _mce_terms(data)
    if metric == "macro_f1":
        size = len(data.classes)
        return tuple(macro_f1(data.y_true, p, size) for p in data.predicted)  # type: ignore[return-value]
    if data.scores[0] is None or data.scores[1] is None:
        raise EvalkitError(
            f"gate {metric}: a run's predictions hold no per-sample probabilities (p_true, "
            "sum_sq; files before evalkit 0.3); re-create it with evalkit run"
        )
    make = {"nll": nll, "brier": brier, "ece": lambda s: ece(s, data.bins)}[metric]
    return make(data.scores[0]), make(data.scores[1])


def _mce_terms(data: Paired) -> tuple[Statistic, Statistic]:
    """Both runs' mCE as means of per-image terms, in the order of the paired images."""
    assert data.runs is not None
    setups = []
    for run in data.runs:
        if run.robustness is None or not len(run.corrupted):
            raise EvalkitError(
                f"gate mce: {run.id} has no corruption results; evaluate both runs with "
                "--corruptions (the same set)"
            )
        setups.append({key: run.robustness.fields().get(key) for key in MCE_SETUP})
    if setups[0] != setups[1]:
        changed = [key for key in MCE_SETUP if setups[0][key] != setups[1][key]]
        raise EvalkitError(
            f"gate mce: the runs evaluated different corruptions ({', '.join(changed)} differ: "
            f"{[setups[0][k] for k in changed]} vs {[setups[1][k] for k in changed]}); evaluate "
            "both with the same --corruptions, --corruption-protocol and --seed"
        )
    paths = data.frame[PATH]
    terms = [image_terms(run.corrupted).reindex(paths) for run in data.runs]
    if any(term.isna().any() for term in terms):
        raise EvalkitError("gate mce: the runs' corrupted predictions cover different images")
    first, second = (mean_of(term.to_numpy(np.float64)) for term in terms)
    return first, second


def _bootstrapped(data: Paired, metric: str, max_drop: float, alpha: float) -> MetricCheck:
    lower = metric in LOWER_IS_BETTER
    first, second = _statistics(data, metric)
    diff = paired_difference(first, second, data.n, higher_is_better=not lower)
    worse_by = diff.delta if lower else -diff.delta
    return MetricCheck(
        metric=metric,
        baseline=diff.baseline,
        current=diff.current,
        p_value=diff.p_worse,
        test=f"paired {diff.interval}",
        regression=regressed(worse_by, diff.p_worse, max_drop, alpha),
        low=diff.low,
        high=diff.high,
    )


def check_metric(data: Paired, metric: str, max_drop: float, alpha: float) -> MetricCheck:
    if metric in ("top1", "top5"):
        return _mcnemar(data, metric, max_drop, alpha)
    if metric in BOOTSTRAPPED:
        return _bootstrapped(data, metric, max_drop, alpha)
    raise EvalkitError(f"unknown gate metric {metric!r}; choose from {', '.join(GATE_METRICS)}")


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate across the tests)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def class_drops(data: Paired, max_drop: float, alpha: float) -> list[ClassDrop]:
    """Classes whose top-1 accuracy dropped by at least ``max_drop``, significant after the
    Holm correction across every class with images; largest drop first."""
    return group_drops(data.y_true, data.classes, data.hits[1], max_drop, alpha, "class")


def slice_drops(data: Paired, column: str, max_drop: float, alpha: float) -> list[ClassDrop]:
    """The slices of ``column`` (a manifest column or image property of the current run) whose
    top-1 dropped significantly, Holm-corrected across the slices."""
    found = grouping_of(data.frame, column, data.slice_bins)
    before, after = data.hits[1]
    kept = found.codes != MISSING
    codes = found.codes[kept]
    return group_drops(codes, found.values, (before[kept], after[kept]), max_drop, alpha, column)


def group_drops(
    groups: np.ndarray,
    names: Sequence[str],
    hits: tuple[np.ndarray, np.ndarray],
    max_drop: float,
    alpha: float,
    kind: str,
) -> list[ClassDrop]:
    """Per group (``groups[i]`` indexes ``names``): an exact McNemar test on its samples' top-1
    correctness, Holm-corrected across the groups with samples; the flagged ones, worst first."""
    before, after = hits
    size = len(names)
    n = np.bincount(groups, minlength=size)
    worse = np.bincount(groups, weights=before & ~after, minlength=size).astype(int)
    better = np.bincount(groups, weights=~before & after, minlength=size).astype(int)
    right_before = np.bincount(groups, weights=before, minlength=size)
    tested = np.flatnonzero(n > 0)
    p = np.ones(size)
    p[tested] = mcnemar_worse_p(worse[tested], better[tested])
    adjusted = np.ones(size)
    adjusted[tested] = holm(p[tested])
    drop = (worse - better) / np.maximum(n, 1)
    flagged = tested[regressed(drop[tested], adjusted[tested], max_drop, alpha)]
    drops = [
        ClassDrop(
            name=names[c],
            n=int(n[c]),
            baseline=float(right_before[c] / n[c]),
            current=float((right_before[c] - worse[c] + better[c]) / n[c]),
            worse=int(worse[c]),
            better=int(better[c]),
            p_value=float(p[c]),
            p_holm=float(adjusted[c]),
            kind=kind,
        )
        for c in flagged
    ]
    return sorted(drops, key=lambda d: (d.current - d.baseline, d.name))
