"""Every metric checked against scikit-learn on random inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from evalkit import metrics
from evalkit.results import ConfusionMatrix


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_topk_accuracy_matches_sklearn(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = 300, 12
    scores = rng.random((n, c))
    targets = rng.integers(0, c, n)
    hits = metrics.topk_hits(targets, metrics.topk_indices(scores, 5), k)
    expected = top_k_accuracy_score(targets, scores, k=k, labels=np.arange(c))
    assert metrics.accuracy(hits, average="micro") == pytest.approx(expected, abs=1e-12)


def test_topk_indices_are_sorted_best_first() -> None:
    scores = np.array([[0.1, 0.5, 0.2, 0.9, 0.05, 0.3]])
    assert metrics.topk_indices(scores, 5).tolist() == [[3, 1, 5, 2, 0]]
    assert metrics.topk_indices(scores[:, :3], 5).shape == (1, 3)  # fewer classes than k


@pytest.mark.parametrize("seed", range(3))
def test_macro_accuracy_is_balanced_accuracy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    value = metrics.accuracy(y_true == y_pred, average="macro", groups=y_true)
    assert value == pytest.approx(balanced_accuracy_score(y_true, y_pred))


def test_macro_needs_groups() -> None:
    with pytest.raises(ValueError, match="groups"):
        metrics.accuracy(np.array([True]), average="macro")


@pytest.mark.parametrize("seed", range(3))
def test_confusion_and_per_class_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = 6
    y_true = rng.integers(0, c, 400)
    y_pred = rng.integers(0, c + 1, 400)  # c means "predicted a class outside the dataset"
    matrix = metrics.confusion(y_true, y_pred, c)
    full = confusion_matrix(y_true, y_pred, labels=np.arange(c + 1))
    assert matrix.shape == (c, c + 1)
    np.testing.assert_array_equal(matrix, full[:c])
    rows = metrics.per_class(y_true, y_pred, [f"class{i}" for i in range(c)])
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(c), average=None, zero_division=0
    )
    assert [row["precision"] for row in rows] == pytest.approx(p, abs=5e-7)  # 6 decimals
    assert [row["recall"] for row in rows] == pytest.approx(r, abs=5e-7)
    assert [row["f1"] for row in rows] == pytest.approx(f, abs=5e-7)
    assert [row["support"] for row in rows] == s.tolist()


def test_wilson_interval_formula() -> None:
    successes, n, z = 80, 100, 1.959963984540054
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = metrics.wilson_interval(successes, n)
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert metrics.wilson_interval(0, 10)[0] == 0.0
    assert all(math.isnan(v) for v in metrics.wilson_interval(0, 0))


def test_classification_metrics_sections() -> None:
    targets = np.array([3, 4, 3, 5])
    topk = np.array([[3, 1, 0, 2, 4], [3, 4, 0, 1, 2], [0, 1, 2, 4, 5], [5, 0, 1, 2, 3]])
    y_true = np.array([0, 1, 0, 2])
    y_pred = np.array([0, 0, 3, 2])
    result = metrics.classification_metrics(targets, topk, y_true, y_pred, ["a", "b", "c"])
    assert result["top1"]["value"] == pytest.approx(0.5)
    assert result["top1"]["correct"] == 2 and result["top1"]["n"] == 4
    assert result["top1"]["average"] == "micro"
    assert result["top5"]["value"] == pytest.approx(0.75)
    assert result["top1"]["low"] < 0.5 < result["top1"]["high"]
    matrix = ConfusionMatrix.model_validate(result["confusion_matrix"]).dense()
    assert matrix.tolist() == [[1, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]]
    assert result["confusion_matrix"]["cells"] == {
        "row": [0, 0, 1, 2],
        "column": [0, 3, 0, 2],
        "count": [1, 1, 1, 1],
    }
