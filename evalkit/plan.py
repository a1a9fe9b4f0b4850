"""The plan of a run: every sample with its identity, cut into shards of whole batches.

A sample is identified by the sha256 of its bytes and its path relative to the dataset root, so
a renamed file, a re-encoded image or a moved dataset root is told apart from an unchanged one.
Hashing every file costs one read of the dataset; a memo of (path, size, mtime) → sha256 in the
cache folder makes the next plan of the same files cost a ``stat`` each.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.corruption_spec import BENCHMARK, IMPLEMENTATION, STOCHASTIC, CorruptionSet
from evalkit.data.datasets import Dataset, Sample

UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Variant:
    """A corrupted version of a sample (``--corruptions``): which corruption, how it reaches
    the model (``protocol``) and the run seed its random draws derive from."""

    corruption: str
    severity: int
    protocol: str
    seed: int

    @property
    def tag(self) -> str:
        """``gaussian_noise:3``: what the store's ``variant`` column holds."""
        return f"{self.corruption}:{self.severity}"

    @property
    def key(self) -> str:
        """What makes the corrupted pixels: part of the sample id (the seed only where the
        corruption draws random numbers)."""
        seed = f"/seed={self.seed}" if self.corruption in STOCHASTIC else ""
        return f"{BENCHMARK}/v{IMPLEMENTATION}/{self.tag}/{self.protocol}{seed}"


def split_tag(tag: str) -> tuple[str, int]:
    """``gaussian_noise:3`` (a :attr:`Variant.tag`) as its corruption and severity."""
    name, level = tag.rsplit(":", 1)
    return name, int(level)


def variants_of(corruptions: CorruptionSet | None, protocol: str, seed: int) -> list[Variant]:
    """Every (corruption, severity) of a run, in the order they are planned."""
    if corruptions is None:
        return []
    return [Variant(name, level, protocol, seed) for name, level in corruptions.pairs()]


@dataclass(frozen=True)
class PlannedSample:
    index: int  # position in the (subset) dataset
    sample: Sample
    relative: str
    size: int
    sha256: str  # of the file's bytes ("unreadable" when it could not be read)
    target: int  # the model output of its label
    variant: Variant | None = None  # a corrupted version of the image (None: the image)

    @property
    def source_id(self) -> str:
        """The identity of the image: its content and where it sits in the dataset."""
        return hashlib.sha256(f"{self.sha256}\n{self.relative}".encode()).hexdigest()[:32]

    @property
    def id(self) -> str:
        """The sample's identity: the image's, and for a variant its corruption as well."""
        if self.variant is None:
            return self.source_id
        text = f"{self.source_id}\n{self.variant.key}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Shard:
    number: int
    samples: tuple[PlannedSample, ...]

    @functools.cached_property
    def key(self) -> str:
        """A digest of the samples (and their targets) the shard holds, in order (computed
        once: every sample's id is hashed for it, and the store asks for it several times)."""
        digest = hashlib.sha256()
        for planned in self.samples:
            digest.update(f"{planned.id}\t{planned.target}\n".encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    samples: tuple[PlannedSample, ...]  # the dataset's images, in dataset order
    shards: tuple[Shard, ...]  # them and their corrupted variants (each image's together)
    fingerprint: str  # the dataset fingerprint (docs/results.md), from the same lines as before

    def __len__(self) -> int:
        """Everything the model is given: the images and their variants."""
        return sum(len(shard.samples) for shard in self.shards)


def _read_hash(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except OSError:
        return 0, UNREADABLE
    return size, digest.hexdigest()


class HashMemo:
    """(absolute path, size, mtime) → sha256, kept in SQLite so re-planning skips reading."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self.found: dict[tuple[str, int, int], str] = {}
        self.added: list[tuple[str, int, int, str]] = []

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        assert self.file is not None
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.file, timeout=30)) as connection, connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS hashes (path TEXT, size INTEGER, mtime INTEGER, "
                "sha256 TEXT, PRIMARY KEY (path, size, mtime))"
            )
            yield connection

    def load(self, paths: Sequence[Path]) -> None:
        if self.file is None or not self.file.is_file():
            return
        wanted = {str(p) for p in paths}
        try:
            with self._connect() as connection:
                for path, size, mtime, sha in connection.execute("SELECT * FROM hashes"):
                    if path in wanted:
                        self.found[(path, size, mtime)] = sha
        except (sqlite3.Error, OSError):
            self.found.clear()  # only a speed-up: without it every file is read

    def save(self) -> None:
        if self.file is None or not self.added:
            return
        try:
            with self._connect() as connection:
                connection.executemany(
                    "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", self.added
                )
        except (sqlite3.Error, OSError):
            pass  # a read-only or broken memo: the next plan reads the files again

    def hash(self, path: Path) -> tuple[int, str]:
        try:
            stat = path.stat()
        except OSError:
            return 0, UNREADABLE
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key in self.found:
            return stat.st_size, self.found[key]
        size, sha = _read_hash(path)
        if sha != UNREADABLE and size == stat.st_size:
            self.added.append((*key, sha))
        return size, sha


def plan_run(
    dataset: Dataset,
    targets: Sequence[int] | np.ndarray,
    *,
    images_per_shard: int,
    memo_file: Path | None = None,
    workers: int | None = None,
    variants: Sequence[Variant] = (),
) -> Plan:
    """Hash and identify every sample (in dataset order), then cut shards of whole batches.

    ``targets[i]`` is the model output of ``dataset.classes[i]``. Each image is followed by its
    ``variants`` (corrupted versions), in the same shard, so one read and decode serves them all
    (shards are then rounded up to whole images, and may end in a partial batch).
    """
    memo = HashMemo(memo_file)
    paths = [sample.path.resolve() for sample in dataset.samples]
    memo.load(paths)
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        hashed = list(pool.map(memo.hash, paths))
    memo.save()
    class_index = {label: i for i, label in enumerate(dataset.classes)}
    samples = tuple(
        PlannedSample(
            index=i,
            sample=sample,
            relative=dataset.relative(sample),
            size=size,
            sha256=sha,
            target=int(targets[class_index[sample.label]]),
        )
        for i, (sample, (size, sha)) in enumerate(zip(dataset.samples, hashed, strict=True))
    )
    items = [
        planned
        for clean in samples
        for planned in (clean, *(dataclasses.replace(clean, variant=v) for v in variants))
    ]
    group = 1 + len(variants)  # a shard holds whole images with all their variants
    per_shard = -(-images_per_shard // group) * group
    shards = tuple(
        Shard(number, tuple(items[start : start + per_shard]))
        for number, start in enumerate(range(0, len(items), per_shard))
    )
    return Plan(samples, shards, _fingerprint(samples))


def _fingerprint(samples: Sequence[PlannedSample]) -> str:
    digest = hashlib.sha256()
    for planned in samples:
        line = f"{planned.relative}\t{planned.size}\t{planned.sample.label}\t{planned.sha256}\n"
        digest.update(line.encode())
    return f"sha256:{digest.hexdigest()}"
