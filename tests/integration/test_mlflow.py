"""Experiment tracking against a real MLflow store (SQLite in a temporary folder), read back
through MLflow's own client."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from helpers import assert_user_error, run_cli

pytest.importorskip("mlflow")


def client(uri: str) -> Any:
    with warnings.catch_warnings():  # MLflow's and SQLAlchemy's deprecations, not ours
        warnings.simplefilter("ignore")
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=uri)


def runs_of(uri: str, experiment: str) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = client(uri)
        found = store.get_experiment_by_name(experiment)
        return [] if found is None else store.search_runs([found.experiment_id])


def artifacts(uri: str, run_id: str) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {item.path for item in client(uri).list_artifacts(run_id)}


def test_run_and_log_to_a_local_mlflow_store(
    tmp_path: Path, demo: tuple[dict[str, str], Path]
) -> None:
    models, data = demo
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"MLFLOW_TRACKING_URI": uri}
    out = tmp_path / "run"
    done = run_cli(
        "run",
        "--model",
        models["torch"],
        "--data",
        data,
        "--limit",
        "100",
        "--batch-size",
        "25",
        "--no-cache",  # timed batches: another test may have cached these predictions
        "--out",
        out,
        "--mlflow",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (logged,) = json.loads(done.stdout)["mlflow"]
    assert logged["new"] and logged["tracking_uri"] == uri
    (run,) = runs_of(uri, "evalkit")
    assert run.info.run_id == logged["run_id"] and run.info.status == "FINISHED"
    params, metrics = run.data.params, run.data.metrics
    results = json.loads((out / "results.json").read_text())["runs"][0]
    assert params["model.id"] == models["torch"]
    assert params["weights.sha256"] == results["model"]["weights"]["sha256"]
    assert params["preprocessing.crop"] == str(results["model"]["preprocessing"]["crop"])
    assert params["options.limit"] == "100" and params["dataset.n"] == "100"
    for name in ("top1", "top5", "macro_f1", "nll", "ece", "brier"):
        section = results["metrics"][name]
        assert metrics[name] == pytest.approx(section["value"])
        assert metrics[f"{name}_low"] == pytest.approx(section["low"])
        assert metrics[f"{name}_high"] == pytest.approx(section["high"])
    assert metrics["latency_p50_ms"] > 0
    assert {"results.json", "report.html", results["predictions_file"]} <= artifacts(
        uri, run.info.run_id
    )

    again = run_cli("log", out, "--mlflow", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "already logged as run " + run.info.run_id in again.stdout
    assert len(runs_of(uri, "evalkit")) == 1
    other = run_cli(
        "log",
        out / "results.json",
        "--mlflow",
        "--mlflow-experiment",
        "nightly",
        "--run-name",
        "resnet-check",
        env=env,
        cwd=tmp_path,
    )
    assert other.returncode == 0, other.stderr
    (named,) = runs_of(uri, "nightly")
    assert named.info.run_name == "resnet-check"


def test_log_needs_a_tracker_and_a_results_file(tmp_path: Path) -> None:
    assert_user_error(run_cli("log", tmp_path, cwd=tmp_path), "--mlflow")
    done = run_cli(
        "log",
        tmp_path / "none.json",
        "--mlflow",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"},
    )
    assert_user_error(done, "none.json")


def test_many_and_odd_parameters_are_logged(tmp_path: Path) -> None:
    """MLflow takes 100 parameters per request and names of ``\\w - . / : space`` only."""
    import numpy as np

    from evalkit.results import save_results
    from evalkit.tracking import run_params
    from helpers import fake_run, predictions_table

    classes = ["cat", "dog"]
    frame = predictions_table(
        ["a.png", "b.png"], classes, classes, np.array([[0, 1], [1, 0]]), np.full((2, 2), 0.5)
    )
    run = fake_run(frame, classes, model_id="onnx:/m/model+v2(final).onnx")
    run.options = {f"opt{i}": i for i in range(150)} | {"weights": {"a=b": "/w+1.pt"}}
    params = run_params(run)
    assert len(params) > 150 and params["options.weights"] == '{"a=b": "/w+1.pt"}'
    save_results([run], tmp_path / "r")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_cli(
        "log", tmp_path / "r", "--mlflow", env={"MLFLOW_TRACKING_URI": uri}, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    (logged,) = runs_of(uri, "evalkit")
    assert logged.data.params["options.opt149"] == "149"
    assert logged.data.params["model.id"] == "onnx:/m/model+v2(final).onnx"
