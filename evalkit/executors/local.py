"""The local executor: shards evaluated in this process (decode threads + the model)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from evalkit.labels import LabelSpace
from evalkit.labelsets import label_subset_outputs
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.results import ModelInfo, Runtime
from evalkit.runner import ShardOutput, ShardWork, run_shards
from evalkit.tuning import tune


class LocalExecutor:
    name = "local"

    def __init__(self, adapter: ModelAdapter, options: EvalOptions) -> None:
        self.adapter = adapter
        self.options = options
        self.tuning = tune(adapter, options)  # batch size and layout, when left to evalkit

    def describe(self) -> tuple[ModelInfo, LabelSpace]:
        return self.adapter.describe(), self.adapter.labels

    def runtime(self) -> Runtime:
        return Runtime.model_validate(self.adapter.runtime() | self.tuning.record())

    def run(self, works: Sequence[ShardWork]) -> Iterator[ShardOutput]:
        options = self.options
        return run_shards(
            self.adapter,
            works,
            batch_size=self.tuning.batch_size,
            warmup=options.warmup,
            workers=options.workers,
            store_logits=options.store_logits,
            label_subset=label_subset_outputs(options.label_subset, self.adapter.labels),
            exif_transpose=options.exif_transpose,
        )

    def close(self) -> None:
        pass
