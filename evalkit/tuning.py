"""Measured defaults: the batch size and memory layout a run uses when the user leaves them to
evalkit (``batch_size="auto"``, ``channels_last="auto"``, the defaults).

A short probe times the model's own ``predict`` (host batch in, probabilities out: what a run
does) on real photographs (scikit-learn's sample images, cut and put through the model's own
preprocessing): first each memory layout at the smallest candidate batch (timed in turns, best
of two each), with the top-1 agreement and largest probability difference of channels-last
against the reference layout (contiguous), then larger batches in the faster layout until one
is more than 3% slower than the fastest so far. The largest batch within 3% of the fastest wins
(in a run, decoding competes for the cores and larger batches have less per-batch overhead).
Delete ``<cache>/tuning.json`` to measure again. The choice is cached
per model and machine (``<cache>/tuning.json``; concurrent workers wait for one probe), and a
value the user gives always wins. Everything lands in the run's ``environment.runtime``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.allocator import allocator_state
from evalkit.atomic import write_atomic
from evalkit.environment import environment
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.runner import checked_predict

CPU_BATCHES = (16, 32, 64)
GPU_BATCHES = (64, 128, 256)
# the largest batch this close to the fastest predict is taken: in a run, decoding competes for
# the cores and a larger batch has less per-batch overhead (measured: ResNet50 and MobileNetV2
# end to end were 5-14% faster at 32 than at 16, their predict rates within 3%)
NEAR_BEST = 0.97
ROUNDS = 2  # timed calls per setting; the best counts
MIN_TIMED_S = 0.05  # a fast model's batch is repeated until this much time was measured
PROBE_IMAGES = 8
TUNING_VERSION = 3
# runtime fields that do not make another probe necessary
UNKEYED = ("channels_last", "agreement", "exported_file")


@dataclass
class Tuning:
    """What a run uses: its batch size and (torch) layout, and how they were chosen."""

    batch_size: int
    channels_last: bool | None  # None: the model has no layout choice
    source: str  # "given", "probe" or "cached probe"
    probe: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The fields this adds to ``environment.runtime``."""
        record: dict[str, Any] = {
            "batch_size": self.batch_size,
            "allocator": allocator_state(),
            "tuning": {"source": self.source, **self.probe},
        }
        if self.channels_last is not None:
            record["channels_last"] = self.channels_last
        return record


def tune(adapter: ModelAdapter, options: EvalOptions) -> Tuning:
    """Resolve ``auto`` batch size and layout for ``adapter`` (probing, or from the cache) and
    switch the model to the chosen layout."""
    inference = adapter.inference
    layout_given = options.channels_last if isinstance(options.channels_last, bool) else None
    has_layouts = inference.use_channels_last(bool(layout_given))
    auto_layout = has_layouts and layout_given is None
    layout = layout_given if has_layouts else None
    if isinstance(options.batch_size, int) and not auto_layout:
        return Tuning(options.batch_size, layout if has_layouts else None, "given")
    batches = _candidates(options.batch_size, inference.device)
    layouts = (False, True) if auto_layout else (bool(layout),)
    key = _key(adapter, options, batches, layouts)
    with _locked(options.cache_root) as writable:
        found = _read(options.cache_root).get(key) if writable else None
        if found is None:
            found = probe(adapter, batches, layouts)
            if writable:
                _write(options.cache_root, key, adapter.id, found)
            source = "probe"
        else:
            source = "cached probe"
    chosen_layout = bool(found["channels_last"]) if has_layouts else None
    inference.use_channels_last(bool(chosen_layout))
    return Tuning(int(found["batch_size"]), chosen_layout, source, found)


def _candidates(batch_size: int | str, device: str) -> tuple[int, ...]:
    if isinstance(batch_size, int):
        return (batch_size,)
    return GPU_BATCHES if device == "cuda" else CPU_BATCHES


def probe(adapter: ModelAdapter, batches: Sequence[int], layouts: Sequence[bool]) -> dict[str, Any]:
    """Time ``adapter.predict`` per layout (at the first batch size, interleaved), then per
    batch size (in the faster layout); the choice, the rates and the layouts' agreement."""
    start = time.perf_counter()
    images = probe_batch(adapter, max(batches))
    first = batches[0]
    rates, outputs = _layout_rates(adapter, images[:first], layouts)
    layout = max(layouts, key=lambda one: rates[one])
    adapter.inference.use_channels_last(layout)
    labelled = {_label(first, one, layouts): rate for one, rate in rates.items()}
    by_size = {first: rates[layout]}
    for size in batches[1:]:
        try:
            rate = _rate(adapter, images[:size])
        except Exception as error:  # out of device memory: larger batches cannot run either
            if "out of memory" not in str(error).lower():
                raise
            _release_device_memory(adapter)
            break
        by_size[size] = labelled[_label(size, layout, layouts)] = rate
        if rate < NEAR_BEST * max(by_size.values()):  # larger batches are not tried
            break
    best = max(by_size.values())
    record: dict[str, Any] = {
        "batch_size": max(size for size, rate in by_size.items() if rate >= NEAR_BEST * best),
        "channels_last": layout,
        "img_s": {label: round(rate, 2) for label, rate in labelled.items()},
    }
    if len(layouts) == 2:
        record["agreement"] = agreement(outputs[False], outputs[True])
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def _layout_rates(
    adapter: ModelAdapter, batch: np.ndarray, layouts: Sequence[bool]
) -> tuple[dict[bool, float], dict[bool, np.ndarray]]:
    """Images per second of each layout: a first call each (its outputs kept for the agreement),
    then ``ROUNDS`` timed rounds taking turns, the best of each kept (a burst of load from
    another process slows one round, not the comparison)."""
    inference = adapter.inference
    outputs: dict[bool, np.ndarray] = {}
    for layout in layouts:
        inference.use_channels_last(layout)
        outputs[layout] = checked_predict(adapter, batch)  # untimed; a clear error if rejected
    best: dict[bool, float] = dict.fromkeys(layouts, 0.0)
    for _ in range(ROUNDS):
        for layout in layouts:
            if len(layouts) > 1:
                inference.use_channels_last(layout)
            best[layout] = max(best[layout], _timed(adapter, batch))
    return best, outputs


def _label(size: int, layout: bool, layouts: Sequence[bool]) -> str:
    if len(layouts) < 2 and not layout:
        return f"batch {size}"
    return f"batch {size}, {'channels_last' if layout else 'contiguous'}"


def _rate(adapter: ModelAdapter, batch: np.ndarray) -> float:
    """Images per second of ``adapter.predict`` on ``batch``: one untimed call, then the best
    of ``ROUNDS`` timed ones."""
    checked_predict(adapter, batch)
    return max(_timed(adapter, batch) for _ in range(ROUNDS))


def _timed(adapter: ModelAdapter, batch: np.ndarray) -> float:
    """Images per second of one ``predict`` call (a fast model's call repeated until
    ``MIN_TIMED_S`` was measured, the median kept)."""
    times: list[float] = []
    while not times or (sum(times) < MIN_TIMED_S and len(times) < 20):
        begin = time.perf_counter()
        adapter.predict(batch)
        times.append(time.perf_counter() - begin)
    return len(batch) / float(np.median(times))


def agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """Top-1 agreement and the largest absolute probability difference of ``other``."""
    same = np.argmax(reference, axis=1) == np.argmax(other, axis=1)
    return {
        "images": len(reference),
        "top1": float(same.mean()),
        "max_abs_dp": float(np.abs(reference.astype(np.float64) - other).max()),
    }


def _release_device_memory(adapter: ModelAdapter) -> None:
    if adapter.framework == "torch":
        import torch

        torch.cuda.empty_cache()


@cache
def _photos() -> tuple[Any, ...]:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    return tuple(Image.fromarray(array) for array in load_sample_images().images)


def probe_images(count: int = PROBE_IMAGES) -> list[Any]:
    """``count`` RGB crops of real photographs (scikit-learn's two sample images), varied in
    position, size and orientation."""
    from PIL import Image

    photos = _photos()
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        width, height = photo.size
        side = int(min(width, height) * (0.6 + 0.4 * ((i // 2) % 3) / 2))
        left = (width - side) * ((i * 3) % 5) // 4
        top = (height - side) * (i % 3) // 2
        crop = photo.crop((left, top, left + side, top + int(side * 0.75)))
        crops.append(crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else crop)
    return crops


def probe_batch(adapter: ModelAdapter, size: int) -> np.ndarray:
    """A batch of ``size`` preprocessed probe images (repeated as needed)."""
    arrays = [adapter.preprocess(image) for image in probe_images()]
    return np.stack([arrays[i % len(arrays)] for i in range(size)])


def _key(
    adapter: ModelAdapter, options: EvalOptions, batches: Sequence[int], layouts: Sequence[bool]
) -> str:
    """What the choice depends on: model, machine, framework runtime and what was probed."""
    runtime = adapter.runtime()
    machine = environment()
    identity = {
        "version": TUNING_VERSION,
        "model": adapter.id,
        "runtime": {k: v for k, v in runtime.items() if "memory" not in k and k not in UNKEYED},
        "cpu": machine["cpu"],
        "cores": machine["cpu_count"],
        "allocator": allocator_state(),
        "batches": list(batches),
        "layouts": list(layouts),
        "precision": options.precision,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _file(root: Path) -> Path:
    return root / "tuning.json"


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[bool]:
    """Hold the tuning cache's lock (one probe at a time on a machine); yields whether the
    cache can be used at all (an unwritable cache folder only means probing every time)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = (root / "tuning.lock").open("a")
    except OSError:
        yield False
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(root: Path) -> dict[str, Any]:
    try:
        data = json.loads(_file(root).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(root: Path, key: str, model: str, record: dict[str, Any]) -> None:
    entries = _read(root)
    entries[key] = record | {"model": model, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    text = json.dumps(entries, indent=1, sort_keys=True)
    with contextlib.suppress(OSError):
        write_atomic(_file(root), lambda tmp: tmp.write_text(text))
