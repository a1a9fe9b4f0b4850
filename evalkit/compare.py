"""Pairs of runs on the same samples: deltas, exact McNemar test, regression verdicts.

A drop is a regression only when it is both large enough to matter (``max_drop``) and unlikely
under no real change (one-sided exact McNemar test on per-sample top-1 correctness, ``alpha``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom

from evalkit.errors import EvalkitError
from evalkit.results import RunResult
from evalkit.thresholds import ALPHA, MAX_DROP, SlowdownCheck

__all__ = ["ALPHA", "MAX_DROP", "Comparison", "SlowdownCheck", "compare_runs"]


def mcnemar_worse_p(worse: Any, better: Any) -> Any:
    """One-sided exact McNemar p-value that the current run is worse (scalars or arrays).

    ``worse``: samples the baseline got right and the current run wrong; ``better``: the other
    way round. Under no change, each discordant sample is equally likely to go either way, so
    the p-value is P(X >= worse) for X ~ Binomial(worse + better, 1/2) (1 when nothing flipped).
    """
    worse, better = np.asarray(worse), np.asarray(better)
    p = binom.sf(worse - 1, worse + better, 0.5)
    p = np.where(worse + better == 0, 1.0, p)
    return float(p) if p.ndim == 0 else p


def mcnemar_two_sided_p(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value: do two runs differ in top-1 accuracy?"""
    one_sided = min(
        mcnemar_worse_p(only_first, only_second), mcnemar_worse_p(only_second, only_first)
    )
    return float(min(1.0, 2 * one_sided))


def is_regression(worse: Any, better: Any, n: int, max_drop: float, alpha: float) -> Any:
    """The gate's verdict: a top-1 drop of at least ``max_drop`` that is significant at ``alpha``.

    Works on arrays too, so the simulation in :func:`simulate_gate` runs exactly this rule.
    """
    drop = (np.asarray(worse) - np.asarray(better)) / n
    verdict = (drop >= max_drop - 1e-12) & (mcnemar_worse_p(worse, better) < alpha)
    return bool(verdict) if np.ndim(verdict) == 0 else verdict


def simulate_gate(
    *,
    n: int,
    accuracy: float,
    drop: float,
    discordance: float,
    trials: int = 2000,
    seed: int = 0,
    max_drop: float = MAX_DROP,
    alpha: float = ALPHA,
) -> float:
    """Fraction of simulated comparisons that the gate calls a regression.

    The baseline gets each of ``n`` samples right with probability ``accuracy``. The current
    model disagrees with it on a fraction ``discordance`` of the samples (run-to-run noise, a
    retrained or quantized model) and is ``drop`` worse on average: right->wrong flips happen on
    ``(discordance + drop) / 2`` of the samples, wrong->right on ``(discordance - drop) / 2``.
    ``drop=0`` measures the false-alarm rate; ``drop>0`` the power.
    """
    if not 0 <= drop <= discordance:
        raise ValueError("need 0 <= drop <= discordance")
    rng = np.random.default_rng(seed)
    right = rng.binomial(n, accuracy, size=trials)
    worse = rng.binomial(right, min(1.0, (discordance + drop) / 2 / accuracy))
    better = rng.binomial(n - right, min(1.0, (discordance - drop) / 2 / (1 - accuracy)))
    return float(np.mean(is_regression(worse, better, n, max_drop, alpha)))


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
        return bool(is_regression(self.worse, self.better, self.n, self.max_drop, self.alpha))

    def summary(self) -> str:
        verdict = "REGRESSION" if self.regression else "ok"
        return (
            f"{self.model}: {verdict}: top-1 {100 * self.baseline_top1:.2f}% -> "
            f"{100 * self.current_top1:.2f}% ({100 * self.delta:+.2f} points, n={self.n}); "
            f"{self.worse} samples newly wrong, {self.better} newly right; McNemar p="
            f"{self.p_value:.3g} (regression = drop >= {100 * self.max_drop:g} points and "
            f"p < {self.alpha:g})"
        )


def _canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparing runs."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _preprocessing(run: RunResult) -> Any:
    """The preprocessing steps of a run, without where they were read from (a path)."""
    steps = dict(run.model.get("preprocessing") or {})
    steps.pop("source", None)
    return _canonical(steps)


def _check_comparable(baseline: RunResult, current: RunResult) -> None:
    _check_same_data(baseline, current)
    if _preprocessing(baseline) != _preprocessing(current):
        raise EvalkitError(
            f"{current.id}: the runs used different preprocessing; a comparison would mix a "
            "model change with a preprocessing change — re-create the baseline"
        )


def _check_same_data(baseline: RunResult, current: RunResult) -> None:
    if baseline.dataset.get("fingerprint") != current.dataset.get("fingerprint"):
        raise EvalkitError(
            f"{current.id}: the runs saw different data (dataset fingerprints differ: "
            f"{baseline.dataset.get('fingerprint')} vs {current.dataset.get('fingerprint')}); "
            "evaluate both on the same files, or re-create the baseline"
        )


def aligned_predictions(
    baseline: RunResult, current: RunResult, *, same_model: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both runs' predictions indexed by image path, in the same order.

    ``same_model=False`` (two different models on the same data) skips the preprocessing check.
    """
    if same_model:
        _check_comparable(baseline, current)
    else:
        _check_same_data(baseline, current)
    left = baseline.predictions.set_index("path")
    right = current.predictions.set_index("path")
    paths = left.index.intersection(right.index)
    if len(paths) != len(left) or len(paths) != len(right):
        raise EvalkitError(f"{current.id}: the runs' predictions cover different images")
    return left.loc[paths], right.loc[paths]


def paired_correct(baseline: RunResult, current: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample top-1 correctness of both runs, aligned on the image path."""
    left, right = aligned_predictions(baseline, current)
    return (
        (left["top1"] == left["target"]).to_numpy(),
        (right["top1"] == right["target"]).to_numpy(),
    )


def flipped_samples(baseline: RunResult, current: RunResult) -> pd.DataFrame:
    """Samples whose top-1 correctness changed: path, label, both predictions, direction."""
    left, right = aligned_predictions(baseline, current)
    before = left["top1"] == left["target"]
    after = right["top1"] == right["target"]
    changed = before != after
    return pd.DataFrame(
        {
            "path": left.index[changed],
            "label": left.loc[changed, "label"].to_numpy(),
            "baseline_predicted": left.loc[changed, "predicted"].to_numpy(),
            "current_predicted": right.loc[changed, "predicted"].to_numpy(),
            "change": np.where(before[changed], "newly wrong", "newly right"),
        }
    ).sort_values(["change", "path"], ignore_index=True)


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


def machine_differences(current: RunResult, baseline: RunResult) -> list[str]:
    """What makes timings of two runs incomparable (CPU, cores, device, batch size)."""
    pairs = {
        "cpu": (baseline.environment.get("cpu"), current.environment.get("cpu")),
        "cpu_count": (baseline.environment.get("cpu_count"), current.environment.get("cpu_count")),
        "device": (baseline.timing.get("device"), current.timing.get("device")),
        "batch_size": (baseline.timing.get("batch_size"), current.timing.get("batch_size")),
    }
    return [f"{key} {old} vs {new}" for key, (old, new) in pairs.items() if old != new]
