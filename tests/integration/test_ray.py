"""The Ray executor on a local Ray cluster started here (2 CPUs): the same predictions as the
local executor, bit for bit, and a worker killed mid-shard loses and duplicates nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import evalkit
from evalkit.results import RunResult, load_results
from helpers import run_cli

ray = pytest.importorskip("ray")

SAME = {"batch_size": 32, "shard_size": 64, "threads": 1, "cache": False}


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Path]:
    """A local Ray cluster whose workers die once at their 3rd batch, if a test asks for it
    (the fault settings must be in the environment before Ray starts its workers)."""
    marker = tmp_path / "fault-fired"
    marker.touch()  # present: no fault; a test removes it to kill exactly one worker
    saved = dict(os.environ)
    os.environ |= {"EVALKIT_FAULT": "batch:3", "EVALKIT_FAULT_ONCE": str(marker)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield marker
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)


def _saved(result: RunResult, folder: Path) -> RunResult:
    """``result`` as written and read back (the form the local reference is compared in)."""
    evalkit.save_results([result], folder)
    (loaded,) = load_results(folder)
    return loaded


def test_ray_matches_local_and_survives_a_killed_worker(
    demo: tuple[dict[str, str], Path], cluster: Path, tmp_path: Path
) -> None:
    models, data = demo
    local = run_cli(
        "run",
        "--model",
        models["torch"],
        "--model",
        models["keras"],
        "--data",
        data,
        "--out",
        tmp_path / "local",
        "--batch-size",
        "32",
        "--shard-size",
        "64",
        "--threads",
        "1",
        "--no-cache",
        env={"EVALKIT_FAULT": ""},
    )
    assert local.returncode == 0, local.stderr
    reference, keras_reference = load_results(tmp_path / "local")

    both = evalkit.evaluate_many([models["torch"], models["keras"]], data, executor="ray", **SAME)
    keras = _saved(both[1], tmp_path / "ray-keras")  # both models ran at once, one actor each
    pd.testing.assert_frame_equal(keras.predictions, keras_reference.predictions, check_exact=True)
    assert both[1].execution is not None and len(both[1].execution.workers) == 1

    result = evalkit.evaluate(models["torch"], data, executor="ray", **SAME)
    pd.testing.assert_frame_equal(
        _saved(result, tmp_path / "ray").predictions, reference.predictions, check_exact=True
    )
    assert result.metrics == reference.metrics
    assert result.execution is not None and result.execution.executor == "ray"
    assert result.execution.evaluated == 540 and len(result.execution.workers) == 2
    assert sum(w.images for w in result.execution.workers) == 540
    assert result.timing.batch_latencies_ms == [] and result.timing.throughput_img_s

    cluster.unlink()  # the next worker to reach its 3rd batch is killed (SIGKILL), once
    survived = evalkit.evaluate(models["torch"], data, executor="ray", out=tmp_path / "r", **SAME)
    assert cluster.exists()  # a worker did die
    pd.testing.assert_frame_equal(
        _saved(survived, tmp_path / "r").predictions, reference.predictions, check_exact=True
    )
    assert survived.execution is not None and survived.execution.evaluated == 540
    assert survived.predictions["path"].is_unique and len(survived.predictions) == 540
    assert len(list((tmp_path / "r" / "store").glob("*/shard-*.parquet"))) == 9


def test_ray_corrupted_copies_match_local(
    demo: tuple[dict[str, str], Path], cluster: Path, tmp_path: Path
) -> None:
    models, data = demo
    options = SAME | {"limit": 40, "corruptions": "noise,glass_blur:2", "shard_size": 32}
    local = _saved(evalkit.evaluate(models["torch"], data, **options), tmp_path / "local")
    result = evalkit.evaluate(models["torch"], data, executor="ray", **options)
    distributed = _saved(result, tmp_path / "ray")
    pd.testing.assert_frame_equal(distributed.corrupted, local.corrupted, check_exact=True)
    assert distributed.robustness == local.robustness and local.robustness is not None
    assert result.execution is not None and result.execution.evaluated == 40 * 5
