from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EvalkitError
from evalkit.results import SCHEMA_VERSION, Results, RunResult, load_results, save_results
from evalkit.scoring import rescore
from helpers import fake_run, predictions_table

GOLDEN = Path(__file__).parents[1] / "golden" / "demo-v1"


def make_run(model_id: str = "torchvision:resnet50") -> RunResult:
    classes = ["a", "b"]
    predictions = predictions_table(
        ["a/1.jpg", "b/2.jpg"],
        ["a", "b"],
        classes,
        np.array([[0, 1], [0, 1]]),
        np.array([[0.9, 0.1], [0.6, 0.4]]),
    )
    return fake_run(predictions, classes, model_id=model_id, failures=[("c/3.jpg", "empty file")])


def test_round_trip(tmp_path: Path) -> None:
    runs = [make_run(), make_run("keras-file:/x/y/model.keras")]
    runs[0].metrics.top1.high = float("nan")
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
    assert loaded.metrics.top1.high is None and loaded.metrics.per_class[1].name == "b"
    pd.testing.assert_frame_equal(loaded.predictions, runs[0].predictions)
    results = load_results(path.parent)
    assert isinstance(results, Results) and len(results) == 2
    assert results[1].id == "keras-file:/x/y/model.keras"
    assert [run.id for run in results] == [run.id for run in results.runs]
    with pytest.raises(EvalkitError, match="has no run of 'nope'"):
        RunResult.load(path, "nope")


def test_rescoring_stored_predictions_gives_the_stored_metrics(tmp_path: Path) -> None:
    run = make_run()
    save_results([run], tmp_path)
    loaded = load_results(tmp_path)[0]
    assert rescore(loaded) == loaded.metrics == run.metrics


def test_golden_v1_file_round_trips_unchanged(tmp_path: Path) -> None:
    """A results file written by evalkit 0.1 (before the typed model) loads and is written
    back with the same content."""
    original = json.loads((GOLDEN / "results.json").read_text())
    results = load_results(GOLDEN)
    assert results.schema_version == 1 and len(results) == 2
    run = results[0]
    assert run.metrics.top1.value == pytest.approx(0.9759259, abs=1e-6)
    assert run.model.preprocessing.crop == 32 and run.timing.device == "cpu"
    assert run.failures[0].file == "3/broken.png" and len(run.predictions) == 540
    save_results(results, tmp_path)
    again = as_rows(json.loads((tmp_path / "results.json").read_text()))
    assert again.pop("schema_version") == 2 and original.pop("schema_version") == 1
    assert again == original
    for stored in results:  # scoring today gives the metrics evalkit 0.1 wrote (6 decimals)
        again = rescore(stored)
        assert again.top1 == stored.metrics.top1 and again.top5 == stored.metrics.top5
        assert (again.confusion_matrix.dense() == stored.metrics.confusion_matrix.dense()).all()
        for new, old in zip(again.per_class, stored.metrics.per_class, strict=True):
            assert new.name == old.name and new.support == old.support
            assert new.precision == pytest.approx(old.precision, abs=5e-7)
            assert new.f1 == pytest.approx(old.f1, abs=5e-7)


def as_rows(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with each run's per-class columns (how evalkit writes them) as rows (how
    evalkit 0.1 wrote them)."""
    for run in document["runs"]:
        columns = run["metrics"]["per_class"]
        run["metrics"]["per_class"] = [
            dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)
        ]
    return document


def _tampered(tmp_path: Path, change: str) -> Path:
    for file in GOLDEN.iterdir():
        shutil.copy(file, tmp_path / file.name)
    document = json.loads((GOLDEN / "results.json").read_text())
    run = document["runs"][1]
    if change == "wrong type":
        run["metrics"]["top1"]["value"] = "ninety"
    elif change == "missing section":
        del run["dataset"]
    elif change == "newer":
        document["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "results.json").write_text(json.dumps(document))
    return tmp_path / "results.json"


@pytest.mark.parametrize(
    "change,message",
    [
        ("wrong type", r"results.json: field runs\[1\]\.metrics\.top1\.value: Input should be a "),
        ("missing section", r"results.json: field runs\[1\]\.dataset: missing"),
        ("newer", "has schema_version 3; this evalkit reads up to 2: upgrade evalkit"),
    ],
)
def test_invalid_results_name_the_file_and_field(tmp_path: Path, change: str, message: str) -> None:
    path = _tampered(tmp_path, change)
    with pytest.raises(EvalkitError, match=message) as raised:
        load_results(path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


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
        ('{"runs": []}', "field schema_version: expected a whole number"),
        ('{"schema_version": 1}', "not an evalkit results file"),
        ('{"schema_version": 99, "runs": []}', "upgrade evalkit"),
        ('{"schema_version": 1, "runs": [{"model": 3}]}', r"field runs\[0\]\.model"),
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
    heavy = ("torch", "tensorflow", "keras", "timm", "onnxruntime", "openvino", "ai_edge_litert")
    code = (
        "import sys, evalkit, evalkit.registry, evalkit.catalog, evalkit.export; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pytest_plugin_import_stays_light() -> None:
    """Every pytest session in an environment with evalkit loads the plugin; evaluation
    libraries load only when a test evaluates."""
    heavy = ("torch", "tensorflow", "pandas", "scipy", "matplotlib", "sklearn", "pydantic")
    code = f"import sys, evalkit.pytest_plugin; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    lazy = "import evalkit; print(evalkit.RunResult.__module__, evalkit.EvalkitFixture.__name__)"
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "evalkit.results EvalkitFixture"


def test_files_from_before_later_fields_still_load(tmp_path: Path) -> None:
    """Fields added during schema 1 (timing overhead, every batch's latency, weights size,
    custom class names) are optional when reading: older results and baselines stay usable."""
    path = _tampered(tmp_path, "none")
    document = json.loads(path.read_text())
    for run in document["runs"]:
        for key in ("overhead_s", "overhead_fraction", "batch_latencies_ms"):
            del run["timing"][key]
        del run["model"]["weights"]["bytes"], run["model"]["label_space"]["names"]
    path.write_text(json.dumps(document))
    run = load_results(path)[0]
    assert run.timing.overhead_s is None and run.timing.batch_latencies_ms == []
    assert run.model.weights.bytes is None and run.model.label_space.names is None
    save_results([run], tmp_path / "again")
    again = as_rows(json.loads((tmp_path / "again" / "results.json").read_text()))
    assert again["runs"][0] == document["runs"][0]
