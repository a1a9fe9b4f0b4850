"""Which value in a column of the summary table is the best, only when it is significantly so.

Accuracy: the leader must beat every other run by a paired two-sided McNemar test on the same
images (p < ALPHA), or with disjoint Wilson intervals when the runs saw different images.
Latency and throughput: the leader's timing must not be flagged as noisy and its per-batch
latencies must differ from every other run's by a Mann-Whitney U test (p < ALPHA). Otherwise the
column marks no winner: a tie.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.compare.alignment import aligned_predictions
from evalkit.compare.stats import mcnemar_two_sided_p
from evalkit.errors import EvalkitError
from evalkit.results import Accuracy, RunResult, prediction_hits

ALPHA = 0.05
# summary column -> whether higher is better
BEST = {
    "top1": True,
    "top5": True,
    "latency_p50_ms": False,
    "latency_p90_ms": False,
    "latency_p99_ms": False,
    "throughput_img_s": True,
}
MIN_BATCHES = 5  # per-batch latencies needed to test a timing difference


def best_rows(frame: pd.DataFrame, runs: Sequence[RunResult]) -> dict[str, int]:
    """Column -> row of the significant leader (rows of ``frame`` are ``runs``, in order)."""
    if len(frame) < 2:
        return {}
    best = {}
    for column, higher in BEST.items():
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        if len(values) < 2:
            continue
        order = values.sort_values(ascending=not higher, kind="stable").index
        leader, others = runs[order[0]], [runs[i] for i in order[1:]]
        if values[order[0]] != values[order[1]] and all(
            _beats(column, leader, other) for other in others
        ):
            best[column] = int(order[0])
    return best


def _beats(column: str, leader: RunResult, other: RunResult) -> bool:
    if column in ("top1", "top5"):
        return _more_accurate(leader, other, 1 if column == "top1" else 5)
    return _faster(leader, other)


def _more_accurate(leader: RunResult, other: RunResult, k: int) -> bool:
    same_images = leader.dataset.fingerprint == other.dataset.fingerprint
    if same_images and not (leader.predictions.empty or other.predictions.empty):
        try:
            left, right = aligned_predictions(leader, other, same_model=False)
        except EvalkitError:
            return False
        a, b = prediction_hits(left, k), prediction_hits(right, k)
        return mcnemar_two_sided_p(int((a & ~b).sum()), int((b & ~a).sum())) < ALPHA
    first, second = _accuracy(leader, k), _accuracy(other, k)
    return None not in (first.low, second.high) and first.low > second.high  # type: ignore[operator]


def _accuracy(run: RunResult, k: int) -> Accuracy:
    return run.metrics.top1 if k == 1 else run.metrics.top5


def _faster(leader: RunResult, other: RunResult) -> bool:
    from scipy.stats import mannwhitneyu

    if leader.timing.noise or other.timing.noise:
        return False
    a, b = leader.timing.batch_latencies_ms, other.timing.batch_latencies_ms
    if min(len(a), len(b)) < MIN_BATCHES:
        return False
    return bool(mannwhitneyu(np.asarray(a), np.asarray(b)).pvalue < ALPHA)
