"""From stored predictions to a :class:`~evalkit.results.RunResult`.

:func:`score` is a pure function of a predictions table (what the results folder stores), the
dataset's classes and the model output of each class: re-scoring a stored run needs no model.
:func:`build_result` assembles a run from the committed shards of the prediction store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.datasets import Dataset
from evalkit.driver import Collected, merged_timing
from evalkit.environment import environment
from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.metrics import classification_metrics
from evalkit.options import EvalOptions
from evalkit.plan import Plan
from evalkit.results import (
    LABEL,
    TARGET,
    DatasetInfo,
    Environment,
    Failure,
    Latency,
    Metrics,
    ModelInfo,
    RunResult,
    Runtime,
    Timing,
    WorkerStats,
    prediction_topk,
    predictions_frame,
)
from evalkit.timing import noise, percentiles_ms, summarize


def score(
    predictions: pd.DataFrame,
    classes: Sequence[str],
    class_outputs: Sequence[int] | np.ndarray,
    confidence: float = 0.95,
) -> Metrics:
    """The ``metrics`` section from a predictions table.

    ``class_outputs[i]`` is the model output of dataset class ``classes[i]``; a top-1 output
    that is no dataset class counts as "other" in the confusion matrix.
    """
    topk, _ = prediction_topk(predictions)
    class_index = {label: i for i, label in enumerate(classes)}
    y_true = np.array([class_index[label] for label in predictions[LABEL]], dtype=np.int64)
    outputs = np.asarray(class_outputs, dtype=np.int64)
    back = {int(out): i for i, out in reversed(list(enumerate(outputs)))}
    y_pred = np.array([back.get(int(out), len(classes)) for out in topk[:, 0]], dtype=np.int64)
    metrics = classification_metrics(outputs[y_true], topk, y_true, y_pred, classes, confidence)
    return Metrics.model_validate(metrics)


def rescore(run: RunResult) -> Metrics:
    """A stored run's metrics, computed again from its predictions (no model is loaded)."""
    return score(run.predictions, run.dataset.classes, class_outputs_of(run))


def class_outputs_of(run: RunResult) -> list[int]:
    """The model output of each dataset class: recorded, or (files before 0.2) read from the
    predictions, which pair every evaluated image's label with its target output."""
    if run.class_outputs is not None:
        return run.class_outputs
    pairs = dict(zip(run.predictions[LABEL], run.predictions[TARGET], strict=True))
    missing = [label for label in run.dataset.classes if label not in pairs]
    if missing:
        raise EvalkitError(
            f"{run.id}: cannot re-score a results file without class_outputs when classes have "
            f"no evaluated image ({', '.join(missing[:5])}); evaluate the model again"
        )
    return [int(pairs[label]) for label in run.dataset.classes]


def predictions_of(rows: dict[str, Any], labels: LabelSpace) -> tuple[pd.DataFrame, list[Failure]]:
    """The predictions table (images that were read) and the failures, from store rows."""
    ok = [error is None for error in rows["error"]]
    failures = [
        Failure(file=path, reason=error)
        for path, error in zip(rows["path"], rows["error"], strict=True)
        if error is not None
    ]
    kept = {
        name: [v for v, good in zip(column, ok, strict=True) if good]
        for name, column in rows.items()
    }
    topk = np.array(kept["top_k"], dtype=np.int64).reshape(len(kept["top_k"]), -1)
    probs = np.array(kept["top_p"], dtype=np.float32).reshape(len(kept["top_p"]), -1)
    frame = predictions_frame(
        paths=kept["path"],
        labels=kept["label"],
        targets=np.array(kept["target"], dtype=np.int64),
        predicted=[labels.name_of(int(out)) for out in topk[:, 0]] if len(topk) else [],
        topk=topk,
        probs=probs,
    )
    frame["p_true"] = np.array(kept["p_true"], dtype=np.float32)
    frame["sum_sq"] = np.array(kept["sum_sq"], dtype=np.float32)
    return frame, failures


def run_timing(collected: Collected, options: EvalOptions, runtime: Runtime) -> Timing:
    """The ``timing`` section. One worker: every batch's latency, as before. Several (Ray):
    throughput of the whole run only; latencies stay per worker (``execution.workers``).
    The batch size is the one the run used (``batch_size`` auto: the probe's choice)."""
    merged = merged_timing(collected)
    used = runtime.fields().get("batch_size", options.batch_size)
    batch_size, device = int(used), runtime.device
    if collected.info.executor == "local":
        timing = summarize(
            batch_seconds=merged.batch_seconds,
            batch_sizes=merged.batch_sizes,
            batch_size=batch_size,
            stages=merged.stages,
            wall=collected.wall,
            warmup=options.warmup,
            device=device,
        )
        if timing.timed_batches:
            timing.noise = noise(timing.batch_latencies_ms, collected.load, os.cpu_count())
        return timing
    timing = summarize(
        batch_seconds=[],
        batch_sizes=[],
        batch_size=batch_size,
        stages=merged.stages,
        wall=collected.wall,
        warmup=options.warmup,
        device=device,
    )
    images = sum(merged.batch_sizes)
    timing.images = images
    timing.timed_batches = len(merged.batch_seconds)
    timing.throughput_img_s = images / collected.wall if collected.wall > 0 else None
    return timing


def worker_stats(collected: Collected) -> list[WorkerStats]:
    by_worker: dict[str, list[Any]] = {}
    for timing in collected.timings:
        by_worker.setdefault(timing.worker, []).append(timing)
    stats = []
    for worker, timings in sorted(by_worker.items()):
        seconds = sum(t.seconds for t in timings)
        images = sum(sum(t.batch_sizes) for t in timings)
        full = [s for t in timings for s in t.batch_seconds]
        stats.append(
            WorkerStats(
                worker=worker,
                shards=len(timings),
                images=images,
                seconds=seconds,
                throughput_img_s=images / seconds if seconds > 0 else None,
                batch_latency_ms=Latency(**percentiles_ms(full)),
            )
        )
    return stats


def build_result(
    model: ModelInfo,
    runtime: Runtime,
    labels: LabelSpace,
    dataset: Dataset,
    plan: Plan,
    collected: Collected,
    outputs: np.ndarray,
    options: EvalOptions,
    read: tuple[pd.DataFrame, list[Failure]],
) -> RunResult:
    """A run's result from its committed shards (``read``: their predictions and failures):
    metrics, timing, environment, options and how the samples were obtained."""
    predictions, failures = read
    collected.info.workers = worker_stats(collected) if collected.info.executor != "local" else []
    result = RunResult(
        model=model,
        dataset=DatasetInfo.model_validate(
            dataset.describe()
            | {
                "fingerprint": plan.fingerprint,
                "evaluated": len(predictions),
                "failed": len(failures),
            }
        ),
        metrics=score(predictions, dataset.classes, outputs),
        timing=run_timing(collected, options, runtime),
        failures=failures,
        environment=Environment.model_validate(environment() | {"runtime": runtime}),
        options=options.record(),
        class_outputs=[int(out) for out in outputs],
        execution=collected.info,
        predictions=predictions,
    )
    return result
