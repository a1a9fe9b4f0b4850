"""The evaluation loop: decode+preprocess in worker threads, overlapped with batched inference.

It evaluates shards (:mod:`evalkit.plan`) in whole batches and yields each shard's rows as soon
as the shard is complete, so the caller can commit it. Per sample it keeps the top-k outputs,
the probability of the true class and the sum of squared probabilities (and, on request, the
whole output vector); unreadable files are recorded, never replaced.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from evalkit.allocator import release_free_memory
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
T = TypeVar("T")


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


def load_sample(
    preprocess: Callable[..., np.ndarray], index: int, sample: Sample, exif_transpose: bool = False
) -> Loaded:
    start = time.perf_counter()
    try:
        data = read_image_file(sample.path)
    except OSError as error:
        return Loaded(index, None, f"cannot read: {error.strerror or error}")
    except DecodeError as error:
        return Loaded(index, None, str(error))
    read = time.perf_counter()  # the file's identity (sha256) is the plan's, hashed once there
    try:
        image, properties = decode_measured(data, exif_transpose=exif_transpose)
    except DecodeError as error:
        return Loaded(index, None, str(error))
    decoded = time.perf_counter()
    try:
        array = preprocess(image)
    except (ValueError, OSError, MemoryError) as error:
        return Loaded(index, None, f"cannot preprocess: {error or type(error).__name__}")
    done = time.perf_counter()
    return Loaded(index, array, None, read - start, decoded - read, done - decoded, properties)


def prefetch(
    pool: ThreadPoolExecutor,
    fn: Callable[[int, T], Loaded],
    items: Iterable[T],
    depth: int,
) -> Iterator[Loaded]:
    """Results of ``fn`` over ``items`` in order, keeping ``depth`` of them in flight."""
    pending: deque[Future[Loaded]] = deque()
    for index, item in enumerate(items):
        pending.append(pool.submit(fn, index, item))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


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


def _tagged(works: Iterable[ShardWork]) -> Iterator[tuple[ShardWork, PlannedSample]]:
    for work in works:
        for planned in work.samples:
            yield work, planned


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
    across shard boundaries; the first batch is run ``warmup`` extra times, untimed.
    ``label_subset``: the outputs kept (``--label-subset``), None for all; ``exif_transpose``:
    turn images upright by their EXIF orientation before preprocessing."""
    workers = workers or os.cpu_count() or 1
    works = [work for work in works if work.samples]
    adapter.inference.reset()  # device events and peak memory are per run
    warmed = warmup == 0

    def load(index: int, tagged: tuple[ShardWork, PlannedSample]) -> Loaded:
        return load_sample(adapter.preprocess, index, tagged[1].sample, exif_transpose)

    with ThreadPoolExecutor(workers, thread_name_prefix="evalkit-load") as pool:
        tagged = list(_tagged(works))
        stream = prefetch(pool, load, tagged, depth=2 * batch_size + workers)
        current: _Shard | None = None
        for index, item in enumerate(_waited(stream)):
            work, planned = tagged[index]
            if current is None or current.work is not work:
                current = _Shard(work, store_logits, worker)
            current.add_stage("wait_data", item[1])
            loaded = item[0]
            for stage in ("read", "decode", "preprocess"):
                current.add_stage(stage, getattr(loaded, f"{stage}_s"))
            current.seen += 1
            if loaded.error is not None:
                current.add_row(planned, loaded.error)
            else:
                current.pending.append((planned, loaded))
            if len(current.pending) == batch_size or current.seen == len(work.samples):
                if current.pending and not warmed:
                    _warm_up(adapter, current, warmup)
                    warmed = True
                if current.pending:
                    _infer(adapter, current, label_subset)
            if current.seen == len(work.samples):
                release_free_memory()  # between shards; batches within one reuse buffers
                yield current.output()


def _waited(items: Iterator[Loaded]) -> Iterator[tuple[Loaded, float]]:
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
