"""From stored predictions to a :class:`~evalkit.results.RunResult`.

:func:`score` is a pure function of a predictions table (what the results folder stores), the
dataset's classes and the model output of each class: re-scoring a stored run needs no model.
:func:`build_result` assembles a run from the committed shards of the prediction store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evalkit.analysis.guards import run_guards
from evalkit.analysis.robustness import CORRUPTION, SEVERITY, robustness_section
from evalkit.analysis.segments import weak_segments
from evalkit.analysis.slices import groupings, meta_column, slice_table
from evalkit.bootstrap import estimate
from evalkit.calibration import ECE_BINS, Scores, brier, ece, macro_f1, nll, reliability
from evalkit.data.datasets import Dataset
from evalkit.data.properties import PROPERTIES
from evalkit.driver import Collected, merged_timing
from evalkit.environment import environment
from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.metrics import classification_metrics
from evalkit.options import MIN_SLICE_SIZE, SEGMENT_FDR, SLICE_BINS, EvalOptions
from evalkit.plan import Plan, split_tag
from evalkit.results import (
    LABEL,
    P_TRUE,
    PATH,
    SUM_SQ,
    TARGET,
    DatasetInfo,
    Environment,
    Failure,
    Latency,
    Metrics,
    ModelInfo,
    Robustness,
    RunResult,
    Runtime,
    Slices,
    Timing,
    WorkerStats,
    prediction_hits,
    prediction_topk,
    predictions_frame,
    prob_column,
    top_column,
)
from evalkit.timing import noise, percentiles_ms, summarize


def score(
    predictions: pd.DataFrame,
    classes: Sequence[str],
    class_outputs: Sequence[int] | np.ndarray,
    confidence: float = 0.95,
    bins: int = ECE_BINS,
) -> Metrics:
    """The ``metrics`` section from a predictions table.

    ``class_outputs[i]`` is the model output of dataset class ``classes[i]``; a top-1 output
    that is no dataset class counts as "other" in the confusion matrix. Calibration (``bins``
    ECE bins) needs the per-sample probabilities the store keeps (``p_true``, ``sum_sq``).
    """
    topk, probs = prediction_topk(predictions)
    outputs = np.asarray(class_outputs, dtype=np.int64)
    y_true, y_pred = class_indices(predictions, classes, outputs)
    metrics = classification_metrics(outputs[y_true], topk, y_true, y_pred, classes, confidence)
    metrics["macro_f1"] = estimate(macro_f1(y_true, y_pred, len(classes)), y_true.size).to_dict()
    scores = calibration_scores(predictions, topk, probs, outputs[y_true])
    if scores is not None:
        metrics |= calibration_metrics(scores, bins, confidence)
    return Metrics.model_validate(metrics)


def class_indices(
    predictions: pd.DataFrame, classes: Sequence[str], outputs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dataset class index of each row's label and of its top-1 output (``len(classes)``:
    an output that is no dataset class)."""
    class_index = {label: i for i, label in enumerate(classes)}
    y_true = np.array([class_index[label] for label in predictions[LABEL]], dtype=np.int64)
    back = {int(out): i for i, out in reversed(list(enumerate(outputs)))}
    top1 = predictions[top_column(1)] if len(predictions) else []
    y_pred = np.array([back.get(int(out), len(classes)) for out in top1], dtype=np.int64)
    return y_true, y_pred


def calibration_scores(
    predictions: pd.DataFrame, topk: np.ndarray, probs: np.ndarray, targets: np.ndarray
) -> Scores | None:
    """The per-sample values calibration needs, or None for files that lack them."""
    if not {P_TRUE, SUM_SQ} <= set(predictions.columns) or topk.shape[1] == 0:
        return None
    return Scores(
        p_true=predictions[P_TRUE].to_numpy(np.float64),
        confidence=probs[:, 0],
        correct=topk[:, 0] == targets,
        sum_sq=predictions[SUM_SQ].to_numpy(np.float64),
    )


def calibration_metrics(scores: Scores, bins: int, confidence: float = 0.95) -> dict[str, Any]:
    """``nll``, ``ece`` and ``brier`` with bootstrap intervals, and the reliability bins."""
    return {
        "nll": estimate(nll(scores), scores.n, confidence).to_dict(),
        "ece": estimate(ece(scores, bins), scores.n, confidence).to_dict(),
        "brier": estimate(brier(scores), scores.n, confidence).to_dict(),
        "calibration": {"bins": bins, **reliability(scores, bins)},
    }


def rescore(run: RunResult) -> Metrics:
    """A stored run's metrics, computed again from its predictions (no model is loaded)."""
    return score(run.predictions, run.dataset.classes, class_outputs_of(run), bins=ece_bins_of(run))


def slice_results(
    predictions: pd.DataFrame,
    slice_by: Sequence[str] = (),
    bins: int = SLICE_BINS,
    min_size: int = MIN_SLICE_SIZE,
    alpha: float = SEGMENT_FDR,
) -> Slices | None:
    """The ``slices`` section: per slice top-1/top-5 of every image property the predictions
    carry and of each ``slice_by`` manifest column, and the weak segments among them (None
    when there is nothing to slice by: files before 0.6 without ``slice_by``)."""
    groups = groupings(predictions, slice_by, bins)
    if not groups:
        return None
    hits1, hits5 = prediction_hits(predictions, 1), prediction_hits(predictions, 5)
    weak = weak_segments(
        groups,
        hits1,
        predictions[prob_column(1)].to_numpy(np.float64),
        predictions[PATH].tolist(),
        min_size=min_size,
        alpha=alpha,
    )
    return Slices.model_validate(
        {
            "bins": bins,
            "groups": [slice_table(g, hits1, hits5) for g in groups],
            "weak_segments": weak,
        }
    )


def rescored(
    run: RunResult,
    slice_by: Sequence[str] | None = None,
    bins: int | None = None,
    min_size: int | None = None,
) -> RunResult:
    """``run`` with its metrics, slices and guards computed again from its stored predictions
    (no model is loaded); the columns of ``slice_by`` are added to the recorded ones, and the
    bins and minimum size given replace the recorded ones."""
    recorded = EvalOptions.from_record(run.options or {})
    columns = None if slice_by is None else [*recorded.slice_by, *slice_by]  # options dedupe
    changes = {"slice_by": columns, "slice_bins": bins, "min_slice_size": min_size}
    options = recorded.replace(**{k: v for k, v in changes.items() if v is not None})
    copy = run.model_copy(deep=True)
    copy.predictions = run.predictions
    copy.metrics = rescore(run)
    copy.slices = slice_results(
        run.predictions, options.slice_by, options.slice_bins, options.min_slice_size
    )
    copy.corrupted = run.corrupted
    if run.robustness is not None:
        copy.robustness = rescored_robustness(run.robustness, run.corrupted, 1.0 - copy.top1)
    copy.guards = run_guards(copy)
    copy.options = (run.options or {}) | {
        "slice_by": list(options.slice_by),
        "slice_bins": options.slice_bins,
        "min_slice_size": options.min_slice_size,
    }
    return copy


def rescored_robustness(
    recorded: Robustness, corrupted: pd.DataFrame, clean_error: float
) -> Robustness | None:
    """The ``robustness`` section computed again from the variants' stored predictions."""
    setup = recorded.fields()
    for computed in ("clean_error", "mce", "relative_mce", "normalization", "errors", "cells"):
        setup.pop(computed, None)
    failed = {(cell.corruption, cell.severity): cell.failed for cell in recorded.cells}
    return robustness_section(corrupted, clean_error, setup, failed)


def ece_bins_of(run: RunResult) -> int:
    """The ECE bins a run was scored with (its option; the default for older files)."""
    return int((run.options or {}).get("ece_bins", ECE_BINS))


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


def predictions_of(
    rows: pa.Table, labels: LabelSpace, dataset: Dataset | None = None
) -> tuple[pd.DataFrame, list[Failure]]:
    """The predictions table (images that were read) and the failures, from store rows (Arrow
    columns to arrays, no Python object per value); with each image's properties and
    (``dataset`` a CSV manifest) its manifest columns."""
    failed = rows.filter(pc.is_valid(rows["error"]))
    failures = [
        Failure(file=path, reason=error)
        for path, error in zip(failed["path"].to_pylist(), failed["error"].to_pylist(), strict=True)
    ]
    kept = rows.filter(pc.is_null(rows["error"])) if len(failed) else rows
    topk = _rows_of(kept["top_k"], np.int64)
    frame = predictions_frame(
        paths=_strings(kept["path"]),
        labels=_strings(kept["label"]),
        targets=kept["target"].to_numpy().astype(np.int64),
        predicted=_output_names(labels, topk[:, 0]) if topk.size else [],
        topk=topk,
        probs=_rows_of(kept["top_p"], np.float32),
    )
    frame[P_TRUE] = _floats(kept["p_true"], np.float32)
    frame[SUM_SQ] = _floats(kept["sum_sq"], np.float32)
    for name in PROPERTIES:
        frame[name] = _floats(kept[name], np.float64)
    if dataset is not None:
        _add_manifest_columns(frame, kept["index"].to_numpy(), dataset)
    return frame, failures


def _rows_of(column: pa.ChunkedArray, dtype: type[np.generic]) -> np.ndarray:
    """A list column whose lists all have the same length (top-k) as an n x k array."""
    values = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(dtype)
    return values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)


def _floats(column: pa.ChunkedArray, dtype: type[np.generic]) -> np.ndarray:
    """A numeric or boolean column as floats, nulls as NaN."""
    as_float = pc.cast(column, pa.float64())
    return np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=dtype)


def _strings(column: pa.ChunkedArray) -> np.ndarray:
    """A string column as an object array in which equal values are one Python string (a
    corrupted run repeats each path and label 76 times)."""
    values, where = _encoded(column)
    return np.array(values, dtype=object)[where]


def _encoded(column: pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
    """A string column's distinct values (None last, for nulls) and each row's index into
    them."""
    encoded = column.combine_chunks().dictionary_encode()
    values = [*encoded.dictionary.to_pylist(), None]
    return values, encoded.indices.fill_null(len(values) - 1).to_numpy()


def _output_names(labels: LabelSpace, outputs: np.ndarray) -> np.ndarray:
    """The class name of each model output index."""
    distinct, where = np.unique(outputs, return_inverse=True)
    names = np.array([labels.name_of(int(output)) for output in distinct], dtype=object)
    return names[where.reshape(-1)]


@dataclass
class Corrupted:
    """The corrupted variants of a run: their predictions, the variants that could not be made
    (per corruption and severity) and the ``robustness`` section's descriptive fields."""

    frame: pd.DataFrame
    failed: dict[tuple[str, int], int]
    setup: dict[str, Any]


def split_variants(rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Store rows as (the images', their corrupted variants'), without the columns that
    scoring does not read (the sample ids are the largest)."""
    rows = rows.drop_columns(["sample_id", "p_top1"])
    if rows["variant"].null_count == len(rows):  # no corruptions: no copy
        return rows, rows.slice(0, 0)
    clean = pc.is_null(rows["variant"])
    return rows.filter(clean), rows.filter(pc.invert(clean))


def corrupted_of(
    rows: pa.Table, labels: LabelSpace, failures: list[Failure], setup: dict[str, Any]
) -> Corrupted:
    """The variants' predictions table (``corruption``, ``severity`` columns added) from their
    store rows; ``failures``: the images that could not be read (their variants are not
    counted as failed)."""
    frame, _ = predictions_of(rows, labels)
    tags, where = _encoded(rows["variant"].filter(pc.is_null(rows["error"])))  # the kept rows
    pairs = [split_tag(str(tag)) for tag in tags[:-1]]  # 75 at most; variant rows have one
    frame = frame.drop(columns=list(PROPERTIES))  # the image's, in the main predictions
    names = np.array([name for name, _ in pairs], dtype=object)
    frame.insert(1, CORRUPTION, names[where] if pairs else np.array([], dtype=object))
    levels = np.array([level for _, level in pairs], dtype=np.int64)
    frame.insert(2, SEVERITY, levels[where] if pairs else np.array([], dtype=np.int64))
    unreadable = {failure.file for failure in failures}
    failed: dict[tuple[str, int], int] = {}
    errors = rows.filter(pc.is_valid(rows["error"]))
    for path, tag in zip(errors["path"].to_pylist(), errors["variant"].to_pylist(), strict=True):
        if path not in unreadable:
            key = split_tag(tag)
            failed[key] = failed.get(key, 0) + 1
    return Corrupted(frame, failed, setup)


def _add_manifest_columns(frame: pd.DataFrame, indices: Sequence[int], dataset: Dataset) -> None:
    """A CSV manifest's other columns, by the dataset position of each row."""
    attributes = [dict(dataset.samples[int(i)].attributes) for i in indices]
    for name in dataset.columns:
        frame[meta_column(name)] = [row.get(name, "") for row in attributes]


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
    corrupted: Corrupted | None = None,
) -> RunResult:
    """A run's result from its committed shards (``read``: their predictions and failures;
    ``corrupted``: the corrupted variants'): metrics, timing, environment, options and how the
    samples were obtained."""
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
        metrics=score(predictions, dataset.classes, outputs, bins=options.ece_bins),
        slices=slice_results(
            predictions, options.slice_by, options.slice_bins, options.min_slice_size
        ),
        timing=run_timing(collected, options, runtime),
        failures=failures,
        environment=Environment.model_validate(environment() | {"runtime": runtime}),
        options=options.record(),
        class_outputs=[int(out) for out in outputs],
        execution=collected.info,
        predictions=predictions,
    )
    if corrupted is not None:
        result.corrupted = corrupted.frame
        result.robustness = robustness_section(
            corrupted.frame, 1.0 - result.top1, corrupted.setup, corrupted.failed
        )
    result.guards = run_guards(result)
    return result
