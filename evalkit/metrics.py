"""Classification metrics as pure functions over NumPy arrays (checked against scikit-learn).

Conventions: ``targets`` are model output indices; ``topk`` holds each sample's output indices
sorted by descending score. For per-class figures and the confusion matrix, labels are dataset
class indices ``0..C-1`` and a prediction outside the dataset's classes is ``C`` ("other").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

Average = Literal["micro", "macro"]


def topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest-scoring outputs per row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order


def topk_hits(targets: np.ndarray, topk: np.ndarray, k: int) -> np.ndarray:
    """Whether each target is among its row's first ``k`` predictions."""
    return (topk[:, :k] == targets[:, None]).any(axis=1)


def accuracy(hits: np.ndarray, *, average: Average, groups: np.ndarray | None = None) -> float:
    """Mean of ``hits`` over samples (``micro``) or the mean of per-group means (``macro``)."""
    if hits.size == 0:
        return float("nan")
    if average == "micro":
        return float(hits.mean())
    if groups is None:
        raise ValueError("average='macro' needs the class of every sample (groups)")
    return float(np.mean([hits[groups == g].mean() for g in np.unique(groups)]))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (scipy's implementation)."""
    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def accuracy_summary(hits: np.ndarray, confidence: float = 0.95) -> dict[str, Any]:
    """Micro accuracy with its Wilson interval: ``value, low, high, correct, n``."""
    correct, n = int(hits.sum()), int(hits.size)
    low, high = wilson_interval(correct, n, confidence)
    return {
        "value": accuracy(hits, average="micro"),
        "low": low,
        "high": high,
        "correct": correct,
        "n": n,
        "average": "micro",
        "interval": f"wilson {confidence:.0%}",
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class, the last column being "other"."""
    labels = np.arange(num_classes + 1)
    matrix: np.ndarray = confusion_matrix(y_true, y_pred, labels=labels)[:num_classes]
    return matrix


def sparse(matrix: np.ndarray) -> dict[str, Any]:
    """A matrix as its ``shape`` and non-zero ``cells`` (parallel row, column, count lists)."""
    row, column = np.nonzero(matrix)
    cells = {"row": row.tolist(), "column": column.tolist(), "count": matrix[row, column].tolist()}
    return {"shape": list(matrix.shape), "cells": cells}


def per_class(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]
) -> list[dict[str, Any]]:
    """Precision, recall (= per-class top-1 accuracy), F1 and support for every dataset class;
    rates to 6 decimals (ratios of counts: no information lost, a 1000-class file stays small)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(len(classes)), average=None, zero_division=0
    )
    return [
        {
            "class": name,
            "precision": round(float(p), 6),
            "recall": round(float(r), 6),
            "f1": round(float(f), 6),
            "support": int(s),
        }
        for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]


def classification_metrics(
    targets: np.ndarray,
    topk: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: Sequence[str],
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Everything the results file's ``metrics`` section holds."""
    top1, top5 = topk_hits(targets, topk, 1), topk_hits(targets, topk, 5)
    return {
        "top1": accuracy_summary(top1, confidence),
        "top5": accuracy_summary(top5, confidence),
        "top1_macro": accuracy(top1, average="macro", groups=y_true),
        "per_class": per_class(y_true, y_pred, classes),
        "confusion_matrix": sparse(confusion(y_true, y_pred, len(classes)))
        | {
            "rows": "true class (dataset order)",
            "columns": "predicted class (dataset order), then 'other'",
        },
    }
