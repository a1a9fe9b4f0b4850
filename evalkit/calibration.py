"""Calibration and macro-F1 from per-sample values the prediction store keeps: p(true class),
the top-1 probability, whether top-1 was right, and the sum of squared probabilities.

- NLL: mean of ``-log p(true class)`` (probabilities clipped at float32's smallest normal
  number, so an underflowed probability costs 87.3 nats instead of infinity);
- Brier score: mean over samples of ``sum_k (p_k - y_k)^2 = sum_sq - 2 p_true + 1`` (0 to 2);
- ECE: top-label expected calibration error with equal-width bins ``(lower, upper]`` (the
  first bin includes 0): ``sum_b |accuracy_b - confidence_b| * share_b``.

Each is written as a statistic of bootstrap weights (:mod:`evalkit.bootstrap`): the value on the
samples is the same function with all weights 1, so intervals and paired tests use one formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from evalkit.bootstrap import Statistic
from evalkit.options import ECE_BINS

FLOOR = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class Scores:
    """The per-sample values calibration needs (aligned arrays, one entry per image)."""

    p_true: np.ndarray
    confidence: np.ndarray  # top-1 probability
    correct: np.ndarray  # top-1 right
    sum_sq: np.ndarray

    @property
    def n(self) -> int:
        return int(self.p_true.size)


def bin_of(confidence: np.ndarray, bins: int) -> np.ndarray:
    """The bin of each confidence: ``(lower, upper]`` of ``bins`` equal-width bins on [0, 1]."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges, np.clip(confidence, 0.0, 1.0), side="left") - 1
    return np.clip(index, 0, bins - 1)


def mean_of(values: np.ndarray) -> Statistic:
    """The mean of per-sample ``values`` as a bootstrap statistic."""

    def statistic(weights: np.ndarray) -> np.ndarray:
        result: np.ndarray = weights @ values / weights.sum(axis=1)
        return result

    return statistic


def nll(scores: Scores) -> Statistic:
    return mean_of(-np.log(np.maximum(scores.p_true.astype(np.float64), FLOOR)))


def brier(scores: Scores) -> Statistic:
    values = scores.sum_sq.astype(np.float64) - 2 * scores.p_true.astype(np.float64) + 1
    return mean_of(np.maximum(values, 0.0))  # float32 rounding can leave -1e-8


def ece(scores: Scores, bins: int = ECE_BINS) -> Statistic:
    """Top-label ECE: per bin, |sum of (confidence - correct)| over all samples' weight."""
    gap = scores.confidence.astype(np.float64) - scores.correct.astype(np.float64)
    rows = np.arange(scores.n)
    cells = sparse.csr_matrix((gap, (rows, bin_of(scores.confidence, bins))), (scores.n, bins))

    def statistic(weights: np.ndarray) -> np.ndarray:
        per_bin = np.asarray((cells.T @ weights.T).T)  # (resamples, bins)
        result: np.ndarray = np.abs(per_bin).sum(axis=1) / weights.sum(axis=1)
        return result

    return statistic


def reliability(scores: Scores, bins: int = ECE_BINS) -> dict[str, list[float | int | None]]:
    """Per bin: its lower and upper edge, image count, mean confidence and accuracy (None in
    an empty bin) — the reliability diagram and the confidence histogram."""
    which = bin_of(scores.confidence, bins)
    count = np.bincount(which, minlength=bins)
    confidence = np.bincount(which, weights=scores.confidence.astype(np.float64), minlength=bins)
    correct = np.bincount(which, weights=scores.correct.astype(np.float64), minlength=bins)
    edges = np.linspace(0.0, 1.0, bins + 1)

    def per_bin(sums: np.ndarray) -> list[float | int | None]:
        return [round(float(s / c), 6) if c else None for s, c in zip(sums, count, strict=True)]

    return {
        "lower": [round(float(e), 6) for e in edges[:-1]],
        "upper": [round(float(e), 6) for e in edges[1:]],
        "count": [int(c) for c in count],
        "confidence": per_bin(confidence),
        "accuracy": per_bin(correct),
    }


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> Statistic:
    """Unweighted mean over the ``classes`` dataset classes of F1 = 2 TP / (support + predicted)
    (0 when both are 0, as scikit-learn's ``zero_division=0``); a prediction outside the classes
    (index ``classes``) is a miss of its true class and nobody's false positive."""
    n = y_true.size
    rows = np.arange(n)
    ones = np.ones(n)
    hit = (y_true == y_pred).astype(np.float64)
    truth = sparse.csr_matrix((ones, (rows, y_true)), shape=(n, classes + 1))
    predicted = sparse.csr_matrix((ones, (rows, y_pred)), shape=(n, classes + 1))
    hits = sparse.csr_matrix((hit, (rows, y_true)), shape=(n, classes + 1))

    def statistic(weights: np.ndarray) -> np.ndarray:
        tp = np.asarray((hits.T @ weights.T).T)[:, :classes]
        total = np.asarray((truth.T @ weights.T).T + (predicted.T @ weights.T).T)[:, :classes]
        f1 = np.divide(2 * tp, total, out=np.zeros_like(tp), where=total > 0)
        result: np.ndarray = f1.mean(axis=1)
        return result

    return statistic
