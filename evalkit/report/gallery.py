"""Thumbnails of the samples two models disagree on, with each model's top-3 (for the report)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from evalkit.labels import LabelSpace
from evalkit.report.tables import LabeledRun, Pair, readable_names
from evalkit.results import LABEL, PATH, TARGET, RunResult, guesses

THUMBNAIL = 112  # pixels, longer side
PER_DIRECTION = 12


@dataclass(frozen=True)
class Guess:
    name: str
    probability: float
    correct: bool


@dataclass(frozen=True)
class Tile:
    path: str
    label: str
    image: str | None  # data: URI of a JPEG thumbnail, or None when the file is not readable
    guesses: tuple[tuple[str, tuple[Guess, ...]], ...]  # (run label, top-3)


def thumbnail(path: Path) -> str | None:
    """A small JPEG of ``path`` as a data: URI (None if the file is gone or unreadable)."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (THUMBNAIL, THUMBNAIL))
            small = image.convert("RGB")
            small.thumbnail((THUMBNAIL, THUMBNAIL))
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=75)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def top3(row: pd.Series, space: LabelSpace | None) -> tuple[Guess, ...]:
    """A run's three best guesses for one sample, named in the model's label space."""
    target = int(row[TARGET])
    return tuple(
        Guess(space.name_of(output) if space is not None else str(output), prob, output == target)
        for output, prob in guesses(row, 3)
    )


def dataset_root(run: RunResult) -> Path:
    """Where a run's image paths are relative to (the data folder, or a manifest's folder)."""
    root = Path(run.dataset.path)
    return root if root.is_dir() or not root.exists() else root.parent


def tiles(pair: Pair, paths: pd.DataFrame, limit: int = PER_DIRECTION) -> list[Tile]:
    """Tiles for the first ``limit`` of ``paths`` (samples one run of ``pair`` got right)."""
    runs: Sequence[LabeledRun] = (pair.first, pair.second)
    frames = [item.run.predictions.set_index(PATH) for item in runs]
    spaces = [LabelSpace.from_description(item.run.model.label_space) for item in runs]
    root = dataset_root(pair.first.run)
    names = readable_names(pair.first.run.dataset.classes)  # wnid -> "wnid (tench)"
    result = []
    for path in paths[PATH].head(limit):
        rows = [frame.loc[path] for frame in frames]
        result.append(
            Tile(
                path=str(path),
                label=names.get(str(rows[0][LABEL]), str(rows[0][LABEL])),
                image=thumbnail(root / str(path)),
                guesses=tuple(
                    (item.label, top3(row, space))
                    for item, row, space in zip(runs, rows, spaces, strict=True)
                ),
            )
        )
    return result
