"""The report's slices, weak segments and guards (read from the runs' results only; the weak
segments' thumbnails from the image files, like the pairwise gallery)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.report.gallery import dataset_root, thumbnail
from evalkit.report.tables import LabeledRun
from evalkit.results import Accuracy

THUMBNAILS = 4  # per weak segment


def _cell(accuracy: Accuracy, overall: Accuracy) -> dict[str, Any]:
    """A slice's top-1 with its interval; ``below``/``above`` when the interval excludes the
    run's overall top-1."""
    low, high, value = accuracy.low, accuracy.high, overall.value
    below = high is not None and value is not None and high < value
    above = low is not None and value is not None and low > value
    return {"value": accuracy.value, "low": low, "high": high, "below": below, "above": above}


def slice_rows(runs: Sequence[LabeledRun]) -> list[dict[str, Any]]:
    """One entry per grouping (as the first sliced run has them): its slices, each with n and
    every run's top-1 (None for a run without that slice)."""
    sliced = [item for item in runs if item.run.slices is not None]
    if not sliced:
        return []
    first = sliced[0].run.slices
    assert first is not None
    found = []
    for group in first.groups:
        rows = []
        for piece in group.slices:
            cells = []
            for item in sliced:
                same = item.run.slices.find(group.name, piece.value) if item.run.slices else None
                cells.append(_cell(same.top1, item.run.metrics.top1) if same else None)
            rows.append({"value": piece.value, "n": piece.n, "cells": cells})
        found.append({"name": group.name, "source": group.source, "rows": rows})
    return found


def segments(runs: Sequence[LabeledRun], images: bool = True) -> list[dict[str, Any]]:
    """Per run: what the weak-segment search tried and its significant segments, each with
    thumbnails of its most confident mistakes (``images``)."""
    found = []
    for item in runs:
        weak = item.run.slices.weak_segments if item.run.slices is not None else None
        if weak is None:
            continue
        root = dataset_root(item.run)
        listed = [
            segment.fields()
            | {
                "tiles": [
                    {"path": path, "image": thumbnail(root / path) if images else None}
                    for path in segment.examples[:THUMBNAILS]
                ]
            }
            for segment in weak.segments
        ]
        found.append({"label": item.label, "search": weak.fields(), "segments": listed})
    return found


def guards(runs: Sequence[LabeledRun]) -> list[dict[str, Any]]:
    """Every guard of every run (warnings first)."""
    found = [
        {"label": item.label, "check": g.check, "status": g.status, "message": g.message}
        for item in runs
        for g in item.run.guards
    ]
    return sorted(found, key=lambda row: row["status"] == "ok")
