"""Slices: accuracy within groups of images, by image property or by a manifest column.

A *grouping* splits the evaluated images by one column of the predictions table:

- an image property measured while decoding (:mod:`evalkit.data.properties`): numbers are cut
  into ``bins`` quantile bins (the edges are recorded; ties can leave fewer bins), yes/no
  properties into two slices; a property with a single value (every image is 224x224) gives
  no grouping;
- a column of a CSV manifest (``--slice-by camera``): one slice per value, or quantile bins
  for a numeric column with more than ``MAX_VALUES`` distinct values.

Everything here is a pure function of the predictions table, so a stored run is sliced again
without its model (``evalkit rescore``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.properties import BINARY_PROPERTIES, PROPERTIES
from evalkit.errors import EvalkitError
from evalkit.metrics import accuracy_summary
from evalkit.naming import did_you_mean
from evalkit.results import META_PREFIX

MAX_VALUES = 50  # a categorical column with more values is binned (numbers) or refused
MISSING = -1


def meta_column(name: str) -> str:
    return f"{META_PREFIX}{name}"


@dataclass(frozen=True)
class Grouping:
    """One column's split of the images: ``codes[i]`` is image i's slice (-1: no value)."""

    name: str
    source: str  # "property" or "manifest"
    binning: str  # "quantiles", "yes/no" or "values"
    values: tuple[str, ...]
    codes: np.ndarray
    edges: tuple[float, ...] | None = None

    @property
    def missing(self) -> int:
        return int((self.codes == MISSING).sum())

    def members(self, slice_index: int) -> np.ndarray:
        return self.codes == slice_index


def manifest_columns(frame: pd.DataFrame) -> list[str]:
    """The manifest columns a predictions table carries (without the prefix)."""
    return [c[len(META_PREFIX) :] for c in frame.columns if c.startswith(META_PREFIX)]


def groupings(frame: pd.DataFrame, slice_by: Sequence[str], bins: int) -> list[Grouping]:
    """The image-property groupings the table supports, then one per ``slice_by`` column."""
    found = [
        grouping
        for name in PROPERTIES
        if name in frame.columns
        and (grouping := property_grouping(name, frame[name].to_numpy(np.float64), bins))
    ]
    for name in dict.fromkeys(slice_by):
        if name in PROPERTIES:
            continue  # always sliced when measured
        column = meta_column(name)
        if column not in frame.columns:
            raise EvalkitError(_unknown_message(name, manifest_columns(frame)))
        found.append(column_grouping(name, frame[column], bins))
    return found


def grouping_of(frame: pd.DataFrame, name: str, bins: int) -> Grouping:
    """The grouping of one column (``--evalkit-gate slice:NAME``): a manifest column or an
    image property; an error when the table has no such column or it has a single value."""
    if name in PROPERTIES and name in frame.columns:
        found = property_grouping(name, frame[name].to_numpy(np.float64), bins)
        if found is None:
            raise EvalkitError(
                f"slice:{name}: every image has the same {name} (or none was measured); "
                "nothing to slice"
            )
        return found
    if meta_column(name) not in frame.columns:
        raise EvalkitError(_unknown_message(name, manifest_columns(frame), f"slice:{name}"))
    return column_grouping(name, frame[meta_column(name)], bins, option=f"slice:{name}")


def check_slice_columns(
    slice_by: Sequence[str], columns: Sequence[str], filled: Collection[str]
) -> None:
    """Refuse a ``--slice-by`` column that is neither a manifest column nor an image property,
    or is empty in every row (not in ``filled``): before a run is evaluated, not after."""
    for name in slice_by:
        if name not in columns and name not in PROPERTIES:
            raise EvalkitError(_unknown_message(name, list(columns)))
        if name in columns and name not in filled:
            raise EvalkitError(_empty_message(f"--slice-by {name}"))


def _empty_message(option: str) -> str:
    return f"{option}: the column is empty in every row; fill it in the manifest or leave it out"


def _unknown_message(name: str, known: list[str], option: str | None = None) -> str:
    hint = did_you_mean(name, [*known, *PROPERTIES])
    columns = ", ".join(known) if known else "none (slicing by a column needs a CSV manifest)"
    return (
        f"{option or f'--slice-by {name}'}: no such column; manifest columns: {columns}; "
        f"image properties: {', '.join(PROPERTIES)}{'; ' + hint if hint else ''}"
    )


def property_grouping(name: str, values: np.ndarray, bins: int) -> Grouping | None:
    """Quantile bins (or yes/no) of a property; None when every measured image has one value."""
    measured = values[np.isfinite(values)]
    if np.unique(measured).size < 2:
        return None
    codes = np.full(values.size, MISSING, dtype=np.int64)
    if name in BINARY_PROPERTIES:
        codes[np.isfinite(values)] = (values[np.isfinite(values)] > 0.5).astype(np.int64)
        return Grouping(name, "property", "yes/no", ("no", "yes"), codes)
    return _binned(name, "property", values, bins)


def _binned(name: str, source: str, values: np.ndarray, bins: int) -> Grouping | None:
    finite = np.isfinite(values)
    edges = np.unique(np.quantile(values[finite], np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:
        return None
    codes = np.full(values.size, MISSING, dtype=np.int64)
    codes[finite] = np.searchsorted(edges[1:-1], values[finite], side="right")
    last = edges.size - 2
    labels = tuple(
        f"q{i + 1} [{_number(edges[i])}, {_number(edges[i + 1])}{']' if i == last else ')'}"
        for i in range(edges.size - 1)
    )
    return Grouping(name, source, "quantiles", labels, codes, tuple(float(e) for e in edges))


def _number(value: float) -> str:
    return f"{value:.3g}"


def column_grouping(name: str, column: pd.Series, bins: int, option: str | None = None) -> Grouping:
    """One slice per value of a manifest column (empty cells: no value); a numeric column with
    many values is cut into quantile bins. ``option``: how errors name what the user gave
    (default ``--slice-by NAME``)."""
    option = option or f"--slice-by {name}"
    text = column.astype(str).str.strip()
    present = text != ""
    distinct = sorted(set(text[present]))
    if not distinct:
        raise EvalkitError(_empty_message(option))
    if len(distinct) > MAX_VALUES:
        numbers = pd.to_numeric(text.where(present), errors="coerce").to_numpy(np.float64)
        if np.isfinite(numbers).sum() == present.sum():
            binned = _binned(name, "manifest", numbers, bins)
            if binned is not None:
                return binned
        raise EvalkitError(
            f"{option}: the column has {len(distinct)} distinct values; slices need a column "
            f"of categories (at most {MAX_VALUES}) or of numbers"
        )
    index = {value: i for i, value in enumerate(distinct)}
    codes = np.array([index.get(v, MISSING) for v in text.where(present, "")])
    return Grouping(name, "manifest", "values", tuple(distinct), codes.astype(np.int64))


def slice_table(
    grouping: Grouping, hits1: np.ndarray, hits5: np.ndarray, confidence: float = 0.95
) -> dict[str, Any]:
    """A grouping's section of the results: per slice n and top-1/top-5 (Wilson intervals)."""
    rows = []
    for number, value in enumerate(grouping.values):
        member = grouping.members(number)
        rows.append(
            {
                "value": value,
                "n": int(member.sum()),
                "top1": accuracy_summary(hits1[member], confidence),
                "top5": accuracy_summary(hits5[member], confidence),
            }
        )
    return {
        "name": grouping.name,
        "source": grouping.source,
        "binning": grouping.binning,
        "edges": list(grouping.edges) if grouping.edges is not None else None,
        "missing": grouping.missing,
        "slices": rows,
    }
