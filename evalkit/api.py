"""``evaluate()``: the one library entry point that the CLI, the demo and pytest wrap."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evalkit.analysis.slices import check_slice_columns
from evalkit.data.corrupted import corruption_setup
from evalkit.data.datasets import Dataset, load_dataset, subset
from evalkit.data.decode import measure_file
from evalkit.data.properties import PROPERTIES, ImageProperties
from evalkit.driver import STOP, Interrupted, check_resumed_models, collect, store_folder
from evalkit.errors import EvalkitError
from evalkit.executors import Executor
from evalkit.executors.local import LocalExecutor
from evalkit.labels import LabelSpace, load_class_map, map_labels
from evalkit.labelsets import check_covers, describe, load_label_subset, subset_outputs
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.plan import Plan, plan_run, variants_of
from evalkit.registry import load_model, parse_model_id
from evalkit.results import Failure, LabelSubsetInfo, RunResult
from evalkit.scoring import build_result, corrupted_of, predictions_of, split_variants
from evalkit.store import merged_table


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
    check_slice_columns(options.slice_by, dataset.columns, dataset.filled_columns)  # up front
    return subset(
        dataset,
        limit=options.limit,
        per_class=options.per_class,
        seed=options.seed,
        sample=options.sample,
    )


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
    (``evaluate(model, data, batch_size=64, per_class=5, out="runs/r1", resume=True,
    executor="ray")``). Unreadable images are listed in ``failures`` (``strict=True`` raises).
    """
    options = resolve_options(options, **overrides)
    check_resumed_models(options, [_model_id(model)])
    return run(model, prepare_dataset(data, options), options)


def _model_id(model: str | ModelAdapter) -> str:
    return model if isinstance(model, str) else model.id


def make_executor(
    model: str | ModelAdapter, options: EvalOptions, actors: int | None = None
) -> Executor:
    if options.executor == "ray":
        if not isinstance(model, str):
            raise EvalkitError(
                "--executor ray takes model ids (each worker loads the model), not a loaded model"
            )
        from evalkit.executors.ray import RayExecutor

        return RayExecutor(model, options, actors)
    adapter = model if not isinstance(model, str) else load_model(model, options)
    return LocalExecutor(adapter, options)


def run(
    model: str | ModelAdapter, dataset: Dataset, options: EvalOptions, actors: int | None = None
) -> RunResult:
    """Evaluate ``model`` on a prepared dataset with the executor ``options`` name (``actors``:
    Ray workers for this model, default the whole cluster)."""
    executor = make_executor(model, options, actors)
    try:
        return run_with(executor, dataset, options)
    finally:
        executor.close()


def evaluate_adapter(
    adapter: ModelAdapter, dataset: Dataset, options: EvalOptions | None = None, **overrides: Any
) -> RunResult:
    """Evaluate a loaded adapter on a prepared dataset (subset options are not applied again)."""
    options = resolve_options(options, **overrides)
    return run_with(LocalExecutor(adapter, options), dataset, options)


def run_with(executor: Executor, dataset: Dataset, options: EvalOptions) -> RunResult:
    """Plan, take each shard from the store, the cache or the executor, then score."""
    model, labels = executor.describe()
    class_map = options.label_map
    mapping = load_class_map(class_map) if isinstance(class_map, Path) else class_map
    outputs = np.array(map_labels(dataset.classes, labels, mapping))
    if options.label_subset is not None:
        model.label_space.subset = _label_subset(options.label_subset, labels, outputs, dataset)
    memo = options.cache_root / "file-hashes.sqlite" if options.cache else None
    plan = plan_run(
        dataset,
        outputs,
        images_per_shard=options.images_per_shard,
        memo_file=memo,
        workers=options.workers,
        variants=variants_of(options.corruption_set, options.corruption_protocol, options.seed),
    )
    if options.exif_transpose:  # changes what the model sees: part of the cache key
        model.preprocessing.exif_transpose = True
    with store_folder(options, model.id) as folder:
        collected = collect(executor, plan, model, executor.runtime(), options, folder)
        rows, variant_rows = split_variants(merged_table(collected.tables))
        collected.tables = []  # scoring reads the split (a corrupted run: 76 rows an image)
        read = predictions_of(fill_properties(rows, plan, options), labels, dataset)
        try:
            _check_failures(read[1], len(dataset), options.strict)
        except EvalkitError:
            if options.out is not None:  # a failed run leaves nothing behind to resume
                discard(folder, options.out)
            raise
    corrupted = None
    if options.corruption_set is not None:
        setup = corruption_setup(options, model.preprocessing)
        corrupted = corrupted_of(variant_rows, labels, read[1], setup)
    runtime = executor.runtime()  # after the run: peak device memory
    return build_result(
        model, runtime, labels, dataset, plan, collected, outputs, options, read, corrupted
    )


def fill_properties(rows: pa.Table, plan: Plan, options: EvalOptions) -> pa.Table:
    """``rows`` with the image properties of readable images that an older evalkit cached or
    stored without them, measured now (a read and decode of those files only)."""
    lacking = pc.and_(pc.is_null(rows["error"]), pc.is_null(rows[PROPERTIES[0]]))
    missing = np.flatnonzero(lacking.to_numpy(zero_copy_only=False))
    if not missing.size:
        return rows
    indices = rows["index"].to_numpy()

    def measured(row: int) -> ImageProperties | None:
        path = plan.samples[int(indices[row])].sample.path
        return measure_file(path, exif_transpose=options.exif_transpose)

    columns = {name: rows[name].to_pylist() for name in PROPERTIES}
    with ThreadPoolExecutor(options.workers or os.cpu_count() or 1) as pool:
        for row, found in zip(missing, pool.map(measured, missing), strict=True):
            for name, value in (found.to_dict() if found else {}).items():
                columns[name][row] = value
    for name, values in columns.items():
        position = rows.schema.get_field_index(name)
        rows = rows.set_column(position, name, pa.array(values, rows.schema.field(name).type))
    return rows


def _label_subset(
    spec: str, labels: LabelSpace, outputs: np.ndarray, dataset: Dataset
) -> LabelSubsetInfo:
    """What ``--label-subset`` keeps, after checking it covers every dataset class."""
    subset = load_label_subset(spec)
    kept = subset_outputs(subset, labels)
    check_covers(subset, kept, outputs, dataset.classes)
    return describe(subset, kept)


def discard(folder: Path, out: Path) -> None:
    """Remove a run's store in ``out``, and ``out/store`` and ``out`` when that empties them."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, out):
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()


def _check_failures(failures: list[Failure], total: int, strict: bool) -> None:
    if failures and (strict or len(failures) == total):
        first = failures[0]
        what = "no image could be read" if len(failures) == total else "--strict is set"
        raise EvalkitError(
            f"{len(failures)} of {total} images failed ({what}); first: {first.file}: "
            f"{first.reason}"
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
    check_resumed_models(options, [_model_id(model) for model in models])
    dataset = prepare_dataset(data, options)
    if options.executor == "ray" and len(models) > 1:  # one job: every model at once
        from evalkit.executors.ray import actor_counts

        return _run_together(models, dataset, options, actor_counts(options, len(models)))
    return [run(model, dataset, options) for model in models]


def _run_together(
    models: Sequence[str | ModelAdapter], dataset: Dataset, options: EvalOptions, actors: list[int]
) -> list[RunResult]:
    """Every model at once, each on its own actors; Ctrl-C stops all at their next shard."""
    with ThreadPoolExecutor(len(models), thread_name_prefix="evalkit-model") as pool:
        futures = [
            pool.submit(run, m, dataset, options, n) for m, n in zip(models, actors, strict=True)
        ]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            STOP.set()
            errors = [f.exception() for f in futures]
            raise next(
                (e for e in errors if isinstance(e, Interrupted)), Interrupted("interrupted")
            ) from None
        finally:
            STOP.clear()
