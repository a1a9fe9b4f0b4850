"""``evaluate()``: the one library entry point that the CLI, the demo and pytest wrap."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.datasets import Dataset, load_dataset, subset
from evalkit.environment import environment
from evalkit.errors import EvalkitError
from evalkit.labels import load_class_map, map_labels
from evalkit.metrics import classification_metrics
from evalkit.models.base import Execution, ModelAdapter
from evalkit.registry import load_model, parse_model_id
from evalkit.results import RunResult
from evalkit.runner import RawRun, run_model
from evalkit.timing import summarize


def prepare_dataset(
    data: str | Path | Dataset,
    *,
    format: str = "auto",
    labels_file: str | Path | None = None,
    limit: int | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Read ``data`` (unless it already is a Dataset) and take the requested subset."""
    dataset = (
        data if isinstance(data, Dataset) else load_dataset(data, format, ground_truth=labels_file)
    )
    return subset(dataset, limit=limit, per_class=per_class, seed=seed)


def evaluate(
    model: str | ModelAdapter,
    data: str | Path | Dataset,
    *,
    batch_size: int = 32,
    device: str = "auto",
    format: str = "auto",
    labels_file: str | Path | None = None,
    limit: int | None = None,
    per_class: int | None = None,
    seed: int = 0,
    weights: Mapping[str, str | Path] | None = None,
    class_map: str | Path | Mapping[str, str] | None = None,
    strict: bool = False,
    warmup: int = 1,
    workers: int | None = None,
    progress: bool = False,
    precision: str = "fp32",
    channels_last: bool = False,
    threads: int | None = None,
) -> RunResult:
    """Evaluate one model on a labeled image set and return its :class:`RunResult`.

    ``model`` is a model id (``torchvision:resnet50``, ``keras:MobileNetV2``, …) or an adapter;
    ``data`` a folder, CSV manifest or :class:`Dataset`. Unreadable images are listed in
    ``failures`` (``strict=True`` raises instead). ``precision`` (fp32, bf16, fp16: autocast,
    torch only), ``channels_last`` and ``threads`` say how the model runs (see
    :class:`evalkit.models.base.Execution`).
    """
    check_batch_size(batch_size)
    dataset = prepare_dataset(
        data, format=format, labels_file=labels_file, limit=limit, per_class=per_class, seed=seed
    )
    execution = Execution(precision=precision, channels_last=channels_last, threads=threads)
    adapter = (
        model
        if not isinstance(model, str)
        else load_model(model, device=device, weights=weights, execution=execution)
    )
    return evaluate_adapter(
        adapter,
        dataset,
        batch_size=batch_size,
        class_map=class_map,
        strict=strict,
        warmup=warmup,
        workers=workers,
        progress=progress,
    )


def check_batch_size(batch_size: int) -> None:
    if batch_size <= 0:
        raise EvalkitError(f"batch size must be a positive number, got {batch_size}")


def evaluate_adapter(
    adapter: ModelAdapter,
    dataset: Dataset,
    *,
    batch_size: int,
    class_map: str | Path | Mapping[str, str] | None = None,
    strict: bool = False,
    warmup: int = 1,
    workers: int | None = None,
    progress: bool = False,
) -> RunResult:
    """Evaluate a loaded adapter on a prepared dataset."""
    check_batch_size(batch_size)
    mapping = load_class_map(Path(class_map)) if isinstance(class_map, str | Path) else class_map
    outputs = np.array(map_labels(dataset.classes, adapter.labels, mapping))
    start = time.perf_counter()
    raw = run_model(
        adapter, dataset, batch_size=batch_size, warmup=warmup, workers=workers, progress=progress
    )
    wall = time.perf_counter() - start
    failures = [
        {"file": dataset.relative(dataset.samples[i]), "reason": reason}
        for i, reason in raw.failures
    ]
    _check_failures(failures, len(dataset), strict)
    return _build_result(
        adapter,
        dataset,
        raw,
        outputs,
        failures,
        timing_args={"batch_size": batch_size, "wall": wall, "warmup": warmup},
    )


def _check_failures(failures: list[dict[str, str]], total: int, strict: bool) -> None:
    if failures and (strict or len(failures) == total):
        first = failures[0]
        what = "no image could be read" if len(failures) == total else "--strict is set"
        raise EvalkitError(
            f"{len(failures)} of {total} images failed ({what}); first: {first['file']}: "
            f"{first['reason']}"
        )


def _build_result(
    adapter: ModelAdapter,
    dataset: Dataset,
    raw: RawRun,
    outputs: np.ndarray,
    failures: list[dict[str, str]],
    timing_args: dict[str, Any],
) -> RunResult:
    order = np.concatenate(raw.indices)
    topk, probs = np.concatenate(raw.topk), np.concatenate(raw.probs)
    class_index = {label: i for i, label in enumerate(dataset.classes)}
    y_true = np.array([class_index[dataset.samples[i].label] for i in order])
    back = {int(out): i for i, out in reversed(list(enumerate(outputs)))}
    y_pred = np.array([back.get(int(out), len(dataset.classes)) for out in topk[:, 0]])
    targets = outputs[y_true]
    metrics = classification_metrics(targets, topk, y_true, y_pred, dataset.classes)
    runtime = adapter.runtime()
    timing = summarize(
        batch_seconds=raw.batch_seconds,
        batch_sizes=raw.batch_sizes,
        batch_size=timing_args["batch_size"],
        stages=raw.stages,
        wall=timing_args["wall"],
        warmup=timing_args["warmup"],
    )
    timing["device"] = runtime["device"]
    timing["stages_s"] |= runtime.pop("device_stages_s", {})  # CUDA: copies, device forward
    fingerprint = raw.fingerprint.hexdigest()
    return RunResult(
        model=adapter.describe(),
        dataset=dataset.describe()
        | {
            "fingerprint": f"sha256:{fingerprint}",
            "evaluated": int(order.size),
            "failed": len(failures),
        },
        metrics=metrics,
        timing=timing,
        failures=failures,
        environment=environment() | {"runtime": runtime},
        predictions=_predictions(adapter, dataset, order, targets, topk, probs),
    )


def _predictions(
    adapter: ModelAdapter,
    dataset: Dataset,
    order: np.ndarray,
    targets: np.ndarray,
    topk: np.ndarray,
    probs: np.ndarray,
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "path": [dataset.relative(dataset.samples[i]) for i in order],
            "label": [dataset.samples[i].label for i in order],
            "target": targets,
            "predicted": [adapter.labels.name_of(int(out)) for out in topk[:, 0]],
        }
    )
    for k in range(topk.shape[1]):
        frame[f"top{k + 1}"] = topk[:, k]
        frame[f"prob{k + 1}"] = probs[:, k]
    return frame


def evaluate_many(
    models: Sequence[str | ModelAdapter], data: str | Path | Dataset, **options: Any
) -> list[RunResult]:
    """Evaluate several models on the same samples (the dataset is read once)."""
    check_batch_size(options.get("batch_size", 32))
    for model in models:  # a typo in the last id should not cost the first model's run
        if isinstance(model, str):
            parse_model_id(model)
    keys = ("format", "labels_file", "limit", "per_class", "seed")
    dataset = prepare_dataset(data, **{k: options.pop(k) for k in keys if k in options})
    return [evaluate(model, dataset, **options) for model in models]
