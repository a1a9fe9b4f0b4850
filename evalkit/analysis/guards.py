"""Guards against silent mis-evaluation: results that look like a weak model but are a wrong
label mapping, rotated files or mismatched preprocessing. Each returns a
:class:`~evalkit.results.Guard` (``ok`` or ``warning``, one line saying what to do) and is a
pure function of a run's predictions and records.

- ``label_shift``: the top-1 outputs agree far better with the targets moved by one output
  (a 1001-output model with a background class at 0, read as 1000 classes, or the reverse)
  or renumbered between numeric and text order of integer class names (ImageNet-V2's folders
  ``0``…``999`` sorted as text: ``0, 1, 10, 100, …``);
- ``exif_rotation``: images whose EXIF orientation would rotate them in a viewer, which the
  model saw unrotated (or rotated, with ``--exif-transpose``);
- ``published_accuracy``: on the whole ImageNet validation set, the measured top-1 against the
  accuracy the weights were published with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.results import TARGET, Guard, RunResult, top_column

FAR_BETTER_POINTS = 0.10  # a remapping must win by 10 accuracy points …
FAR_BETTER_RATIO = 2.0  # … and at least double the agreement to be reported
IMAGENET_VAL_IMAGES = 50_000
LISTED = 20  # files named in a guard's details


def shifted_agreement(top1: np.ndarray, target: np.ndarray, remap: np.ndarray) -> float:
    """How often the top-1 output equals ``remap[target]`` (a candidate mistaken mapping)."""
    inside = target < remap.size
    return float(np.mean(top1[inside] == remap[target[inside]])) if inside.any() else 0.0


def remappings(
    num_outputs: int, data_format: str | None = None
) -> dict[str, tuple[np.ndarray, str]]:
    """Candidate mistaken mappings of output indices, each with the fix to suggest (for data
    read as ImageNet-V2 already, the mapping to fix is the model's)."""
    outputs = np.arange(num_outputs)
    text_order = np.array(sorted(range(num_outputs), key=str))
    numeric_of_text = np.empty(num_outputs, dtype=np.int64)
    numeric_of_text[text_order] = outputs
    background = (
        "the model's outputs are one off from the labels (a background class at output 0?): "
        "use the label space with the background offset (1001 outputs) or fix the class map"
    )
    order = (
        "integer class names were numbered in text order (0, 1, 10, 100, …) on one side and in "
        "numeric order on the other: for ImageNet-V2 use --format imagenet-v2, else fix the "
        "manifest's labels or the class map"
    )
    if data_format == "imagenet-v2":
        order = (
            "the data was read as ImageNet-V2 (folder N is output N) and the model's outputs "
            "look numbered in text order (0, 1, 10, 100, …): fix the model's class map or labels"
        )
    return {
        "shifted by +1": (np.minimum(outputs + 1, num_outputs - 1), background),
        "shifted by -1": (np.maximum(outputs - 1, 0), background),
        "text order → numeric": (text_order, order),
        "numeric order → text": (numeric_of_text, order),
    }


def label_shift(
    predictions: pd.DataFrame, num_outputs: int, data_format: str | None = None
) -> Guard:
    """Warn when a systematic remapping of the targets explains the predictions far better
    (``data_format``: how the data was read, which decides the fix suggested)."""
    if predictions.empty or top_column(1) not in predictions:
        return Guard(check="label_shift", status="ok", message="no predictions to check")
    top1 = predictions[top_column(1)].to_numpy(np.int64)
    target = predictions[TARGET].to_numpy(np.int64)
    as_labelled = float(np.mean(top1 == target))
    found = {
        name: (shifted_agreement(top1, target, remap), fix)
        for name, (remap, fix) in remappings(num_outputs, data_format).items()
        if not np.array_equal(remap, np.arange(num_outputs))
    }
    best = max(found, key=lambda name: found[name][0], default=None)
    details = {"as_labelled": as_labelled} | {name: value for name, (value, _) in found.items()}
    if best is None or not _far_better(found[best][0], as_labelled):
        return Guard(
            check="label_shift", status="ok", message="no label shift found", details=details
        )
    message = (
        f"label mapping: the predictions agree with the labels {best} ({100 * found[best][0]:.1f}%"
        f" top-1) far better than as labelled ({100 * as_labelled:.1f}%); {found[best][1]}"
    )
    return Guard(check="label_shift", status="warning", message=message, details=details)


def _far_better(remapped: float, as_labelled: float) -> bool:
    return (
        remapped - as_labelled >= FAR_BETTER_POINTS and remapped >= FAR_BETTER_RATIO * as_labelled
    )


def exif_rotation(paths: Sequence[str], rotated: np.ndarray, transposed: bool) -> Guard:
    """List the images whose EXIF orientation is not upright, and say what the model saw."""
    flagged = [path for path, turned in zip(paths, rotated, strict=True) if turned > 0.5]
    details = {"count": len(flagged), "files": flagged[:LISTED], "exif_transpose": transposed}
    if not flagged:
        return Guard(
            check="exif_rotation", status="ok", message="no EXIF-rotated images", details=details
        )
    shown = ", ".join(flagged[:3]) + (", …" if len(flagged) > 3 else "")
    saw = (
        "turned upright (--exif-transpose)"
        if transposed
        else "as stored, not as a viewer shows them; --exif-transpose turns them upright"
    )
    message = f"{len(flagged)} image(s) carry an EXIF rotation ({shown}); the model saw them {saw}"
    return Guard(check="exif_rotation", status="warning", message=message, details=details)


def published_top1(run: RunResult) -> float | None:
    """The top-1 the weights were published with, as a fraction (torchvision's ``acc@1``)."""
    published = run.model.published_metrics
    value = next((published[k] for k in ("acc@1", "top1", "top-1") if k in published), None)
    if value is None:
        return None
    return float(value) / 100 if float(value) > 1 else float(value)


def full_imagenet_val(run: RunResult) -> bool:
    """The run covers the whole ImageNet validation set, with the model's own label space."""
    data = run.dataset
    return (
        data.format == "imagenet-val"
        and data.subset == "all"
        and data.n == IMAGENET_VAL_IMAGES
        and run.model.label_space.subset is None
    )


def published_accuracy(run: RunResult) -> Guard | None:
    """Measured against published top-1 on the full validation set (None: not applicable)."""
    published = published_top1(run)
    if published is None or not full_imagenet_val(run):
        return None
    top1 = run.metrics.top1
    low, high = top1.low or 0.0, top1.high or 0.0
    details = {"published": published, "measured": top1.value, "low": low, "high": high}
    measured = f"{100 * (top1.value or 0.0):.2f}% [{100 * low:.2f}, {100 * high:.2f}]"
    if low <= published <= high:
        message = f"top-1 {measured} agrees with the published {100 * published:.2f}%"
        return Guard(check="published_accuracy", status="ok", message=message, details=details)
    message = (
        f"top-1 {measured} differs from the published {100 * published:.2f}% beyond the "
        "interval: check the preprocessing (resize, crop, interpolation, scaling, "
        "normalization) and the weights; a mismatch there is the usual cause"
    )
    return Guard(check="published_accuracy", status="warning", message=message, details=details)


def run_guards(run: RunResult) -> list[Guard]:
    """Every guard that applies to ``run``."""
    frame = run.predictions
    guards = [label_shift(frame, run.model.label_space.num_outputs, run.dataset.format)]
    published = published_accuracy(run)
    if published is not None:
        guards.append(published)
    if "exif_rotated" in frame.columns and not frame.empty:
        transposed = bool(run.model.preprocessing.exif_transpose)
        rotated = frame["exif_rotated"].fillna(0.0).to_numpy(np.float64)
        guards.append(exif_rotation(frame["path"].tolist(), rotated, transposed))
    return guards
