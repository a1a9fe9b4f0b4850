"""``evaluate()``: the one library entry point that the CLI, the demo and pytest wrap."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.data.datasets import Dataset, load_dataset, subset
from evalkit.errors import EvalkitError
from evalkit.labels import load_class_map, map_labels
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.registry import load_model, parse_model_id
from evalkit.results import RunResult
from evalkit.runner import run_model
from evalkit.scoring import build_result


def resolve_options(options: EvalOptions | None = None, **overrides: Any) -> EvalOptions:
    """``options`` (default: :class:`EvalOptions`'s defaults) with keyword ``overrides``."""
    base = options or EvalOptions()
    return base.replace(**overrides) if overrides else base


def prepare_dataset(data: str | Path | Dataset, options: EvalOptions | None = None) -> Dataset:
    """Read ``data`` (unless it already is a Dataset) and take the requested subset."""
    options = options or EvalOptions()
    dataset = (
        data
        if isinstance(data, Dataset)
        else load_dataset(data, options.format, ground_truth=options.labels_file)
    )
    return subset(dataset, limit=options.limit, per_class=options.per_class, seed=options.seed)


def evaluate(
    model: str | ModelAdapter,
    data: str | Path | Dataset,
    options: EvalOptions | None = None,
    **overrides: Any,
) -> RunResult:
    """Evaluate one model on a labeled image set and return its :class:`RunResult`.

    ``model`` is a model id (``torchvision:resnet50``, ``keras:MobileNetV2``, …) or an adapter;
    ``data`` a folder, CSV manifest or :class:`Dataset`. ``options`` is an
    :class:`~evalkit.options.EvalOptions`; keywords of the same names override it
    (``evaluate(model, data, batch_size=64, per_class=5)``). Unreadable images are listed in
    ``failures`` (``strict=True`` raises instead).
    """
    options = resolve_options(options, **overrides)
    dataset = prepare_dataset(data, options)
    adapter = model if not isinstance(model, str) else load_model(model, options)
    return evaluate_adapter(adapter, dataset, options)


def evaluate_adapter(
    adapter: ModelAdapter, dataset: Dataset, options: EvalOptions | None = None, **overrides: Any
) -> RunResult:
    """Evaluate a loaded adapter on a prepared dataset (subset options are not applied again)."""
    options = resolve_options(options, **overrides)
    class_map = options.label_map
    mapping = load_class_map(class_map) if isinstance(class_map, Path) else class_map
    outputs = np.array(map_labels(dataset.classes, adapter.labels, mapping))
    start = time.perf_counter()
    raw = run_model(
        adapter,
        dataset,
        batch_size=options.batch_size,
        warmup=options.warmup,
        workers=options.workers,
        progress=options.progress,
    )
    wall = time.perf_counter() - start
    _check_failures(raw.failures, dataset, options.strict)
    return build_result(adapter, dataset, raw, outputs, options, wall)


def _check_failures(failures: list[tuple[int, str]], dataset: Dataset, strict: bool) -> None:
    total = len(dataset)
    if failures and (strict or len(failures) == total):
        index, reason = failures[0]
        what = "no image could be read" if len(failures) == total else "--strict is set"
        raise EvalkitError(
            f"{len(failures)} of {total} images failed ({what}); first: "
            f"{dataset.relative(dataset.samples[index])}: {reason}"
        )


def evaluate_many(
    models: Sequence[str | ModelAdapter],
    data: str | Path | Dataset,
    options: EvalOptions | None = None,
    **overrides: Any,
) -> list[RunResult]:
    """Evaluate several models on the same samples (the dataset is read once)."""
    options = resolve_options(options, **overrides)
    for model in models:  # a typo in the last id should not cost the first model's run
        if isinstance(model, str):
            parse_model_id(model)
    dataset = prepare_dataset(data, options)
    return [
        evaluate_adapter(load_model(m, options) if isinstance(m, str) else m, dataset, options)
        for m in models
    ]
