"""Gates on any metric: top-5, macro-F1, calibration and per-class checks, in the library, the
CLI and their messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evalkit.compare.baselines import compare_runs
from evalkit.errors import EvalkitError
from evalkit.options import gate_metrics
from evalkit.results import RunResult, save_results
from helpers import fake_run, predictions_table, run_cli

CLASSES = [f"c{i}" for i in range(10)]


def run_of(y_true: np.ndarray, top: np.ndarray, confidence: np.ndarray) -> RunResult:
    """A run whose rows rank ``top`` with the top-1 probability ``confidence`` (the rest of
    the mass spread evenly over the other nine classes)."""
    rest = (1 - confidence) / 9
    probs = np.column_stack([confidence] + [rest] * 4)
    frame = predictions_table(
        [f"{CLASSES[t]}/{i}.png" for i, t in enumerate(y_true)],
        [CLASSES[t] for t in y_true],
        CLASSES,
        top,
        probs,
    )
    frame["p_true"] = np.where(top[:, 0] == y_true, confidence, rest)
    frame["sum_sq"] = confidence**2 + 9 * rest**2
    return fake_run(frame, CLASSES, model_id="m")


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 2000)
    top = np.stack([(y_true + j) % 10 for j in range(5)], axis=1)  # all right
    wrong = rng.random(2000) < 0.2
    top[wrong, 0], top[wrong, 1] = top[wrong, 1], top[wrong, 0]
    return y_true, top


def test_gate_metrics_parse_and_refuse_unknown_names() -> None:
    assert gate_metrics("top1, top5,per_class,top1") == ("top1", "top5", "per_class")
    with pytest.raises(EvalkitError, match=r"did you mean ece\?"):
        gate_metrics("top1,ecee")
    with pytest.raises(EvalkitError, match="needs a metric"):
        gate_metrics(" , ")


def test_top5_regresses_while_top1_holds(data: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, top = data
    after = top.copy()
    right5 = np.flatnonzero(top[:, 0] != y_true)[:120]  # top-1 wrong, top-5 right: push out
    after[right5, 1:] = (y_true[right5, None] + np.arange(5, 9)) % 10
    confidence = np.full(2000, 0.7)
    base, current = run_of(y_true, top, confidence), run_of(y_true, after, confidence)
    top1_only = compare_runs(base, current)
    assert not top1_only.regression
    both = compare_runs(base, current, metrics=("top1", "top5"))
    assert both.regression
    check = {c.metric: c for c in both.checks}["top5"]
    assert check.worse == 120 and check.better == 0 and check.regression
    assert "top-5" in both.summary() and "REGRESSION" in both.summary()


def test_calibration_gate_uses_a_paired_bootstrap(data: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, top = data
    calibrated = np.full(2000, 0.8)  # 80% sure, 80% right
    overconfident = np.full(2000, 0.99)  # same predictions, far from 80% accuracy
    base, current = run_of(y_true, top, calibrated), run_of(y_true, top, overconfident)
    comparison = compare_runs(base, current, metrics=("top1", "ece", "nll", "brier", "macro_f1"))
    checks = {c.metric: c for c in comparison.checks}
    assert not checks["top1"].regression and not checks["macro_f1"].regression
    assert checks["macro_f1"].delta == 0
    for metric in ("ece", "nll", "brier"):
        assert checks[metric].regression, checks[metric]
        assert checks[metric].delta > 0 and checks[metric].low is not None
        assert checks[metric].p_value < 0.01 and "bootstrap" in checks[metric].test
    assert checks["ece"].current == pytest.approx(current.metrics.ece.value)  # type: ignore[union-attr]
    reverse = compare_runs(current, base, metrics=("ece",))  # better calibration is no drop
    assert not reverse.regression


def test_per_class_flags_a_class_that_collapsed(data: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, top = data
    after = top.copy()
    victims = np.flatnonzero((y_true == 3) & (top[:, 0] == 3))[:80]
    after[victims, 0], after[victims, 1] = 4, 3  # class c3 loses 80 images to c4
    confidence = np.full(2000, 0.7)
    comparison = compare_runs(
        run_of(y_true, top, confidence), run_of(y_true, after, confidence), metrics=("per_class",)
    )
    assert comparison.regression and [d.name for d in comparison.class_drops] == ["c3"]
    drop = comparison.class_drops[0]
    assert drop.worse == 80 and drop.better == 0 and drop.p_holm < 0.01
    assert drop.p_holm >= drop.p_value
    assert "class c3" in comparison.summary()
    assert not compare_runs(
        run_of(y_true, top, confidence), run_of(y_true, top, confidence), metrics=("per_class",)
    ).regression


def test_cli_compare_gate_json_and_report(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    y_true, top = data
    save_results([run_of(y_true, top, np.full(2000, 0.8))], tmp_path / "base")
    save_results([run_of(y_true, top, np.full(2000, 0.99))], tmp_path / "current")
    args = ("compare", tmp_path / "base", tmp_path / "current")
    done = run_cli(*args, "--fail-on-regression")
    assert done.returncode == 0, done.stderr  # top-1 alone: unchanged
    done = run_cli(
        *args, "--gate", "top1,ece", "--fail-on-regression", "--json", "--report", tmp_path / "cmp"
    )
    assert done.returncode == 1 and "accuracy regression in m" in done.stderr
    document = json.loads(done.stdout)
    checks = {c["metric"]: c for c in document["comparisons"][0]["checks"]}
    assert checks["ece"]["regression"] and not checks["top1"]["regression"]
    assert (tmp_path / "cmp" / "report.html").is_file()
    done = run_cli(*args, "--gate", "top1,f1")
    assert done.returncode == 2 and "unknown gate metric 'f1'" in done.stderr
