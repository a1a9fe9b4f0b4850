from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.compare import compare_runs, mcnemar_worse_p
from evalkit.errors import EvalkitError
from evalkit.results import RunResult, save_results
from helpers import run_cli


def run_with(correct: np.ndarray, fingerprint: str = "sha256:a") -> RunResult:
    n = correct.size
    predictions = pd.DataFrame(
        {
            "path": [f"img{i}.png" for i in range(n)],
            "target": np.zeros(n, int),
            "top1": np.where(correct, 0, 1),
        }
    )
    return RunResult(
        model={"id": "m", "preprocessing": {"crop": 8}},
        dataset={"fingerprint": fingerprint},
        metrics={"top1": {"value": float(correct.mean())}},
        timing={},
        failures=[],
        environment={},
        predictions=predictions,
    )


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
