"""The evaluation loop: decode+preprocess in worker threads, overlapped with batched inference.

Samples keep the dataset's order; only each sample's top-k outputs are kept (memory does not
grow with the logits of the whole dataset); unreadable files are recorded, never replaced.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from evalkit.data.datasets import Dataset, Sample
from evalkit.data.decode import DecodeError, decode_image
from evalkit.errors import EvalkitError
from evalkit.metrics import topk_indices
from evalkit.models.base import ModelAdapter

TOP_K = 5


@dataclass
class Loaded:
    """One sample after reading, decoding and preprocessing (or the reason it failed)."""

    index: int
    array: np.ndarray | None
    error: str | None
    size: int
    sha256: str
    read_s: float = 0.0
    decode_s: float = 0.0
    preprocess_s: float = 0.0


@dataclass
class RawRun:
    """What the loop produces (predictions and timings); :mod:`evalkit.scoring` turns it into
    a RunResult."""

    indices: list[np.ndarray] = field(default_factory=list)
    topk: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    fingerprint: Any = field(default_factory=hashlib.sha256)  # over every sample seen
    seen: int = 0
    batch_seconds: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)

    def add_stage(self, name: str, seconds: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + seconds


def load_sample(preprocess: Callable[..., np.ndarray], index: int, sample: Sample) -> Loaded:
    start = time.perf_counter()
    try:
        data = sample.path.read_bytes()
    except OSError as error:
        return Loaded(index, None, f"cannot read: {error.strerror or error}", 0, "unreadable")
    digest = hashlib.sha256(data).hexdigest()
    read = time.perf_counter()
    try:
        image = decode_image(data)
    except DecodeError as error:
        return Loaded(index, None, str(error), len(data), digest)
    decoded = time.perf_counter()
    try:
        array = preprocess(image)
    except (ValueError, OSError) as error:
        return Loaded(index, None, f"cannot preprocess: {error}", len(data), digest)
    done = time.perf_counter()
    return Loaded(
        index, array, None, len(data), digest, read - start, decoded - read, done - decoded
    )


def prefetch(
    pool: ThreadPoolExecutor,
    fn: Callable[[int, Sample], Loaded],
    samples: Iterable[Sample],
    depth: int,
) -> Iterator[Loaded]:
    """Results of ``fn`` over ``samples`` in order, keeping ``depth`` of them in flight."""
    pending: deque[Future[Loaded]] = deque()
    for index, sample in enumerate(samples):
        pending.append(pool.submit(fn, index, sample))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _timed(items: Iterator[Loaded], raw: RawRun) -> Iterator[Loaded]:
    """``items``, adding the time the consumer waits for each one to the ``wait_data`` stage."""
    while True:
        start = time.perf_counter()
        item = next(items, None)
        raw.add_stage("wait_data", time.perf_counter() - start)
        if item is None:
            return
        yield item


def batches(
    loaded: Iterator[Loaded], size: int, raw: RawRun, dataset: Dataset
) -> Iterator[list[Loaded]]:
    """Group decoded samples into batches; failures go to ``raw`` as they pass."""
    batch: list[Loaded] = []
    for item in _timed(loaded, raw):
        sample = dataset.samples[item.index]
        line = f"{dataset.relative(sample)}\t{item.size}\t{sample.label}\t{item.sha256}\n"
        raw.fingerprint.update(line.encode())
        raw.seen += 1
        raw.add_stage("read", item.read_s)
        raw.add_stage("decode", item.decode_s)
        raw.add_stage("preprocess", item.preprocess_s)
        if item.error is not None:
            raw.failures.append((item.index, item.error))
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _predict(adapter: ModelAdapter, inputs: np.ndarray) -> np.ndarray:
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


def _infer(adapter: ModelAdapter, batch: list[Loaded], raw: RawRun) -> None:
    start = time.perf_counter()
    inputs = np.stack([item.array for item in batch if item.array is not None])
    stacked = time.perf_counter()
    scores = _predict(adapter, inputs)
    done = time.perf_counter()
    top = topk_indices(scores, TOP_K)
    raw.topk.append(top)
    raw.probs.append(np.take_along_axis(scores, top, axis=1).astype(np.float32))
    raw.indices.append(np.array([item.index for item in batch]))
    raw.batch_seconds.append(done - stacked)
    raw.batch_sizes.append(len(batch))
    raw.add_stage("collate", stacked - start)
    raw.add_stage("forward", done - stacked)
    raw.add_stage("postprocess", time.perf_counter() - done)


def run_model(
    adapter: ModelAdapter,
    dataset: Dataset,
    *,
    batch_size: int,
    warmup: int = 1,
    workers: int | None = None,
    progress: bool = False,
) -> RawRun:
    """Evaluate ``adapter`` on every sample; returns top-k outputs, failures and timings."""
    workers = workers or os.cpu_count() or 1
    adapter.inference.reset()  # device events and peak memory are per run
    raw = RawRun()
    bar = tqdm(total=len(dataset), desc=adapter.id, unit="img", disable=not progress, leave=False)

    def load(index: int, sample: Sample) -> Loaded:
        return load_sample(adapter.preprocess, index, sample)

    with ThreadPoolExecutor(workers, thread_name_prefix="evalkit-load") as pool:
        stream = prefetch(pool, load, dataset.samples, depth=2 * batch_size + workers)
        for number, batch in enumerate(batches(stream, batch_size, raw, dataset)):
            if number == 0:
                _warm_up(adapter, batch, warmup, raw)
            _infer(adapter, batch, raw)
            bar.update(raw.seen - bar.n)
    bar.close()
    return raw


def _warm_up(adapter: ModelAdapter, batch: list[Loaded], rounds: int, raw: RawRun) -> None:
    """Run the first batch ``rounds`` extra times, untimed and discarded."""
    start = time.perf_counter()
    inputs = np.stack([item.array for item in batch if item.array is not None])
    for _ in range(rounds):
        _predict(adapter, inputs)
    raw.add_stage("warmup", time.perf_counter() - start)
