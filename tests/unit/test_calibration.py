"""Calibration, macro-F1 and the bootstrap, checked against independent implementations:
torchmetrics' calibration error, scikit-learn's log loss and F1, and plain NumPy."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss

from evalkit import bootstrap
from evalkit.bootstrap import estimate, paired_difference, point
from evalkit.calibration import Scores, bin_of, brier, ece, macro_f1, nll, reliability
from evalkit.compare.checks import holm


def random_probabilities(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    logits = rng.normal(0, 2.5, (n, k))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    targets = np.where(rng.random(n) < 0.6, probs.argmax(axis=1), rng.integers(0, k, n))
    return probs.astype(np.float32), targets


def scores_of(probs: np.ndarray, targets: np.ndarray) -> Scores:
    rows = np.arange(len(targets))
    return Scores(
        p_true=probs[rows, targets].astype(np.float64),
        confidence=probs.max(axis=1).astype(np.float64),
        correct=probs.argmax(axis=1) == targets,
        sum_sq=np.square(probs.astype(np.float64)).sum(axis=1),
    )


@pytest.mark.parametrize(("n", "k", "bins"), [(2000, 10, 15), (500, 1000, 15), (3000, 5, 7)])
def test_ece_matches_torchmetrics(n: int, k: int, bins: int) -> None:
    import torch
    from torchmetrics.functional.classification import multiclass_calibration_error

    probs, targets = random_probabilities(np.random.default_rng(n + k), n, k)
    expected = multiclass_calibration_error(
        torch.from_numpy(probs), torch.from_numpy(targets), num_classes=k, n_bins=bins, norm="l1"
    )
    assert point(ece(scores_of(probs, targets), bins), n) == pytest.approx(
        float(expected), abs=1e-6
    )


def test_nll_matches_sklearn_log_loss_and_brier_matches_numpy() -> None:
    probs, targets = random_probabilities(np.random.default_rng(1), 3000, 20)
    scores = scores_of(probs, targets)
    p64 = probs.astype(np.float64)
    assert point(nll(scores), 3000) == pytest.approx(
        log_loss(targets, p64 / p64.sum(axis=1, keepdims=True), labels=np.arange(20)), abs=1e-6
    )
    onehot = np.eye(20)[targets]
    assert point(brier(scores), 3000) == pytest.approx(
        np.square(p64 - onehot).sum(axis=1).mean(), abs=1e-6
    )


def test_nll_of_an_underflowed_probability_is_finite() -> None:
    scores = Scores(np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([False, True]), np.ones(2))
    assert point(nll(scores), 2) == pytest.approx(-np.log(np.finfo(np.float32).tiny) / 2)


def test_macro_f1_matches_sklearn_with_predictions_outside_the_classes() -> None:
    rng = np.random.default_rng(2)
    classes = 12
    y_true = rng.integers(0, classes - 1, 1500)  # the last class has no image
    y_pred = np.where(rng.random(1500) < 0.7, y_true, rng.integers(0, classes + 1, 1500))
    expected = f1_score(y_true, y_pred, labels=np.arange(classes), average="macro", zero_division=0)
    assert point(macro_f1(y_true, y_pred, classes), 1500) == pytest.approx(expected, abs=1e-12)


def test_bins_are_closed_on_the_right_and_reliability_adds_up() -> None:
    edges = np.linspace(0, 1, 16)
    assert bin_of(np.array([0.0, edges[1], edges[1] + 1e-9, 1.0]), 15).tolist() == [0, 0, 1, 14]
    probs, targets = random_probabilities(np.random.default_rng(3), 800, 10)
    table = reliability(scores_of(probs, targets), 15)
    assert sum(table["count"]) == 800 and len(table["accuracy"]) == 15
    filled = [c for c in table["count"] if c]
    gaps = [
        abs(a - c) * n / 800
        for a, c, n in zip(table["accuracy"], table["confidence"], table["count"], strict=True)
        if n
    ]
    assert filled and sum(gaps) == pytest.approx(
        point(ece(scores_of(probs, targets)), 800), abs=1e-5
    )


def test_bootstrap_interval_of_a_mean_is_close_to_the_normal_one() -> None:
    values = (np.random.default_rng(4).random(2000) < 0.3).astype(np.float64)

    def mean(weights: np.ndarray) -> np.ndarray:
        result: np.ndarray = weights @ values / weights.sum(axis=1)
        return result

    found = estimate(mean, 2000)
    half = 1.96 * np.sqrt(values.mean() * (1 - values.mean()) / 2000)
    assert found.value == pytest.approx(values.mean())
    assert found.high - found.low == pytest.approx(2 * half, rel=0.12)
    assert found.low < found.value < found.high
    assert estimate(mean, 2000) == found  # seeded


def test_bootstrap_blocks_change_neither_the_interval_nor_grow_with_the_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resamples are drawn in blocks of CHUNK_CELLS weights: the block size changes no
    value (the draws are one stream), and the memory a bootstrap takes is a few blocks'
    whatever the number of samples (it was 156 MB for 50,000 samples)."""
    values = np.random.default_rng(6).random(20_000)

    def mean(weights: np.ndarray) -> np.ndarray:
        result: np.ndarray = weights @ values / weights.sum(axis=1)
        return result

    found = {}
    for cells in (4_000_000, 1_000_000, 150_000):
        monkeypatch.setattr(bootstrap, "CHUNK_CELLS", cells)
        tracemalloc.start()
        try:
            found[cells] = estimate(mean, values.size)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 3 * 8 * cells + 2**20  # a block of float64 weights and its int64 draws
    assert found[4_000_000] == found[1_000_000] == found[150_000]


def test_paired_difference_sees_a_real_drop_and_not_a_null_one() -> None:
    rng = np.random.default_rng(5)
    before = (rng.random(3000) < 0.8).astype(np.float64)
    after = before.copy()
    after[np.flatnonzero(before)[:150]] = 0.0  # five points worse

    def mean_of(values: np.ndarray):  # type: ignore[no-untyped-def]
        return lambda weights: weights @ values / weights.sum(axis=1)

    worse = paired_difference(mean_of(before), mean_of(after), 3000, higher_is_better=True)
    assert worse.delta == pytest.approx(-0.05) and worse.high < 0 and worse.p_worse < 0.001
    same = paired_difference(mean_of(before), mean_of(before), 3000, higher_is_better=True)
    assert same.delta == 0 and same.p_worse == 1.0


def test_holm_by_hand() -> None:
    adjusted = holm(np.array([0.01, 0.04, 0.03, 0.005]))
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm(np.array([0.5, 0.9])).tolist() == [1.0, 1.0]
