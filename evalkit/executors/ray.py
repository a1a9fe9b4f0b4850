"""The Ray executor: shards evaluated by actors that each load the model once.

One actor per GPU when the cluster has GPUs (``num_gpus=1``), else one per ``threads`` CPUs
(``--threads``, default 1); several models evaluated together share the cluster, each on its
own actors, so a model zoo fills it. The driver hands each idle actor the next shard and
commits shards as they come back; a worker that dies is restarted by Ray and its shard is run
again (only whole committed shards count, so nothing is lost or counted twice). Image paths
must be readable from every node (a shared file system), as for any Ray job reading files.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.labelsets import label_subset_outputs
from evalkit.options import EvalOptions
from evalkit.results import ModelInfo, Runtime
from evalkit.runner import ShardOutput, ShardWork, run_shards

RETRIES = 3


class ShardWorker:
    """A Ray actor: the model, loaded once, evaluating whole shards."""

    def __init__(self, model: str, record: dict[str, Any]) -> None:
        from evalkit.registry import load_model
        from evalkit.tuning import tune

        self.options = EvalOptions.from_record(record)
        self.adapter = load_model(model, self.options)
        self.tuning = tune(self.adapter, self.options)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.warmed = False
        self.label_subset = label_subset_outputs(self.options.label_subset, self.adapter.labels)

    def describe(self) -> tuple[ModelInfo, LabelSpace]:
        return self.adapter.describe(), self.adapter.labels

    def runtime(self) -> Runtime:
        return Runtime.model_validate(self.adapter.runtime() | self.tuning.record())

    def evaluate(self, work: ShardWork) -> ShardOutput:
        options = self.options
        outputs = run_shards(
            self.adapter,
            [work],
            batch_size=self.tuning.batch_size,
            warmup=0 if self.warmed else options.warmup,
            workers=options.workers or options.threads or 1,
            store_logits=options.store_logits,
            worker=self.name,
            label_subset=self.label_subset,
            exif_transpose=options.exif_transpose,
        )
        self.warmed = True
        return next(iter(outputs))


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EvalkitError(
            "--executor ray needs Ray: pip install 'evalkit[ray]' (or 'ray[default]')"
        ) from None
    return ray


_INIT = threading.Lock()


def connect(options: EvalOptions) -> Any:
    """Ray, joined at ``--ray-address`` or started on this machine (once per process; it stays
    up until the process exits, so several runs share it)."""
    ray = _ray()
    with _INIT:
        if not ray.is_initialized():
            try:
                ray.init(
                    address=options.ray_address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = options.ray_address or "a local cluster"
                raise EvalkitError(f"cannot start or join Ray at {where}: {error}") from None
    return ray


def actor_counts(options: EvalOptions, models: int) -> list[int]:
    """How many actors each of ``models`` models evaluated at once gets: the cluster's GPUs
    (or CPUs / threads) split as evenly as possible, at least one each."""
    resources = connect(options).cluster_resources()
    gpus = int(resources.get("GPU", 0))
    slots = gpus if gpus else int(resources.get("CPU", 1)) // (options.threads or 1)
    return [max(1, slots // models + (i < slots % models)) for i in range(models)]


class RayExecutor:
    """``actors``: how many workers this model gets (default: the whole cluster)."""

    name = "ray"

    def __init__(self, model: str, options: EvalOptions, actors: int | None = None) -> None:
        ray = self.ray = connect(options)
        threads = options.threads or 1
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = actors or actor_counts(options, 1)[0]
        actor = ray.remote(
            num_cpus=0 if gpus else threads,
            num_gpus=1 if gpus else 0,
            max_restarts=RETRIES,
            max_task_retries=RETRIES,
        )(ShardWorker)
        record = options.replace(threads=options.threads or (None if gpus else 1)).record()
        self.actors = [actor.remote(model, record) for _ in range(count)]

    def describe(self) -> tuple[ModelInfo, LabelSpace]:
        described: tuple[ModelInfo, LabelSpace] = self._get(self.actors[0].describe.remote())
        return described

    def runtime(self) -> Runtime:
        runtime: Runtime = self._get(self.actors[0].runtime.remote())
        return runtime

    def _get(self, ref: Any) -> Any:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            cause = error.cause if isinstance(error.cause, Exception) else error
            if isinstance(cause, EvalkitError):
                raise EvalkitError(str(cause)) from None
            raise

    def run(self, works: Sequence[ShardWork]) -> Iterator[ShardOutput]:
        queue = [work for work in works if work.samples]
        running: dict[Any, Any] = {}
        idle = list(self.actors)
        while queue or running:
            while queue and idle:
                actor = idle.pop()
                running[actor.evaluate.remote(queue.pop(0))] = actor
            done, _ = self.ray.wait(list(running), num_returns=1)
            actor = running.pop(done[0])
            idle.append(actor)
            yield self._get(done[0])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
