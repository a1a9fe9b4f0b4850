"""Experiment tracking: log evaluated runs to MLflow (optional extra ``evalkit[mlflow]``).

One MLflow run per evalkit run, in the active tracking URI (``MLFLOW_TRACKING_URI`` or
MLflow's default) and an experiment (``MLFLOW_EXPERIMENT_NAME``, else ``evalkit``):

- parameters: model id, framework, weights (name, file, sha256), every preprocessing step,
  the label space and subset, the dataset (path, format, size, fingerprint) and every option;
- metrics: top-1/top-5 and their interval bounds (``top1_low``, ``top1_high``), top-1 macro,
  macro-F1, NLL, ECE and Brier score with theirs, latency percentiles and throughput;
- artifacts: ``results.json``, the HTML report and the run's predictions file;
- tags: ``evalkit.run_key`` (the results file and run), so logging the same run twice does not
  create a second MLflow run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.errors import EvalkitError
from evalkit.results import RESULTS_FILE, RunResult, load_results

DEFAULT_EXPERIMENT = "evalkit"
# MLflow retries an unreachable server for minutes by default; evalkit fails within seconds
# unless these are set
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
MAX_PARAM = 6000  # MLflow's limit on a parameter value
MAX_KEY = 250  # and on a name
BATCH = 100  # parameters per log_batch request (MLflow's limit)
RUN_KEY = "evalkit.run_key"


@dataclass(frozen=True)
class Logged:
    """An evalkit run and the MLflow run it was logged as."""

    model: str
    run_id: str
    experiment_id: str
    tracking_uri: str
    new: bool  # False: the same run was already logged


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's and its database layer's deprecation warnings and INFO logs are not ours."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _mlflow() -> Any:
    try:
        with _quiet():
            import mlflow
    except ImportError:
        raise EvalkitError(
            "--mlflow needs MLflow: pip install 'evalkit[mlflow]' (or mlflow)"
        ) from None
    return mlflow


def _key(name: str) -> str:
    """A parameter name MLflow accepts (letters, digits, ``_ - . / : space``; 250 at most)."""
    return re.sub(r"[^\w\-. /:]", "_", name)[:MAX_KEY]


def _text(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 1] + "…"


def _flatten(prefix: str, section: dict[str, Any], nested: bool = True) -> dict[str, str]:
    """``prefix.key`` for each field; ``nested``: a dict field's entries one level deeper,
    else (and below that) values as JSON."""
    flat: dict[str, str] = {}
    for key, value in section.items():
        if isinstance(value, dict) and nested:
            flat |= {f"{prefix}.{key}.{k}": _text(v) for k, v in value.items() if v is not None}
        elif value is not None:
            flat[f"{prefix}.{key}"] = _text(value)
    return flat


def run_params(run: RunResult) -> dict[str, str]:
    """What the run was: model, weights, preprocessing, label space, data and options."""
    model, data = run.model, run.dataset
    params = {
        "model.id": model.id,
        "model.framework": model.framework,
        "evalkit.version": __version__,
    }
    params |= _flatten("weights", model.weights.fields())
    params |= _flatten("preprocessing", model.preprocessing.fields())
    params |= _flatten("label_space", model.label_space.fields() | {"names": None})
    params |= _flatten(
        "dataset",
        {
            "path": data.path,
            "format": data.format,
            "n": data.n,
            "classes": len(data.classes),
            "subset": data.subset,
            "fingerprint": data.fingerprint,
        },
    )
    params |= _flatten("options", run.options or {}, nested=False)  # weights: {id: file}
    return {_key(key): value for key, value in params.items() if value != ""}


def run_metrics(run: RunResult) -> dict[str, float]:
    """Every metric as a number; an interval's bounds are separate metrics (``_low``, ``_high``)."""
    metrics = run.metrics
    values: dict[str, float | None] = {"top1_macro": metrics.top1_macro}
    for name in ("top1", "top5"):
        accuracy = getattr(metrics, name)
        values |= {name: accuracy.value, f"{name}_low": accuracy.low, f"{name}_high": accuracy.high}
    for name in ("macro_f1", "nll", "ece", "brier"):
        estimate = getattr(metrics, name)
        if estimate is not None:
            values |= {
                name: estimate.value,
                f"{name}_low": estimate.low,
                f"{name}_high": estimate.high,
            }
    if run.robustness is not None:  # --corruptions
        values |= {"mce": run.robustness.mce, "relative_mce": run.robustness.relative_mce}
    timing = run.timing
    values |= {
        "images": float(run.dataset.evaluated),
        "failed_images": float(run.dataset.failed),
        "throughput_img_s": timing.throughput_img_s,
        "latency_p50_ms": timing.batch_latency_ms.p50,
        "latency_p90_ms": timing.batch_latency_ms.p90,
        "latency_p99_ms": timing.batch_latency_ms.p99,
    }
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def _experiment(client: Any, mlflow: Any, name: str | None) -> str:
    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage != "active":
            raise EvalkitError(
                f"MLflow experiment {name!r} is deleted; restore it or pass another "
                "--mlflow-experiment"
            )
        return str(found.experiment_id)
    return str(client.create_experiment(name))


def _run_key(results: Path, run: RunResult) -> str:
    digest = hashlib.sha256(results.read_bytes())
    digest.update(run.id.encode())
    return digest.hexdigest()[:32]


def _log_one(
    client: Any, mlflow: Any, experiment: str, results: Path, run: RunResult, name: str | None
) -> Logged:
    key = _run_key(results, run)
    uri = mlflow.get_tracking_uri()
    seen = client.search_runs([experiment], filter_string=f"tags.`{RUN_KEY}` = '{key}'")
    if seen:
        return Logged(run.id, seen[0].info.run_id, experiment, uri, new=False)
    tags = {RUN_KEY: key, "evalkit.results": str(results.resolve())}
    created = client.create_run(experiment, run_name=name or run.name, tags=tags)
    run_id = created.info.run_id
    now = int(time.time() * 1000)
    entities = mlflow.entities
    params = [entities.Param(k, v) for k, v in run_params(run).items()]
    metrics = [entities.Metric(k, v, now, 0) for k, v in run_metrics(run).items()]
    client.log_batch(run_id, metrics=metrics)
    for start in range(0, len(params), BATCH):
        client.log_batch(run_id, params=params[start : start + BATCH])
    for artifact in _artifacts(results, run):
        client.log_artifact(run_id, str(artifact))
    client.set_terminated(run_id)
    return Logged(run.id, run_id, experiment, uri, new=True)


def _artifacts(results: Path, run: RunResult) -> list[Path]:
    folder = results.parent
    files = [results, folder / "report.html"]
    if run.predictions_file:
        files.append(folder / run.predictions_file)
    return [path for path in files if path.is_file()]


def _name(given: str | None, run: RunResult, runs: Sequence[RunResult]) -> str | None:
    if given is None:
        return None
    return given if len(runs) == 1 else f"{given}: {run.name}"


def log_mlflow(
    results: str | Path,
    *,
    experiment: str | None = None,
    run_name: str | None = None,
    models: Sequence[str] | None = None,
) -> list[Logged]:
    """Log every run of a results file (or its folder) to MLflow; returns what was logged."""
    path = Path(results)
    path = path / RESULTS_FILE if path.is_dir() else path
    runs = [run for run in load_results(path) if models is None or run.id in models]
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    mlflow = _mlflow()
    with _quiet():
        from mlflow.tracking import MlflowClient

        try:
            client = MlflowClient()
            experiment_id = _experiment(client, mlflow, experiment)
            return [
                _log_one(client, mlflow, experiment_id, path, run, _name(run_name, run, runs))
                for run in runs
            ]
        except mlflow.exceptions.MlflowException as error:
            raise EvalkitError(
                f"MLflow ({mlflow.get_tracking_uri()}): {error.message}; check MLFLOW_TRACKING_URI"
            ) from None
