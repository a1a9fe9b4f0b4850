from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import EvalkitError
from evalkit.results import SCHEMA_VERSION, RunResult, load_results, save_results


def make_run(model_id: str = "torchvision:resnet50") -> RunResult:
    predictions = pd.DataFrame(
        {
            "path": ["a/1.jpg", "b/2.jpg"],
            "label": ["a", "b"],
            "target": [0, 1],
            "predicted": ["a", "a"],
            "top1": [0, 0],
            "prob1": [0.9, 0.6],
        }
    )
    return RunResult(
        model={"id": model_id, "framework": "torch"},
        dataset={"path": "/data", "n": 2, "fingerprint": "sha256:x"},
        metrics={"top1": {"value": 0.5, "low": 0.1, "high": float("nan")}, "top5": {"value": 1.0}},
        timing={"device": "cpu"},
        failures=[{"file": "c/3.jpg", "reason": "empty file"}],
        environment={"python": "3.11"},
        predictions=predictions,
    )


def test_round_trip(tmp_path: Path) -> None:
    runs = [make_run(), make_run("keras-file:/x/y/model.keras")]
    path = save_results(runs, tmp_path / "out")
    document = json.loads(path.read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["runs"][0]["metrics"]["top1"]["high"] is None  # NaN is not valid JSON
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "predictions-keras-file_model.keras.csv.gz",
        "predictions-torchvision_resnet50.csv.gz",
        "results.json",
    ]
    loaded = RunResult.load(path, "torchvision:resnet50")
    assert loaded.top1 == 0.5 and loaded.top5 == 1.0
    pd.testing.assert_frame_equal(loaded.predictions, runs[0].predictions)
    assert load_results(path.parent)[1].id == "keras-file:/x/y/model.keras"
    with pytest.raises(EvalkitError, match="has no run of 'nope'"):
        RunResult.load(path, "nope")


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run()

    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", explode)
    with pytest.raises(OSError, match="disk full"):
        save_results([run], tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "not an evalkit results file"),
        ('{"runs": []}', "not an evalkit results file"),
        ('{"schema_version": 99, "runs": []}', "upgrade evalkit"),
    ],
)
def test_corrupt_results_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(EvalkitError, match=message):
        load_results(path)
    with pytest.raises(EvalkitError, match="not found"):
        load_results(tmp_path / "missing.json")


def test_import_evalkit_imports_no_framework() -> None:
    code = (
        "import sys, evalkit; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pytest_plugin_import_stays_light() -> None:
    """Every pytest session in an environment with evalkit loads the plugin; evaluation
    libraries load only when a test evaluates."""
    heavy = ("torch", "tensorflow", "pandas", "scipy", "matplotlib", "sklearn")
    code = f"import sys, evalkit.pytest_plugin; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    lazy = "import evalkit; print(evalkit.RunResult.__module__)"
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "evalkit.results"
