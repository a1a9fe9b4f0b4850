"""Executors evaluate whole shards; the driver (:mod:`evalkit.driver`) plans, commits and scores.

- ``local`` (:class:`~evalkit.executors.local.LocalExecutor`): this process, decode threads
  overlapped with the model.
- ``ray`` (:class:`~evalkit.executors.ray.RayExecutor`): one actor per GPU (or per
  ``threads`` CPUs) on a Ray cluster, each loading the model once.

Both run :func:`evalkit.runner.run_shards` on the same shards, so with the same shard size,
batch size and threads their predictions are bit for bit the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from evalkit.labels import LabelSpace
from evalkit.results import ModelInfo, Runtime
from evalkit.runner import ShardOutput, ShardWork


class Executor(Protocol):
    name: str

    def describe(self) -> tuple[ModelInfo, LabelSpace]:
        """The model's description (weights, preprocessing, label space) and label space."""
        ...

    def runtime(self) -> Runtime:
        """Device, framework versions and threads of (one of) the workers."""
        ...

    def run(self, works: Sequence[ShardWork]) -> Iterator[ShardOutput]:
        """Evaluate the shards; yield each as it completes (in any order)."""
        ...

    def close(self) -> None: ...
