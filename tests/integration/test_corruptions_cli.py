"""``--corruptions`` from the CLI on the demo's real digits and its trained torch model: the
robustness section and the variants' predictions, caching, rescore, the mCE gate and bad
input (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evalkit.results import load_results
from helpers import assert_user_error, run_cli


def test_run_cache_rescore_and_gate(demo: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    models, data = demo
    common = ("--model", models["torch"], "--data", data, "--limit", "30", "--batch-size", "16")
    cache = {"EVALKIT_CACHE": str(tmp_path / "cache")}
    first = tmp_path / "first"
    done = run_cli("run", *common, "--corruptions", "noise,contrast:1,5", "--out", first, env=cache)
    assert done.returncode == 0, done.stderr
    stored = json.loads((first / "results.json").read_text())["runs"][0]
    section = stored["robustness"]
    assert section["corruptions"] == "gaussian_noise,shot_noise,impulse_noise,contrast:1,5"
    assert section["severities"] == [1, 5] and section["protocol"] == "jpeg"
    assert section["complete"] is False and "224" in section["geometry"]
    assert len(section["cells"]) == 8 and len(section["errors"]) == 4
    assert stored["dataset"]["evaluated"] == 30 and stored["execution"]["evaluated"] == 30 * 9
    contrast = {
        c["severity"]: c["top1"]["value"] for c in section["cells"] if c["corruption"] == "contrast"
    }
    assert contrast[5] < contrast[1]  # the strongest contrast loss hurts the digits model
    corrupted = pd.read_csv(first / section["predictions_file"])
    assert len(corrupted) == 30 * 8 and {"corruption", "severity", "top1"} <= set(corrupted.columns)

    again = tmp_path / "again"
    done = run_cli(
        "run", *common, "--corruptions", "noise,contrast:1,5,3", "--out", again, env=cache
    )
    assert done.returncode == 0, done.stderr
    stored_again = json.loads((again / "results.json").read_text())["runs"][0]
    execution = stored_again["execution"]
    assert execution["cached"] == 30 * 9 and execution["evaluated"] == 30 * 4  # severity 3 only
    mixed = pd.read_csv(again / stored_again["robustness"]["predictions_file"])
    from_cache = mixed[mixed["severity"] != 3].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_cache, corrupted)  # cached rows, in plan order

    done = run_cli("rescore", first)
    assert done.returncode == 0, done.stderr
    rescored = load_results(first).runs[0]
    assert rescored.robustness is not None
    assert rescored.robustness.mce == section["mce"] and len(rescored.corrupted) == 30 * 8

    done = run_cli("compare", first, first, "--gate", "top1,mce")
    assert done.returncode == 0, done.stderr
    assert "mCE" in done.stdout
    done = run_cli("compare", first, again, "--gate", "mce")
    assert_user_error(done, "gate mce: the runs evaluated different corruptions")


def test_bad_corruption_options_are_one_line_errors(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    base = ("run", "--model", models["torch"], "--data", data, "--out", tmp_path / "out")
    assert_user_error(run_cli(*base, "--corruptions", "imagenet-c:7"), "severities are 1 to 5")
    assert_user_error(run_cli(*base, "--corruptions", "frosty"), "did you mean frost")
    assert not (tmp_path / "out").exists()
