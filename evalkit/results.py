"""RunResult, the results file (``results.json``) and the per-sample predictions files.

Files are written atomically (temporary file + rename), predictions first and ``results.json``
last, so a folder never holds a results file that points at missing or partial predictions.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import EvalkitError

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
# prediction columns that hold text even when they look like numbers (class "3", file "001")
TEXT_COLUMNS = {"path": str, "label": str, "predicted": str}


@dataclass
class RunResult:
    """One model evaluated on one dataset. Sections match the results file (docs/results.md)."""

    model: dict[str, Any]
    dataset: dict[str, Any]
    metrics: dict[str, Any]
    timing: dict[str, Any]
    failures: list[dict[str, str]]
    environment: dict[str, Any]
    predictions: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    predictions_file: str | None = None
    label: str | None = None  # how reports name this run (default: the model's display name)

    @property
    def id(self) -> str:
        return str(self.model["id"])

    @property
    def top1(self) -> float:
        return float(self.metrics["top1"]["value"])

    @property
    def top5(self) -> float:
        return float(self.metrics["top5"]["value"])

    def predictions_writer(self) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            self.predictions.to_csv(path, index=False, compression="gzip")

        return write

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "metrics": self.metrics,
            "timing": self.timing,
            "failures": self.failures,
            "environment": self.environment,
            "predictions_file": self.predictions_file,
        }

    @classmethod
    def load(cls, path: str | Path, model: str | None = None) -> RunResult:
        """The run of ``model`` (or the only run) in a results file, with its predictions."""
        runs = load_results(path)
        if model is None and len(runs) == 1:
            return runs[0]
        matches = [run for run in runs if run.id == model]
        if not matches:
            ids = ", ".join(run.id for run in runs)
            wanted = f"no run of {model!r}" if model else f"{len(runs)} runs; name one"
            raise EvalkitError(f"{path} has {wanted}; it has: {ids}")
        return matches[0]


def display_name(model_id: str) -> str:
    """Model id with any file path shortened to its file name."""
    scheme, _, rest = model_id.partition(":")
    return f"{scheme}:{Path(rest).name}" if "/" in rest else model_id


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80]


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def save_results(runs: Sequence[RunResult], out_dir: str | Path) -> Path:
    """Write each run's predictions file, then ``results.json``; returns its path."""
    out = Path(out_dir)
    used: set[str] = set()
    for number, run in enumerate(runs):
        slug = _slug(display_name(run.id))
        name = f"predictions-{slug}.csv.gz"
        name = name if name not in used else f"predictions-{number}-{slug}.csv.gz"
        used.add(name)
        write_atomic(out / name, run.predictions_writer())
        run.predictions_file = name
    document = {"schema_version": SCHEMA_VERSION, "runs": [run.to_dict() for run in runs]}
    text = json.dumps(_json_safe(document), indent=1, allow_nan=False)
    target = out / RESULTS_FILE
    write_atomic(target, lambda tmp: tmp.write_text(text))
    return target


def load_results(path: str | Path) -> list[RunResult]:
    """Read a results file (or a folder holding ``results.json``) and its predictions."""
    path = Path(path)
    path = path / RESULTS_FILE if path.is_dir() else path
    try:
        document = json.loads(path.read_text())
        version = document["schema_version"]
        entries = document["runs"]
    except FileNotFoundError:
        raise EvalkitError(f"results file not found: {path}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise EvalkitError(f"{path} is not an evalkit results file ({error!r})") from None
    if version > SCHEMA_VERSION:
        raise EvalkitError(f"{path} has schema_version {version}; upgrade evalkit to read it")
    return [_run_from(entry, path.parent) for entry in entries]


def _run_from(entry: dict[str, Any], folder: Path) -> RunResult:
    name = entry.get("predictions_file")
    frame = pd.DataFrame()
    if name:
        try:
            frame = pd.read_csv(
                folder / name, compression="gzip", keep_default_na=False, dtype=TEXT_COLUMNS
            )
        except (OSError, ValueError, EOFError) as error:
            raise EvalkitError(f"cannot read predictions file {folder / name}: {error}") from None
    fields = {
        k: entry[k] for k in ("model", "dataset", "metrics", "timing", "failures", "environment")
    }
    return RunResult(**fields, predictions=frame, predictions_file=name)
