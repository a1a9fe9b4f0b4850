"""From predictions to a :class:`~evalkit.results.RunResult`.

:func:`score` is a pure function of a predictions table (what the results folder stores), the
dataset's classes and the model output of each class: re-scoring a stored run needs no model.
:func:`build_result` assembles a run from what the runner produced.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.data.datasets import Dataset
from evalkit.environment import environment
from evalkit.errors import EvalkitError
from evalkit.metrics import classification_metrics
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.results import (
    LABEL,
    TARGET,
    DatasetInfo,
    Environment,
    Failure,
    Metrics,
    ModelInfo,
    RunResult,
    Runtime,
    prediction_topk,
    predictions_frame,
)
from evalkit.runner import RawRun
from evalkit.timing import summarize


def score(
    predictions: pd.DataFrame,
    classes: Sequence[str],
    class_outputs: Sequence[int] | np.ndarray,
    confidence: float = 0.95,
) -> Metrics:
    """The ``metrics`` section from a predictions table.

    ``class_outputs[i]`` is the model output of dataset class ``classes[i]``; a top-1 output
    that is no dataset class counts as "other" in the confusion matrix.
    """
    topk, _ = prediction_topk(predictions)
    class_index = {label: i for i, label in enumerate(classes)}
    y_true = np.array([class_index[label] for label in predictions[LABEL]], dtype=np.int64)
    outputs = np.asarray(class_outputs, dtype=np.int64)
    back = {int(out): i for i, out in reversed(list(enumerate(outputs)))}
    y_pred = np.array([back.get(int(out), len(classes)) for out in topk[:, 0]], dtype=np.int64)
    metrics = classification_metrics(outputs[y_true], topk, y_true, y_pred, classes, confidence)
    return Metrics.model_validate(metrics)


def rescore(run: RunResult) -> Metrics:
    """A stored run's metrics, computed again from its predictions (no model is loaded)."""
    return score(run.predictions, run.dataset.classes, class_outputs_of(run))


def class_outputs_of(run: RunResult) -> list[int]:
    """The model output of each dataset class: recorded, or (files before 0.2) read from the
    predictions, which pair every evaluated image's label with its target output."""
    if run.class_outputs is not None:
        return run.class_outputs
    pairs = dict(zip(run.predictions[LABEL], run.predictions[TARGET], strict=True))
    missing = [label for label in run.dataset.classes if label not in pairs]
    if missing:
        raise EvalkitError(
            f"{run.id}: cannot re-score a results file without class_outputs when classes have "
            f"no evaluated image ({', '.join(missing[:5])}); evaluate the model again"
        )
    return [int(pairs[label]) for label in run.dataset.classes]


def predictions_of(
    adapter: ModelAdapter, dataset: Dataset, raw: RawRun, outputs: np.ndarray
) -> pd.DataFrame:
    """The predictions table of a run, in dataset order."""
    order = np.concatenate(raw.indices)
    topk, probs = np.concatenate(raw.topk), np.concatenate(raw.probs)
    labels = [dataset.samples[i].label for i in order]
    class_index = {label: i for i, label in enumerate(dataset.classes)}
    return predictions_frame(
        paths=[dataset.relative(dataset.samples[i]) for i in order],
        labels=labels,
        targets=outputs[[class_index[label] for label in labels]],
        predicted=[adapter.labels.name_of(int(out)) for out in topk[:, 0]],
        topk=topk,
        probs=probs,
    )


def build_result(
    adapter: ModelAdapter,
    dataset: Dataset,
    raw: RawRun,
    outputs: np.ndarray,
    options: EvalOptions,
    wall: float,
) -> RunResult:
    """A run's result: predictions, metrics, timing, failures, environment and options."""
    predictions = predictions_of(adapter, dataset, raw, outputs)
    runtime = Runtime.model_validate(adapter.runtime())
    failures = [
        Failure(file=dataset.relative(dataset.samples[i]), reason=r) for i, r in raw.failures
    ]
    timing = summarize(
        batch_seconds=raw.batch_seconds,
        batch_sizes=raw.batch_sizes,
        batch_size=options.batch_size,
        stages=raw.stages | adapter.inference.device_stages(),
        wall=wall,
        warmup=options.warmup,
        device=runtime.device,
    )
    return RunResult(
        model=ModelInfo.model_validate(adapter.describe()),
        dataset=DatasetInfo.model_validate(
            dataset.describe()
            | {
                "fingerprint": f"sha256:{raw.fingerprint.hexdigest()}",
                "evaluated": len(predictions),
                "failed": len(failures),
            }
        ),
        metrics=score(predictions, dataset.classes, outputs),
        timing=timing,
        failures=failures,
        environment=Environment.model_validate(environment() | {"runtime": runtime}),
        options=options.record(),
        class_outputs=[int(out) for out in outputs],
        predictions=predictions,
    )
