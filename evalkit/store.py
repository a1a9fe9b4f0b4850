"""The prediction store: one Parquet file per shard, committed atomically, and the cache.

A run folder keeps ``store/<model>/manifest.json`` (what the run is: model, weights,
preprocessing, dataset fingerprint, options) and ``shard-NNNNN.parquet`` files. A shard file is
written to a temporary name, flushed to disk and renamed, so it is either whole or absent; a
file that does not read back as the shard the plan expects (truncated, garbage, another run's)
is evaluated again, never used. The cache (``<cache>/predictions/<model key>/``) holds the same
rows for any run of the same model, looked up by sample id. Format: docs/results.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evalkit.errors import EvalkitError
from evalkit.faults import fault_point
from evalkit.plan import Shard
from evalkit.results import ModelInfo, Runtime

META_KEY = b"evalkit"
SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("index", pa.int64()),
        ("path", pa.string()),
        ("label", pa.string()),
        ("target", pa.int64()),
        ("top_k", pa.list_(pa.int32())),
        ("top_p", pa.list_(pa.float32())),
        ("p_true", pa.float32()),
        ("p_top1", pa.float32()),
        ("sum_sq", pa.float32()),
        ("error", pa.string()),
        # image properties measured at decode (evalkit.data.properties; null in older files)
        ("brightness", pa.float32()),
        ("contrast", pa.float32()),
        ("sharpness", pa.float32()),
        ("aspect_ratio", pa.float32()),
        ("megapixels", pa.float32()),
        ("grayscale", pa.bool_()),
        ("exif_rotated", pa.bool_()),
        # a corrupted version of the image (``gaussian_noise:3``; null: the image itself)
        ("variant", pa.string()),
    ]
)
LOGITS = pa.field("logits", pa.list_(pa.float16()))


@dataclass
class ShardTiming:
    """What evaluating one shard took (empty for rows that came from the cache)."""

    batch_seconds: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    worker: str = "local"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_seconds": self.batch_seconds,
            "batch_sizes": self.batch_sizes,
            "stages": self.stages,
            "worker": self.worker,
            "seconds": self.seconds,
        }


RUNTIME_IDENTITY = (
    "device",
    "precision",
    "channels_last",
    "runtime",
    "torch",
    "tensorflow",
    "keras",
    "onnxruntime",
    "openvino",
    "litert",
)


def runtime_identity(runtime: Runtime) -> dict[str, Any]:
    """The runtime fields that can change predictions (not threads or peak memory)."""
    return {k: v for k, v in runtime.fields().items() if k in RUNTIME_IDENTITY}


def model_key(model: ModelInfo, runtime: Runtime) -> str:
    """What makes predictions of a model reproducible: id, weights, preprocessing, label
    space, precision, device and framework versions (not thread counts or batch sizes)."""
    versions = runtime_identity(runtime)
    identity = {
        "id": model.id,
        "weights": model.weights.sha256 or model.weights.name,
        "preprocessing": model.preprocessing.comparable(),
        "label_space": model.label_space.fields(),
        "runtime": versions,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _fsync_dir(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_table(table: pa.Table, target: Path) -> None:
    """Write ``table`` to ``target`` atomically and durably (temp file, fsync, rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with pa.OSFile(str(tmp), "wb") as sink:
            pq.write_table(table, sink)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        fault_point("commit")  # tests: killed between writing and renaming
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def rows_table(rows: dict[str, Any]) -> pa.Table:
    """Rows (columns of values) as a table of the store's columns (and output vectors)."""
    return pa.Table.from_pydict(rows, schema=SCHEMA.append(LOGITS) if "logits" in rows else SCHEMA)


def with_shard_metadata(table: pa.Table, shard: Shard, timing: ShardTiming, run: str) -> pa.Table:
    """``table`` with what identifies the shard it holds in its schema metadata."""
    meta = {"shard": shard.number, "key": shard.key, "run": run, "n": len(shard.samples)}
    meta["timing"] = timing.to_dict()
    return table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})


def read_shard(path: Path, shard: Shard, run: str) -> tuple[pa.Table | None, str]:
    """The shard at ``path`` if it is whole and is the one the plan expects; else a reason."""
    if not path.is_file():
        return None, "missing"
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[META_KEY])
    except (OSError, ValueError, KeyError, pa.ArrowException) as error:
        return None, f"unreadable ({type(error).__name__})"
    if meta.get("key") != shard.key or meta.get("run") != run:
        return None, "from another plan"
    ids = table.column("sample_id").to_pylist()
    if len(ids) != len(shard.samples) or ids != [s.id for s in shard.samples]:
        return None, "rows differ from the plan"
    return table, "ok"


class RunStore:
    """The shards of one model's run in ``folder``, and the manifest that says what run it is."""

    def __init__(self, folder: Path, manifest: dict[str, Any], logits: bool = False) -> None:
        self.folder = folder
        self.manifest = manifest
        self.logits = logits  # shards must carry output vectors (--store-logits)
        self.key = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]

    def path(self, shard: Shard) -> Path:
        return self.folder / f"shard-{shard.number:05d}.parquet"

    def open(self, resume: bool) -> None:
        """Start the store: check a resumed run is the same run, or start afresh."""
        manifest_file = self.folder / "manifest.json"
        if resume and manifest_file.is_file():
            self._check_same_run(_read_manifest(manifest_file))
        elif self.folder.is_dir():
            for old in self.folder.glob("*.parquet"):
                old.unlink()
        for stale in self.folder.glob(".*.tmp"):  # a write that a crash cut short
            stale.unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.manifest, indent=1, sort_keys=True)
        write_bytes_atomic(manifest_file, text.encode())

    def _check_same_run(self, before: dict[str, Any]) -> None:
        # options first: a changed subset option also changes the dataset fingerprint
        for section in ("options", "model", "dataset"):
            found = _difference(before.get(section), self.manifest[section], section)
            if found:
                name, old, new = found
                raise EvalkitError(
                    f"cannot resume: the run in {self.folder.parent.parent} used {name} "
                    f"{_short(old)}, this run has {_short(new)}; run without --resume (or with "
                    "another --out) to start afresh"
                )

    def load(self, shard: Shard) -> tuple[pa.Table | None, str]:
        table, why = read_shard(self.path(shard), shard, self.key)
        if table is not None and self.logits and "logits" not in table.column_names:
            return None, "without output vectors"
        return table, why

    def commit(self, shard: Shard, table: pa.Table) -> None:
        write_table(table, self.path(shard))
        fault_point("shard")  # tests: killed right after a commit


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise EvalkitError(
            f"cannot resume: {path} is unreadable ({error}); run without --resume to start afresh"
        ) from None
    if not isinstance(manifest, dict):
        raise EvalkitError(f"cannot resume: {path} is not a run manifest; run without --resume")
    return manifest


def _difference(old: Any, new: Any, name: str) -> tuple[str, Any, Any] | None:
    """The first (deepest) field where ``old`` and ``new`` differ, named ``a b.c``."""
    if old == new:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            sep = " " if " " not in name else "."
            found = _difference(old.get(key), new.get(key), f"{name}{sep}{key}")
            if found:
                return found
    return name, old, new


def write_bytes_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class PredictionCache:
    """Rows of earlier runs of the same model, by sample id (and target)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._rows: dict[tuple[str, int], int] = {}  # -> row of the cached rows together
        self._tables: list[pa.Table] = []
        self._merged: pa.Table | None = None

    def load(self) -> None:
        if self.folder is None or not self.folder.is_dir():
            return
        done = 0
        for file in sorted(self.folder.glob("*.parquet")):
            try:
                table = _with_schema(pq.read_table(file))
                found = _cached_keys(table, done)
            except (OSError, TypeError, ValueError, pa.ArrowException):
                continue  # a broken cache file is only a miss
            self._rows |= found
            self._tables.append(table)
            done += len(table)

    def lookup(self, ids: Sequence[str], targets: Sequence[int]) -> list[int | None]:
        return [self._rows.get((sid, int(t))) for sid, t in zip(ids, targets, strict=True)]

    def take(self, rows: Sequence[int]) -> pa.Table:
        """The cached rows at ``rows`` (from :meth:`lookup`), with the store's columns."""
        if self._merged is None:
            self._merged = pa.concat_tables(self._tables) if self._tables else SCHEMA.empty_table()
        return self._merged.take(pa.array(rows, type=pa.int64()))

    def add(self, table: pa.Table, name: str) -> None:
        if self.folder is not None:
            write_table(
                table.select([f.name for f in table.schema if f.name != "logits"]),
                self.folder / f"{name}.parquet",
            )


def _cached_keys(table: pa.Table, start: int) -> dict[tuple[str, int], int]:
    """(sample id, target) -> row (counted from ``start``) of a cache file's usable rows."""
    ids, targets = table["sample_id"].to_pylist(), table["target"].to_pylist()
    usable = np.flatnonzero(pc.is_null(table["error"]).to_numpy(zero_copy_only=False))
    return {(ids[row], int(targets[row])): start + row for row in usable.tolist()}


def merged_table(tables: Sequence[pa.Table]) -> pa.Table:
    """All shards' rows, in plan order (shards are read in order), with the store's columns
    (as Arrow columns: a corrupted run has 76 rows per image, too many for Python objects)."""
    return pa.concat_tables([_with_schema(t) for t in tables]) if tables else SCHEMA.empty_table()


def _with_schema(table: pa.Table) -> pa.Table:
    """``table``'s store columns, with null columns for those an older evalkit did not write."""
    columns = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)
