"""The numbers a report shows, as pandas tables computed from RunResults only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.compare.alignment import aligned_predictions
from evalkit.compare.stats import mcnemar_two_sided_p
from evalkit.results import PREDICTED, RunResult, prediction_hits, prob_column


@dataclass(frozen=True)
class LabeledRun:
    """A run and the name a report gives it (unique within the report)."""

    label: str
    run: RunResult


def label_runs(runs: Sequence[RunResult]) -> list[LabeledRun]:
    """Labels (or display names), made unique (``model (2)``) when a name appears twice."""
    seen: dict[str, int] = {}
    labeled = []
    for run in runs:
        name = run.name
        seen[name] = seen.get(name, 0) + 1
        labeled.append(LabeledRun(name if seen[name] == 1 else f"{name} ({seen[name]})", run))
    return labeled


def summary(runs: Sequence[LabeledRun]) -> pd.DataFrame:
    """One row per run: accuracy with intervals, size of the set, latency, throughput, setup."""
    rows = []
    for item in runs:
        run = item.run
        top1, top5 = run.metrics.top1, run.metrics.top5
        latency = run.timing.batch_latency_ms
        rows.append(
            {
                "model": item.label,
                "top1": top1.value,
                "top1_low": top1.low,
                "top1_high": top1.high,
                "top5": top5.value,
                "top5_low": top5.low,
                "top5_high": top5.high,
                "n": top1.n,
                "failures": len(run.failures),
                "latency_p50_ms": latency.p50,
                "latency_p90_ms": latency.p90,
                "latency_p99_ms": latency.p99,
                "throughput_img_s": run.timing.throughput_img_s,
                "timing_noise": "; ".join(run.timing.noise),
                "device": run.timing.device,
                "batch_size": run.timing.batch_size,
                "parameters": run.model.params,
                "weights_mb": _weights_mb(run),
            }
        )
    return pd.DataFrame(rows)


def _weights_mb(run: RunResult) -> float | None:
    size = run.model.weights.bytes
    return None if size is None else size / 2**20


@dataclass(frozen=True)
class Pair:
    """Two runs on the same samples: agreement and the samples only one of them gets right."""

    first: LabeledRun
    second: LabeledRun
    n: int
    agreement: float
    only_first: pd.DataFrame
    only_second: pd.DataFrame
    p_value: float
    # |p_A(top-1) - p_B(top-1)| per sample (median, 99th percentile, max), for two runs with
    # the same label space (an export, a quantization, a runtime of one model); else None
    abs_dp: tuple[float, float, float] | None = None


def pairs(runs: Sequence[LabeledRun]) -> list[Pair]:
    """Every pair of runs that evaluated the same files (same dataset fingerprint)."""
    found = []
    for i, first in enumerate(runs):
        for second in runs[i + 1 :]:
            if first.run.dataset.fingerprint != second.run.dataset.fingerprint:
                continue
            if first.run.predictions.empty or second.run.predictions.empty:
                continue
            found.append(_pair(first, second))
    return found


def _pair(first: LabeledRun, second: LabeledRun) -> Pair:
    left, right = aligned_predictions(first.run, second.run, same_model=False)
    right_a, right_b = prediction_hits(left), prediction_hits(right)
    only_a, only_b = right_a & ~right_b, right_b & ~right_a
    return Pair(
        first=first,
        second=second,
        n=int(right_a.size),
        agreement=float((left[PREDICTED].to_numpy() == right[PREDICTED].to_numpy()).mean()),
        only_first=left.index[only_a].to_frame(index=False),
        only_second=left.index[only_b].to_frame(index=False),
        p_value=mcnemar_two_sided_p(int(only_a.sum()), int(only_b.sum())),
        abs_dp=_abs_dp(first, second, left, right),
    )


def _abs_dp(
    first: LabeledRun, second: LabeledRun, left: pd.DataFrame, right: pd.DataFrame
) -> tuple[float, float, float] | None:
    """Quantiles of |Δp(top-1)| when both runs predict in the same label space."""
    if first.run.model.label_space != second.run.model.label_space:
        return None
    column = prob_column(1)
    if column not in left or column not in right:
        return None
    delta = np.abs(left[column].to_numpy(np.float64) - right[column].to_numpy(np.float64))
    if not delta.size:
        return None
    return float(np.median(delta)), float(np.quantile(delta, 0.99)), float(delta.max())


WNID = re.compile(r"n\d{8}")


def readable_names(classes: Sequence[str]) -> dict[str, str]:
    """ImageNet wnid -> "wnid (first name)" when the dataset's classes are wnids."""
    if not classes or not all(WNID.fullmatch(c) for c in classes):
        return {}
    from evalkit.labels import LabelSpace

    space = LabelSpace.imagenet1k()
    names = {}
    for wnid in classes:
        index = space.resolve(wnid)
        names[wnid] = f"{wnid} ({space.names[index].split(',')[0]})" if index is not None else wnid
    return names


def per_class(runs: Sequence[LabeledRun]) -> pd.DataFrame:
    """Per-class top-1 accuracy (recall) for each run; worst classes first.

    Columns: ``class``, ``support``, one column per run label and, with two runs or more,
    ``delta`` (last run minus first, in accuracy units).
    """
    frame: pd.DataFrame | None = None
    for item in runs:
        table = pd.DataFrame([c.fields() for c in item.run.metrics.per_class])
        if table.empty:
            continue
        table = table.set_index("class")
        if frame is None:
            frame = table[["support"]].copy()
        frame[item.label] = table["recall"]
    if frame is None:
        return pd.DataFrame(columns=["class", "support"])
    labels = [item.label for item in runs if item.label in frame.columns]
    if len(labels) >= 2:
        frame["delta"] = frame[labels[-1]] - frame[labels[0]]
    frame["_worst"] = frame[labels].min(axis=1)
    frame = frame.sort_values(["_worst", "support"], ascending=[True, False], kind="stable")
    frame = frame.drop(columns="_worst").reset_index()
    names = readable_names([str(c) for c in frame["class"]])
    if names:
        frame["class"] = frame["class"].map(names)
    return frame


def confusion_frame(run: RunResult) -> pd.DataFrame:
    """The full confusion matrix (rows: true class; columns: predicted class, then "other")."""
    classes = [str(c) for c in run.dataset.classes]
    matrix = run.metrics.confusion_matrix.dense()
    if matrix.size == 0:
        return pd.DataFrame()
    names = readable_names(classes)
    classes = [names.get(c, c) for c in classes]
    columns = [*classes, "other"] if matrix.shape[1] == len(classes) + 1 else classes
    return pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=columns)


def confused_pairs(matrix: pd.DataFrame, k: int = 20) -> pd.DataFrame:
    """The ``k`` largest off-diagonal cells: true class, predicted class, count, share."""
    if matrix.empty:
        return pd.DataFrame(columns=["true", "predicted", "count", "share"])
    values = matrix.to_numpy().copy()
    rows, cols = np.arange(values.shape[0]), np.arange(values.shape[0])
    values[rows, cols] = 0
    flat = np.argsort(values, axis=None, kind="stable")[::-1][:k]
    true_idx, pred_idx = np.unravel_index(flat, values.shape)
    support = matrix.to_numpy().sum(axis=1)
    table = pd.DataFrame(
        {
            "true": matrix.index[true_idx],
            "predicted": matrix.columns[pred_idx],
            "count": values[true_idx, pred_idx],
            "share": values[true_idx, pred_idx] / np.maximum(support[true_idx], 1),
        }
    )
    return table[table["count"] > 0].reset_index(drop=True)


def most_confused_classes(matrix: pd.DataFrame, k: int = 15) -> pd.DataFrame:
    """The confusion matrix restricted to the ``k`` classes in the most confused pairs."""
    chosen: list[str] = []
    for _, row in confused_pairs(matrix, k=10 * k).iterrows():
        for name in (row["true"], row["predicted"]):
            if name in matrix.index and name not in chosen and len(chosen) < k:
                chosen.append(name)
    return matrix.loc[chosen, chosen] if chosen else matrix.iloc[:0, :0]


def stage_split(run: RunResult) -> dict[str, float]:
    """Seconds per stage (read, decode, preprocess, forward, …), from the timing section."""
    timing = run.timing
    return {
        "read": timing.stage("read"),
        "decode": timing.stage("decode", "read_decode"),  # older files: read + decode
        "preprocess": timing.stage("preprocess"),
        "forward": timing.stage("forward"),
        "warm-up": timing.stage("warmup"),
        "other": timing.stage("collate") + timing.stage("postprocess"),
    }


def ignored(runs: Sequence[LabeledRun], limit: int = 200) -> list[dict[str, Any]]:
    """Per dataset: the entries its listing passed over (first ``limit``), with the rest counted."""
    datasets = {item.run.dataset.path: item.run.dataset for item in runs}
    return [
        {
            "data": path,
            "files": data.ignored[:limit],
            "more": data.ignored_count - min(limit, len(data.ignored)),
        }
        for path, data in datasets.items()
        if data.ignored_count
    ]


def failures(runs: Sequence[LabeledRun], limit: int = 200) -> list[dict[str, Any]]:
    """Unreadable files per run (first ``limit``), with the number left out."""
    return [
        {
            "label": item.label,
            "files": item.run.failures[:limit],
            "more": max(0, len(item.run.failures) - limit),
        }
        for item in runs
        if item.run.failures
    ]


def _fastest(summary_frame: pd.DataFrame) -> list[str]:
    """The fastest model, among runs that timed batches (cached or resumed runs may not)."""
    latency = pd.to_numeric(summary_frame["latency_p50_ms"], errors="coerce")
    if latency.notna().sum() < 2:
        return []
    fastest = summary_frame.loc[latency.idxmin()]
    ratio = latency.max() / latency.min() if latency.min() else float("nan")
    noisy = summary_frame.loc[latency.notna() & (summary_frame["timing_noise"] != ""), "model"]
    caveat = (
        f" Timings of {', '.join(noisy)} may be unreliable (⚠ in the table)." if len(noisy) else ""
    )
    return [
        f"Fastest: {fastest['model']} (batch p50 {fastest['latency_p50_ms']:.1f} ms, "
        f"{ratio:.1f}x faster than the slowest).{caveat}"
    ]


def findings(summary_frame: pd.DataFrame, found: Sequence[Pair]) -> list[str]:
    """The answer in words: most accurate model (and whether the lead is significant), fastest."""
    if summary_frame.empty:
        return []
    ranked = summary_frame.sort_values("top1", ascending=False, kind="stable")
    best, lines = ranked.iloc[0], []
    lines.append(f"Most accurate: {best['model']} (top-1 {100 * best['top1']:.2f}%).")
    if len(ranked) >= 2:
        runner = ranked.iloc[1]
        lead = 100 * (best["top1"] - runner["top1"])
        pair = next(
            (
                p
                for p in found
                if {p.first.label, p.second.label} == {best["model"], runner["model"]}
            ),
            None,
        )
        verdict = ""
        if pair is not None:
            significant = "significant" if pair.p_value < 0.05 else "not significant"
            verdict = f"; the difference is {significant} (paired McNemar p={pair.p_value:.3g})"
        if lead < 0.005:
            lines[-1] = (
                f"Top-1 is tied at {100 * best['top1']:.2f}% between {best['model']} and "
                f"{runner['model']}{verdict}."
            )
        else:
            lines.append(f"It leads {runner['model']} by {lead:.2f} points{verdict}.")
        lines += _fastest(summary_frame)
    failed = int(summary_frame["failures"].sum())
    if failed:
        lines.append(f"{failed} images could not be read and were skipped (see Failures).")
    return lines
