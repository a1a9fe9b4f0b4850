"""Pairs of runs on the same samples: deltas, exact McNemar test, regression verdicts.

A drop is a regression only when it is both large enough to matter (``max_drop``) and unlikely
under no real change (one-sided exact McNemar test on per-sample top-1 correctness, ``alpha``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from evalkit.errors import EvalkitError
from evalkit.results import RunResult

MAX_DROP = 0.01  # one accuracy point
ALPHA = 0.01


def mcnemar_worse_p(worse: int, better: int) -> float:
    """One-sided exact McNemar p-value that the current run is worse.

    ``worse``: samples the baseline got right and the current run wrong; ``better``: the other
    way round. Under no change, each discordant sample is equally likely to go either way.
    """
    if worse + better == 0:
        return 1.0
    return float(binomtest(worse, worse + better, 0.5, alternative="greater").pvalue)


@dataclass(frozen=True)
class Comparison:
    model: str
    n: int
    baseline_top1: float
    current_top1: float
    worse: int
    better: int
    p_value: float
    max_drop: float = MAX_DROP
    alpha: float = ALPHA

    @property
    def delta(self) -> float:
        return self.current_top1 - self.baseline_top1

    @property
    def regression(self) -> bool:
        return -self.delta >= self.max_drop and self.p_value < self.alpha

    def summary(self) -> str:
        verdict = "REGRESSION" if self.regression else "ok"
        return (
            f"{self.model}: {verdict}: top-1 {100 * self.baseline_top1:.2f}% -> "
            f"{100 * self.current_top1:.2f}% ({100 * self.delta:+.2f} points, n={self.n}); "
            f"{self.worse} samples newly wrong, {self.better} newly right; McNemar p="
            f"{self.p_value:.3g} (regression = drop >= {100 * self.max_drop:g} points and "
            f"p < {self.alpha:g})"
        )


def _check_comparable(baseline: RunResult, current: RunResult) -> None:
    if baseline.dataset.get("fingerprint") != current.dataset.get("fingerprint"):
        raise EvalkitError(
            f"{current.id}: the runs saw different data (dataset fingerprints differ: "
            f"{baseline.dataset.get('fingerprint')} vs {current.dataset.get('fingerprint')}); "
            "evaluate both on the same files, or re-create the baseline"
        )
    if baseline.model.get("preprocessing") != current.model.get("preprocessing"):
        raise EvalkitError(
            f"{current.id}: the runs used different preprocessing; a comparison would mix a "
            "model change with a preprocessing change — re-create the baseline"
        )


def paired_correct(baseline: RunResult, current: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample top-1 correctness of both runs, aligned on the image path."""
    _check_comparable(baseline, current)
    left = baseline.predictions.set_index("path")
    right = current.predictions.set_index("path")
    paths = left.index.intersection(right.index)
    if len(paths) != len(left) or len(paths) != len(right):
        raise EvalkitError(f"{current.id}: the runs' predictions cover different images")
    left, right = left.loc[paths], right.loc[paths]
    return (
        (left["top1"] == left["target"]).to_numpy(),
        (right["top1"] == right["target"]).to_numpy(),
    )


def compare_runs(
    baseline: RunResult, current: RunResult, *, max_drop: float = MAX_DROP, alpha: float = ALPHA
) -> Comparison:
    before, after = paired_correct(baseline, current)
    worse = int((before & ~after).sum())
    better = int((~before & after).sum())
    return Comparison(
        model=current.id,
        n=int(before.size),
        baseline_top1=float(before.mean()),
        current_top1=float(after.mean()),
        worse=worse,
        better=better,
        p_value=mcnemar_worse_p(worse, better),
        max_drop=max_drop,
        alpha=alpha,
    )


def compare_files(
    baseline: Sequence[RunResult], current: Sequence[RunResult], **limits: float
) -> list[Comparison]:
    """Compare the runs of the same model id in two results files."""
    before = {run.id: run for run in baseline}
    pairs = [(before[run.id], run) for run in current if run.id in before]
    if not pairs:
        raise EvalkitError(
            "the two results files share no model id "
            f"(baseline: {', '.join(before)}; current: {', '.join(r.id for r in current)})"
        )
    return [compare_runs(old, new, **limits) for old, new in pairs]
