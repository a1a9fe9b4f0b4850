"""The evaluation loop: decode+preprocess in worker threads, overlapped with batched inference.

It evaluates shards (:mod:`evalkit.plan`) in whole batches and yields each shard's rows as soon
as the shard is complete, so the caller can commit it. Per sample it keeps the top-k outputs,
the probability of the true class and the sum of squared probabilities (and, on request, the
whole output vector); unreadable files are recorded, never replaced.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from evalkit.allocator import release_free_memory
from evalkit.data.corrupted import ModelInput, crop_input, reference_crop, variant_input
from evalkit.data.datasets import Sample
from evalkit.data.decode import DecodeError, decode_measured, read_image_file
from evalkit.data.properties import ImageProperties
from evalkit.errors import EvalkitError
from evalkit.faults import fault_point
from evalkit.labelsets import restrict
from evalkit.metrics import topk_indices
from evalkit.models.base import ModelAdapter
from evalkit.plan import PlannedSample, Shard
from evalkit.store import SCHEMA, ShardTiming

TOP_K = 5
ROW_COLUMNS = tuple(SCHEMA.names)  # the store's columns, one row per sample
# a decoded image, its properties and the seconds reading and decoding it took
Decoded = tuple[Image.Image, ImageProperties, float, float]
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Loaded:
    """One sample after reading, decoding and preprocessing (or the reason it failed)."""

    index: int
    array: np.ndarray | None
    error: str | None
    read_s: float = 0.0
    decode_s: float = 0.0
    preprocess_s: float = 0.0
    properties: ImageProperties | None = None
    corrupt_s: float = 0.0


def load_sample(
    preprocess: Callable[..., np.ndarray], index: int, sample: Sample, exif_transpose: bool = False
) -> Loaded:
    """One image read, decoded and preprocessed."""
    decoded = _read_decoded(sample.path, exif_transpose)
    if isinstance(decoded, str):
        return Loaded(index, None, decoded)
    image, properties, read_s, decode_s = decoded
    array, error, spent = _prepared(lambda: preprocess(image))
    return Loaded(index, array, error, read_s, decode_s, spent, properties)


class SharedImage:
    """One image, read and decoded once for every task that covers some of its items (the image
    and its corrupted variants, split into batch-sized tasks so that the first batch does not
    wait for all the variants): the first task to ask decodes it while the others wait, and the
    last task to finish drops it."""

    def __init__(self, path: Path, exif_transpose: bool = False, users: int = 1) -> None:
        self.path, self.exif_transpose, self.users = path, exif_transpose, users
        self._lock = threading.Lock()
        self._decoded: Decoded | str | None = None
        self._crop: np.ndarray | None = None

    def get(self, crop: bool) -> tuple[Decoded | str, np.ndarray | None, bool]:
        """The decoded image (or why it cannot be used), its reference crop when ``crop``, and
        whether this call decoded it."""
        with self._lock:
            first = self._decoded is None
            if self._decoded is None:  # (not ``if first``: mypy narrows on the attribute)
                self._decoded = _read_decoded(self.path, self.exif_transpose)
            if crop and self._crop is None and not isinstance(self._decoded, str):
                self._crop = reference_crop(self._decoded[0])  # shared by the variants
            return self._decoded, self._crop, first

    def release(self) -> None:
        """One task is done with the image; the last one frees it."""
        with self._lock:
            self.users -= 1
            if self.users <= 0:
                self._decoded = self._crop = None


def load_group(
    preprocess: ModelInput,
    crop_input: ModelInput,
    items: Sequence[PlannedSample],
    exif_transpose: bool = False,
    source: SharedImage | None = None,
) -> list[Loaded]:
    """Some of an image's items (the image itself and/or corrupted variants): the image read
    and decoded once (``source``, shared with the image's other tasks); the variants share one
    reference crop (:mod:`evalkit.data.corrupted`), which ``crop_input`` turns into model
    inputs."""
    shared = source or SharedImage(items[0].sample.path, exif_transpose)
    try:
        decoded, crop, first = shared.get(any(p.variant is not None for p in items))
    finally:
        shared.release()
    if isinstance(decoded, str):
        return [Loaded(planned.index, None, decoded) for planned in items]
    image, properties, read_s, decode_s = decoded
    loaded = []
    for planned in items:
        variant = planned.variant
        if variant is None or crop is None:
            array, error, spent = _prepared(partial(preprocess, image))
            loaded.append(Loaded(planned.index, array, error, preprocess_s=spent))
            continue
        make = partial(variant_input, crop_input, crop, variant, planned.source_id)
        array, error, spent = _prepared(make)
        loaded.append(Loaded(planned.index, array, error, corrupt_s=spent))
    for item in loaded:
        item.properties = properties  # the image's, for its variants too
    if first:
        loaded[0].read_s, loaded[0].decode_s = read_s, decode_s
    return loaded


def _read_decoded(path: Path, exif_transpose: bool) -> Decoded | str:
    """The decoded image, its properties and the seconds reading and decoding took, or why it
    cannot be used."""
    start = time.perf_counter()
    try:
        data = read_image_file(path)
        read = time.perf_counter()  # the file's identity (sha256) is the plan's, hashed there
        image, properties = decode_measured(data, exif_transpose=exif_transpose)
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    except DecodeError as error:
        return str(error)
    return image, properties, read - start, time.perf_counter() - read


def _prepared(make: Callable[[], np.ndarray]) -> tuple[np.ndarray | None, str | None, float]:
    """``make()``'s model input, or why preprocessing failed, and the seconds it took."""
    start = time.perf_counter()
    try:
        array, error = make(), None
    except (ValueError, OSError, MemoryError) as failure:
        array, error = None, f"cannot preprocess: {failure or type(failure).__name__}"
    return array, error, time.perf_counter() - start


def prefetch(
    pool: ThreadPoolExecutor,
    fn: Callable[[int, T], R],
    items: Iterable[T],
    depth: int,
    size: Callable[[T], int],
    least: int,
) -> Iterator[R]:
    """Results of ``fn`` over ``items`` in order, keeping items whose ``size`` adds up to
    ``depth``, and at least ``least`` items, in flight (the one awaited included)."""
    pending: deque[tuple[Future[R], int]] = deque()
    in_flight = 0
    for index, item in enumerate(items):
        pending.append((pool.submit(fn, index, item), size(item)))
        in_flight += pending[-1][1]
        while in_flight >= depth and len(pending) >= least:
            future, done = pending.popleft()
            in_flight -= done
            yield future.result()
    while pending:
        yield pending.popleft()[0].result()


def checked_predict(adapter: ModelAdapter, inputs: np.ndarray) -> np.ndarray:
    """The adapter's probabilities, or a clear error when its model rejects the inputs."""
    try:
        scores = adapter.predict(inputs)
    except Exception as error:  # frameworks raise many types for a shape/dtype mismatch
        raise EvalkitError(
            f"{adapter.id} failed on a batch of shape {inputs.shape} ({type(error).__name__}: "
            f"{str(error)[:300]}); check the model's preprocessing (input size, layout)"
        ) from error
    if scores.shape != (len(inputs), adapter.labels.num_outputs):
        raise EvalkitError(
            f"{adapter.id} returned scores of shape {scores.shape}, expected "
            f"({len(inputs)}, {adapter.labels.num_outputs}) for its label space"
        )
    return scores


@dataclass
class ShardWork:
    """Samples of one shard to evaluate (the ones not already stored or cached)."""

    shard: Shard
    samples: tuple[PlannedSample, ...]


@dataclass
class ShardOutput:
    """The evaluated rows of one shard (store columns) and what evaluating them took."""

    shard: Shard
    rows: dict[str, list[Any]]
    timing: ShardTiming


class _Shard:
    """Accumulates one shard's rows and timing while its samples stream past."""

    def __init__(self, work: ShardWork, store_logits: bool, worker: str) -> None:
        self.work = work
        self.rows: dict[str, list[Any]] = {name: [] for name in ROW_COLUMNS}
        if store_logits:
            self.rows["logits"] = []
        self.timing = ShardTiming(worker=worker)
        self.start = time.perf_counter()
        self.pending: list[tuple[PlannedSample, Loaded]] = []
        self.seen = 0

    def add_stage(self, name: str, seconds: float) -> None:
        self.timing.stages[name] = self.timing.stages.get(name, 0.0) + seconds

    def add_row(self, planned: PlannedSample, error: str | None, **values: Any) -> None:
        base = {
            "sample_id": planned.id,
            "index": planned.index,
            "path": planned.relative,
            "label": planned.sample.label,
            "target": planned.target,
            "error": error,
            "variant": planned.variant.tag if planned.variant is not None else None,
        }
        for name, column in self.rows.items():
            column.append(base[name] if name in base else values.get(name))

    def output(self) -> ShardOutput:
        order = np.argsort(self.rows["index"], kind="stable")  # failures were added first
        rows = {name: [column[i] for i in order] for name, column in self.rows.items()}
        self.timing.seconds = time.perf_counter() - self.start
        return ShardOutput(self.work.shard, rows, self.timing)


def _ranked(scores: np.ndarray, subset: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The probabilities (restricted to ``subset`` and renormalised, when given) and the top-k
    outputs, taken among the subset's outputs only."""
    if subset is None:
        return scores, topk_indices(scores, TOP_K)
    scores = restrict(scores, subset)
    return scores, subset[topk_indices(scores[:, subset], TOP_K)]


def _infer(adapter: ModelAdapter, current: _Shard, subset: np.ndarray | None) -> None:
    start = time.perf_counter()
    batch = current.pending
    current.pending = []
    inputs = np.stack([item.array for _, item in batch if item.array is not None])
    stacked = time.perf_counter()
    scores = checked_predict(adapter, inputs)
    done = time.perf_counter()
    fault_point("batch")
    scores, top = _ranked(scores, subset)
    probs = np.take_along_axis(scores, top, axis=1).astype(np.float32)
    targets = np.array([planned.target for planned, _ in batch])
    p_true = scores[np.arange(len(batch)), targets].astype(np.float32)
    sum_sq = np.square(scores.astype(np.float64)).sum(axis=1).astype(np.float32)
    # the output vector as log-probabilities: float16 keeps them (probabilities would underflow),
    # and softmax gives the probabilities back
    logits = (
        np.log(np.maximum(scores, 1e-45)).astype(np.float16) if "logits" in current.rows else None
    )
    for row, (planned, loaded) in enumerate(batch):
        properties = loaded.properties.to_dict() if loaded.properties is not None else {}
        current.add_row(
            planned,
            None,
            **properties,
            top_k=top[row].tolist(),
            top_p=probs[row].tolist(),
            p_true=float(p_true[row]),
            p_top1=float(probs[row, 0]),
            sum_sq=float(sum_sq[row]),
            logits=logits[row].tolist() if logits is not None else None,
        )
    current.timing.batch_seconds.append(done - stacked)
    current.timing.batch_sizes.append(len(batch))
    current.add_stage("collate", stacked - start)
    current.add_stage("forward", done - stacked)
    current.add_stage("postprocess", time.perf_counter() - done)


def _groups(works: Iterable[ShardWork]) -> Iterator[tuple[ShardWork, list[PlannedSample]]]:
    """Each shard's samples, an image together with its corrupted variants."""
    for work in works:
        group: list[PlannedSample] = []
        for planned in work.samples:
            if group and planned.index != group[0].index:
                yield work, group
                group = []
            group.append(planned)
        if group:
            yield work, group


@dataclass
class _Task:
    """Up to a batch of one image's items, loaded by one decode thread."""

    work: ShardWork
    items: list[PlannedSample]
    image: SharedImage


def _tasks(works: Iterable[ShardWork], size: int, exif_transpose: bool) -> Iterator[_Task]:
    """Each image's items in tasks of at most ``size``, sharing the image's decode."""
    for work, items in _groups(works):
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        image = SharedImage(items[0].sample.path, exif_transpose, users=len(chunks))
        yield from (_Task(work, chunk, image) for chunk in chunks)


def run_shards(
    adapter: ModelAdapter,
    works: Sequence[ShardWork],
    *,
    batch_size: int,
    warmup: int = 1,
    workers: int | None = None,
    store_logits: bool = False,
    worker: str = "local",
    label_subset: np.ndarray | None = None,
    exif_transpose: bool = False,
) -> Iterator[ShardOutput]:
    """Evaluate the shards' samples in whole batches (a batch never spans two shards) and yield
    each shard's rows as soon as it is complete. Decoding runs ahead in ``workers`` threads,
    across shard boundaries, one image per task (an image with corrupted variants in tasks of
    up to a batch, which share its decode); the first batch is run ``warmup`` extra times,
    untimed. ``label_subset``: the outputs kept (``--label-subset``), None for all;
    ``exif_transpose``: turn images upright by their EXIF orientation before preprocessing."""
    workers = workers or os.cpu_count() or 1
    works = [work for work in works if work.samples]
    adapter.inference.reset()  # device events and peak memory are per run
    tasks = list(_tasks(works, batch_size, exif_transpose))
    corrupted = any(planned.variant is not None for task in tasks for planned in task.items)
    to_input = crop_input(adapter) if corrupted else adapter.preprocess

    def load(index: int, task: _Task) -> list[Loaded]:
        return load_group(adapter.preprocess, to_input, task.items, source=task.image)

    # two batches of model inputs (and a task per thread) ahead, counted in inputs: an image
    # with its copies is a task of up to a batch, a clean image one input, and a partly cached
    # corrupted run can mix both
    depth, least = 2 * batch_size + workers, workers + 1
    # the corruptions' NumPy/SciPy BLAS calls run in several decode threads beside the model:
    # one BLAS thread each, or their thread pools oversubscribe the cores (4x slower measured)
    blas = threadpool_limits(1, user_api="blas") if corrupted else nullcontext()
    with blas, ThreadPoolExecutor(workers, thread_name_prefix="evalkit-load") as pool:
        inputs = prefetch(pool, load, tasks, depth, lambda task: len(task.items), least)
        stream = _waited(inputs)
        state = _Stream(adapter, batch_size, warmup, store_logits, worker, label_subset)
        for task, (loaded, waited) in zip(tasks, stream, strict=True):
            yield from state.add(task.work, task.items, loaded, waited)


class _Stream:
    """The consumer side of :func:`run_shards`: batches the loaded samples of each shard, runs
    them, and hands back each shard once all its samples are in."""

    def __init__(
        self,
        adapter: ModelAdapter,
        batch_size: int,
        warmup: int,
        store_logits: bool,
        worker: str,
        label_subset: np.ndarray | None,
    ) -> None:
        self.adapter, self.batch_size, self.warmup = adapter, batch_size, warmup
        self.store_logits, self.worker, self.label_subset = store_logits, worker, label_subset
        self.warmed = warmup == 0
        self.current: _Shard | None = None

    def add(
        self, work: ShardWork, items: list[PlannedSample], loaded: list[Loaded], waited: float
    ) -> Iterator[ShardOutput]:
        if self.current is None or self.current.work is not work:
            self.current = _Shard(work, self.store_logits, self.worker)
        current = self.current
        current.add_stage("wait_data", waited)
        for planned, item in zip(items, loaded, strict=True):
            for stage in ("read", "decode", "preprocess", "corrupt"):
                current.add_stage(stage, getattr(item, f"{stage}_s"))
            current.seen += 1
            if item.error is not None:
                current.add_row(planned, item.error)
            else:
                current.pending.append((planned, item))
            last = current.seen == len(work.samples)
            if current.pending and (len(current.pending) == self.batch_size or last):
                if not self.warmed:
                    _warm_up(self.adapter, current, self.warmup)
                    self.warmed = True
                _infer(self.adapter, current, self.label_subset)
            if last:
                release_free_memory()  # between shards; batches within one reuse buffers
                yield current.output()


def _waited(items: Iterator[T]) -> Iterator[tuple[T, float]]:
    """``items`` with the time the consumer waited for each one."""
    while True:
        start = time.perf_counter()
        item = next(items, None)
        if item is None:
            return
        yield item, time.perf_counter() - start


def _warm_up(adapter: ModelAdapter, current: _Shard, rounds: int) -> None:
    """Run the first batch ``rounds`` extra times, untimed and discarded."""
    start = time.perf_counter()
    inputs = np.stack([item.array for _, item in current.pending if item.array is not None])
    for _ in range(rounds):
        checked_predict(adapter, inputs)
    current.add_stage("warmup", time.perf_counter() - start)
