"""Plan → shards → store → merge: the durable part of a run.

Every shard is taken, in this order, from the run folder's store (``resume``), from the cache
(per sample), or from the executor; each evaluated shard is committed to the store as soon as
it is complete. Scoring then reads only the committed shards, so an interrupted run resumes
where it stopped and produces the same predictions and metrics as an uninterrupted one.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from tqdm import tqdm

from evalkit.errors import EvalkitError
from evalkit.executors import Executor
from evalkit.naming import display_name, slug
from evalkit.options import EvalOptions
from evalkit.plan import Plan, PlannedSample, Shard
from evalkit.results import ExecutionInfo, ModelInfo, Runtime
from evalkit.runner import ShardWork
from evalkit.store import (
    PredictionCache,
    RunStore,
    ShardTiming,
    model_key,
    rows_table,
    runtime_identity,
    with_shard_metadata,
)
from evalkit.timing import load_average


class Interrupted(EvalkitError):
    """Ctrl-C during a run: what was committed stays; the message says how to resume."""

    exit_code = 130


# set when Ctrl-C reached the main thread while drivers run in other threads (several models
# at once on Ray): each driver stops at its next shard
STOP = threading.Event()


@dataclass
class Collected:
    """The committed shards of a run, in plan order, and where they came from."""

    tables: list[pa.Table]
    info: ExecutionInfo
    timings: list[ShardTiming] = field(default_factory=list)  # of the shards evaluated now
    wall: float = 0.0  # seconds spent evaluating
    load: float | None = None  # the machine's load average when evaluating started


def manifest(
    model: ModelInfo, runtime: Runtime, plan: Plan, options: EvalOptions
) -> dict[str, Any]:
    """What a run is, for refusing to resume a different one (and naming the difference)."""
    return {
        "model": {
            "id": model.id,
            "weights sha256": model.weights.sha256 or model.weights.name,
            "preprocessing": model.preprocessing.comparable(),
            "runtime": runtime_identity(runtime),
        },
        "dataset": {"fingerprint": plan.fingerprint, "images": len(plan)},
        "options": options.identity(),
    }


def check_resumed_models(options: EvalOptions, model_ids: Sequence[str]) -> None:
    """``--resume`` continues the run in ``--out`` with the same models: refuse one that would
    leave a model of that run out of its results."""
    if not options.resume or options.out is None or not (options.out / "store").is_dir():
        return
    wanted = {slug(display_name(model_id)) for model_id in model_ids}
    other = sorted(p.name for p in (options.out / "store").iterdir() if p.name not in wanted)
    if other:
        raise EvalkitError(
            f"cannot resume: the run in {options.out} also evaluated {', '.join(other)}; resume "
            "with the same --model list, or use another --out"
        )


@contextmanager
def store_folder(options: EvalOptions, model_id: str) -> Iterator[Path]:
    """``OUT/store/<model>`` of the run folder, or a temporary folder without ``--out``."""
    if options.out is not None:
        yield options.out / "store" / slug(display_name(model_id))
        return
    with tempfile.TemporaryDirectory(prefix="evalkit-store-") as tmp:
        yield Path(tmp)


class _Progress:
    def __init__(self, plan: Plan, label: str, enabled: bool) -> None:
        self.bar = tqdm(total=len(plan), desc=label, unit="img", disable=not enabled, leave=False)
        self.shards = len(plan.shards)
        self.counts = {"done": 0, "cached": 0, "resumed": 0}

    def shard(self, kind: str, images: int) -> None:
        self.counts[kind] += 1
        self.bar.update(images)
        done = sum(self.counts.values())
        self.bar.set_postfix_str(
            f"shards {done}/{self.shards} (cached {self.counts['cached']}, resumed "
            f"{self.counts['resumed']}, remaining {self.shards - done})"
        )

    def close(self) -> None:
        self.bar.close()


def collect(
    executor: Executor,
    plan: Plan,
    model: ModelInfo,
    runtime: Runtime,
    options: EvalOptions,
    folder: Path,
) -> Collected:
    """Every shard of ``plan``, committed to the store in ``folder``."""
    store = RunStore(folder, manifest(model, runtime, plan, options), options.store_logits)
    store.open(options.resume)
    cache_folder = options.cache_root / "predictions" / model_key(model, runtime)
    cache = PredictionCache(cache_folder if options.cache else None)
    if not options.store_logits:  # cached rows carry no output vectors
        cache.load()
    info = ExecutionInfo(
        executor=executor.name,
        shard_size=options.images_per_shard,
        shards=len(plan.shards),
        evaluated=0,
        cached=0,
        resumed=0,
        reevaluated_shards=0,
        store=str(folder) if options.out is not None else None,
        cache=str(cache_folder) if options.cache else None,
    )
    progress = _Progress(plan, display_name(model.id), options.progress)
    try:
        collected = _fill(executor, plan, store, cache, info, progress)
    finally:
        progress.close()
    return collected


def _fill(
    executor: Executor,
    plan: Plan,
    store: RunStore,
    cache: PredictionCache,
    info: ExecutionInfo,
    progress: _Progress,
) -> Collected:
    tables: list[pa.Table | None] = [None] * len(plan.shards)
    works, partial = [], {}
    for shard in plan.shards:
        table, why = store.load(shard)
        if table is not None:
            tables[shard.number] = table
            info.resumed += len(shard.samples)
            progress.shard("resumed", len(shard.samples))
            continue
        info.reevaluated_shards += int(why != "missing")
        hits = _cached_rows(cache, shard)
        misses = tuple(p for p in shard.samples if p.id not in hits)
        if misses:
            works.append(ShardWork(shard, misses))
            partial[shard.number] = hits
            continue
        tables[shard.number] = _commit(store, cache, shard, hits, {}, ShardTiming(), cached=True)
        info.cached += len(shard.samples)
        progress.shard("cached", len(shard.samples))
    collected = Collected([], info, load=load_average())
    start = time.perf_counter()
    try:
        for output in executor.run(works):
            if STOP.is_set():
                raise KeyboardInterrupt
            shard = output.shard
            hits = partial[shard.number]
            tables[shard.number] = _commit(store, cache, shard, hits, output.rows, output.timing)
            info.evaluated += len(output.rows["sample_id"])
            info.cached += len(hits)
            collected.timings.append(output.timing)
            progress.shard("done", len(shard.samples))
    except KeyboardInterrupt:
        raise _interrupted(store, info, plan, tables) from None
    collected.wall = time.perf_counter() - start
    collected.tables = [t for t in tables if t is not None]
    return collected


def _cached_rows(cache: PredictionCache, shard: Shard) -> dict[str, int]:
    """The shard's samples that the cache holds: sample id -> cached row."""
    ids = [p.id for p in shard.samples]
    found = cache.lookup(ids, [p.target for p in shard.samples])
    return {sid: row for sid, row in zip(ids, found, strict=True) if row is not None}


def _commit(
    store: RunStore,
    cache: PredictionCache,
    shard: Shard,
    hits: dict[str, int],
    evaluated: dict[str, list[Any]],
    timing: ShardTiming,
    cached: bool = False,
) -> pa.Table:
    """The shard's rows in plan order (cached and just evaluated), committed to the store."""
    fresh = {sid: i for i, sid in enumerate(evaluated.get("sample_id", []))}
    ids = [planned.id for planned in shard.samples]
    reused = [i for i, sid in enumerate(ids) if sid not in fresh]
    parts = [rows_table(evaluated)] if evaluated else []
    if reused:
        taken = cache.take([hits[ids[i]] for i in reused])
        parts.append(_as_planned(taken, [shard.samples[i] for i in reused]))
    reused_at = iter(range(len(fresh), len(ids)))
    order = [fresh[sid] if sid in fresh else next(reused_at) for sid in ids]
    # (cached rows have no output vectors: promoting fills that column with nulls)
    together = pa.concat_tables(parts, promote_options="default")
    rows = together.take(pa.array(order, type=pa.int64()))
    table = with_shard_metadata(rows, shard, timing, store.key)
    store.commit(shard, table)
    if not cached:
        cache.add(table, f"{shard.key}-{store.key}")
    return table


def _as_planned(rows: pa.Table, reused: Sequence[PlannedSample]) -> pa.Table:
    """Cached rows with this plan's index (files added or removed since move it), path and
    label."""
    planned = {
        "index": pa.array([p.index for p in reused], type=pa.int64()),
        "path": pa.array([p.relative for p in reused], type=pa.string()),
        "label": pa.array([p.sample.label for p in reused], type=pa.string()),
    }
    for name, values in planned.items():
        rows = rows.set_column(rows.schema.get_field_index(name), name, values)
    return rows


def _interrupted(
    store: RunStore, info: ExecutionInfo, plan: Plan, tables: Sequence[pa.Table | None]
) -> Interrupted:
    committed = sum(t is not None for t in tables)
    where = store.folder.parent.parent
    return Interrupted(
        f"interrupted: {store.folder.name}: {committed} of {len(plan.shards)} shards are "
        f"committed in {where}; "
        "run the same command with --resume to evaluate only the rest"
        if info.store
        else f"interrupted after {committed} of {len(plan.shards)} shards (no --out folder, "
        "so nothing to resume)"
    )


def merged_timing(collected: Collected) -> ShardTiming:
    """The evaluated shards' batches and stages together (one worker: the local executor)."""
    total = ShardTiming()
    for timing in collected.timings:
        total.batch_seconds += timing.batch_seconds
        total.batch_sizes += timing.batch_sizes
        for stage, seconds in timing.stages.items():
            total.stages[stage] = total.stages.get(stage, 0.0) + seconds
    return total
