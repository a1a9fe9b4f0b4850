"""Pairing two runs' predictions sample by sample (by image path), after checking that they
saw the same data (and, for the same model, the same preprocessing)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.results import LABEL, PATH, PREDICTED, RunResult, prediction_hits


def _canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparing runs."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def check_same_data(baseline: RunResult, current: RunResult) -> None:
    before, after = baseline.dataset.fingerprint, current.dataset.fingerprint
    if before != after:
        raise EvalkitError(
            f"{current.id}: the runs saw different data (dataset fingerprints differ: "
            f"{before} vs {after}); evaluate both on the same files, or re-create the baseline"
        )


def check_comparable(baseline: RunResult, current: RunResult) -> None:
    """Same data and the same preprocessing (where it was read from may differ)."""
    check_same_data(baseline, current)
    before = _canonical(baseline.model.preprocessing.comparable())
    after = _canonical(current.model.preprocessing.comparable())
    if before != after:
        raise EvalkitError(
            f"{current.id}: the runs used different preprocessing ({_differences(before, after)}); "
            "a comparison would mix a model change with a preprocessing change — re-create "
            "the baseline"
        )


def _differences(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The steps that differ, as ``name: before -> after`` (the first four)."""
    keys = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    shown = [
        f"{key}: {json.dumps(before.get(key))} -> {json.dumps(after.get(key))}" for key in keys[:4]
    ]
    return "; ".join(shown) + (f"; and {len(keys) - 4} more" if len(keys) > 4 else "")


def aligned_predictions(
    baseline: RunResult, current: RunResult, *, same_model: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both runs' predictions indexed by image path, in the same order.

    ``same_model=False`` (two different models on the same data) skips the preprocessing check.
    """
    if same_model:
        check_comparable(baseline, current)
    else:
        check_same_data(baseline, current)
    for run in (baseline, current):
        if PATH not in run.predictions:
            raise EvalkitError(
                f"{run.id}: the results hold no per-image predictions (predictions_file), which "
                "a paired comparison needs; re-create the results with evalkit run"
            )
    left = baseline.predictions.set_index(PATH)
    right = current.predictions.set_index(PATH)
    paths = left.index.intersection(right.index)
    if len(paths) != len(left) or len(paths) != len(right):
        raise EvalkitError(f"{current.id}: the runs' predictions cover different images")
    return left.loc[paths], right.loc[paths]


def paired_correct(
    baseline: RunResult, current: RunResult, *, same_model: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample top-1 correctness of both runs, aligned on the image path."""
    left, right = aligned_predictions(baseline, current, same_model=same_model)
    return prediction_hits(left), prediction_hits(right)


def flipped_samples(baseline: RunResult, current: RunResult) -> pd.DataFrame:
    """Samples whose top-1 correctness changed: path, label, both predictions, direction."""
    left, right = aligned_predictions(baseline, current)
    before, after = prediction_hits(left), prediction_hits(right)
    changed = before != after
    return pd.DataFrame(
        {
            PATH: left.index[changed],
            LABEL: left.loc[changed, LABEL].to_numpy(),
            "baseline_predicted": left.loc[changed, PREDICTED].to_numpy(),
            "current_predicted": right.loc[changed, PREDICTED].to_numpy(),
            "change": np.where(before[changed], "newly wrong", "newly right"),
        }
    ).sort_values(["change", PATH], ignore_index=True)
