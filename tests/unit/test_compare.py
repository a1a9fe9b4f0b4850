from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from evalkit.compare import (
    SlowdownCheck,
    compare_runs,
    flipped_samples,
    is_regression,
    mcnemar_worse_p,
)
from evalkit.compare.baselines import machine_differences
from evalkit.errors import EvalkitError
from evalkit.results import RunResult, save_results
from helpers import fake_run, predictions_table, run_cli


def run_with(correct: np.ndarray, fingerprint: str = "sha256:a") -> RunResult:
    """A run of model "m" on ``correct.size`` cats, right where ``correct`` is true."""
    n = correct.size
    classes = ["cat", "dog"]
    top = np.where(correct[:, None], [[0, 1]], [[1, 0]])
    frame = predictions_table(
        [f"img{i}.png" for i in range(n)], ["cat"] * n, classes, top, np.full((n, 2), 0.5)
    )
    run = fake_run(frame, classes, model_id="m")
    run.dataset.fingerprint = fingerprint
    return run


def test_exact_mcnemar_by_hand() -> None:
    assert mcnemar_worse_p(10, 2) == pytest.approx(sum(comb(12, k) for k in (10, 11, 12)) / 4096)
    assert mcnemar_worse_p(0, 0) == 1.0
    assert mcnemar_worse_p(0, 20) == pytest.approx(1.0)


def test_verdict_needs_a_large_and_significant_drop(rng: np.random.Generator) -> None:
    base = rng.random(1000) < 0.8
    dropped = base.copy()
    dropped[np.flatnonzero(base)[:40]] = False  # 4 points worse, all flips one way
    verdict = compare_runs(run_with(base), run_with(dropped))
    assert verdict.regression and verdict.worse == 40 and verdict.better == 0
    assert verdict.delta == pytest.approx(-0.04)
    assert "REGRESSION" in verdict.summary() and "40 samples newly wrong" in verdict.summary()
    small = base.copy()
    small[np.flatnonzero(base)[:5]] = False  # half a point: significant but below max_drop
    assert not compare_runs(run_with(base), run_with(small)).regression
    assert not compare_runs(run_with(base), run_with(base)).regression


def test_different_data_is_an_error() -> None:
    base = np.ones(10, bool)
    with pytest.raises(EvalkitError, match="different data"):
        compare_runs(run_with(base), run_with(base, fingerprint="sha256:b"))


def test_cli_compare_exit_codes(tmp_path: Path, rng: np.random.Generator) -> None:
    base = rng.random(500) < 0.9
    worse = base & (rng.random(500) < 0.85)
    save_results([run_with(base)], tmp_path / "base")
    save_results([run_with(worse)], tmp_path / "current")
    done = run_cli("compare", tmp_path / "base", tmp_path / "current")
    assert done.returncode == 0 and "m: REGRESSION" in done.stdout
    done = run_cli("compare", tmp_path / "base", tmp_path / "current", "--fail-on-regression")
    assert done.returncode == 1 and "accuracy regression in m" in done.stderr
    done = run_cli("compare", tmp_path / "base", tmp_path / "base", "--fail-on-regression")
    assert done.returncode == 0 and "m: ok" in done.stdout
    (tmp_path / "bad.json").write_text("[")
    done = run_cli("compare", tmp_path / "bad.json", tmp_path / "base")
    assert done.returncode == 2 and "not an evalkit results file" in done.stderr


def test_vectorised_mcnemar_matches_scipy_binomtest() -> None:
    worse, better = np.array([0, 3, 10, 40, 7]), np.array([0, 3, 2, 25, 9])
    expected = [
        1.0 if w + b == 0 else binomtest(w, w + b, 0.5, alternative="greater").pvalue
        for w, b in zip(worse, better, strict=True)
    ]
    np.testing.assert_allclose(mcnemar_worse_p(worse, better), expected, rtol=1e-10)
    assert is_regression(30, 5, 1000, 0.01, 0.01)
    assert not is_regression(9, 0, 1000, 0.01, 0.01)  # significant but under one point
    assert not is_regression(60, 40, 1000, 0.01, 0.01)  # two points but not significant


def test_flipped_samples_lists_both_directions() -> None:
    before = run_with(np.array([True, True, False, False]))
    after = run_with(np.array([True, False, True, False]))
    flips = flipped_samples(before, after)
    assert flips.to_dict("records") == [
        {
            "path": "img2.png",
            "label": "cat",
            "baseline_predicted": "dog",
            "current_predicted": "cat",
            "change": "newly right",
        },
        {
            "path": "img1.png",
            "label": "cat",
            "baseline_predicted": "cat",
            "current_predicted": "dog",
            "change": "newly wrong",
        },
    ]


def test_slowdown_check_parses_and_judges() -> None:
    check = SlowdownCheck.parse("p90:25%")
    assert check == SlowdownCheck("p90", 0.25)
    baseline, current = run_with(np.ones(2, bool)), run_with(np.ones(2, bool))
    baseline.timing.batch_latency_ms.p90 = 10.0
    current.timing.batch_latency_ms.p90 = 12.4
    assert check.fails(current, baseline) is None
    current.timing.batch_latency_ms.p90 = 13.0
    assert (
        check.fails(current, baseline)
        == "m: batch latency p90 10.0 ms -> 13.0 ms (+30%, limit +25%)"
    )
    for bad in ("p50", "p75:10%", "p50:fast", "p50:-5%"):
        with pytest.raises(ValueError, match="STAT:PERCENT"):
            SlowdownCheck.parse(bad)


def test_machine_differences_name_what_changed() -> None:
    baseline, current = run_with(np.ones(2, bool)), run_with(np.ones(2, bool))
    baseline.environment.cpu = "A"
    current.environment.cpu = "B"
    assert machine_differences(current, baseline) == ["cpu A vs B"]


def test_preprocessing_source_path_does_not_block_a_comparison() -> None:
    baseline, current = run_with(np.ones(4, bool)), run_with(np.ones(4, bool))
    baseline.model.preprocessing.source = "/a/x"
    current.model.preprocessing.source = "/b/x"
    current.model.preprocessing.mean = (0.485, 0.456, 0.406)  # type: ignore[assignment]
    assert not compare_runs(baseline, current).regression
    crop = baseline.model.preprocessing.crop
    current.model.preprocessing.crop = 9
    current.model.preprocessing.exif_transpose = True
    with pytest.raises(EvalkitError, match="different preprocessing") as refused:
        compare_runs(baseline, current)
    assert f"(crop: {crop} -> 9; exif_transpose: null -> true)" in str(refused.value)
