"""The typed results model: ``results.json``, its sections, and the per-sample predictions files.

This module is the only code that knows the results file's keys. Everything else reads runs
through attributes (``run.metrics.top1.value``) and writes them through these models, so a
field is renamed or added in one place. Loading validates: a newer ``schema_version``, a missing
field or a value of the wrong type is one :class:`~evalkit.errors.EvalkitError` naming the file
and the field (``runs[0].metrics.top1.value``). The format is documented in docs/results.md.

Files are written atomically (temporary file + rename), predictions first and ``results.json``
last, so a folder never holds a results file that points at missing or partial predictions.
Sections accept fields this version does not know (newer files of the same schema version keep
them on a round trip), and a section is written back with exactly the fields it was given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, overload

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from evalkit.atomic import write_atomic
from evalkit.csvsafe import restored_frame, write_csv
from evalkit.errors import EvalkitError
from evalkit.naming import display_name, slug

SCHEMA_VERSION = 2  # 2: sparse confusion matrix, per-class columns (1 still reads)
RESULTS_FILE = "results.json"
# prediction columns that hold text even when they look like numbers (class "3", file "001")
TEXT_COLUMNS = {"path": str, "label": str, "predicted": str, "corruption": str}
META_PREFIX = "meta."  # a CSV manifest's other columns (``meta.camera``), kept as text
# image properties measured at decode (evalkit.data.properties), one column each
PROPERTIES = (
    "brightness",
    "contrast",
    "sharpness",
    "aspect_ratio",
    "megapixels",
    "grayscale",
    "exif_rotated",
)


class Section(BaseModel):
    """A part of the results file: typed fields, unknown (newer) fields kept as they are."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True)

    def fields(self) -> dict[str, Any]:
        """The fields this section was given, in file order (for reproducibility tables)."""
        return self.model_dump(exclude_unset=True, by_alias=True)


class Accuracy(Section):
    """A micro-averaged accuracy over images with its confidence interval."""

    value: float | None
    low: float | None
    high: float | None
    correct: int
    n: int
    average: str = "micro"
    interval: str = "wilson 95%"


class ClassMetrics(Section):
    name: str = Field(alias="class")
    precision: float
    recall: float  # = top-1 accuracy of the class
    f1: float
    support: int


Count = Annotated[int, Field(ge=0, lt=2**62)]  # fits int64 sums


class SparseCells(Section):
    """The non-zero cells of a matrix as three parallel lists (row, column, count)."""

    row: list[int]
    column: list[int]
    count: list[Count]


class ConfusionMatrix(Section):
    """Counts of (true class, predicted class); written sparsely (``shape`` and the non-zero
    ``cells``), so 1000 classes take kilobytes. Files written before 0.4 hold a dense
    ``matrix``; both read back through :meth:`dense`."""

    rows: str
    columns: str
    shape: list[int] | None = None
    cells: SparseCells | None = None
    matrix: list[list[Count]] | None = None  # the dense form of earlier files

    @model_validator(mode="after")
    def _consistent(self) -> ConfusionMatrix:
        if self.matrix is not None:
            if len({len(row) for row in self.matrix}) > 1:
                raise ValueError("the rows of matrix differ in length")
            return self
        if self.shape is None or self.cells is None:
            raise ValueError("needs shape and cells (or a dense matrix)")
        _check_cells(self.shape, self.cells)
        return self

    def dense(self) -> np.ndarray:
        """The full matrix (rows: true classes; columns: predicted classes, then "other")."""
        if self.matrix is not None:
            return np.asarray(self.matrix, dtype=np.int64).reshape(len(self.matrix), -1)
        assert self.shape is not None and self.cells is not None  # checked on validation
        matrix = np.zeros(self.shape, dtype=np.int64)
        matrix[self.cells.row, self.cells.column] = self.cells.count
        return matrix


def _check_cells(shape: list[int], cells: SparseCells) -> None:
    if len(shape) != 2 or min(shape) < 0:
        raise ValueError(f"shape must be [rows, columns], got {shape}")
    if not len(cells.row) == len(cells.column) == len(cells.count):
        raise ValueError("cells.row, cells.column and cells.count differ in length")
    for name, values, size in (("row", cells.row, shape[0]), ("column", cells.column, shape[1])):
        if values and not 0 <= min(values) <= max(values) < size:
            raise ValueError(f"cells.{name} holds an index outside the shape {shape}")
    if cells.count and min(cells.count) < 0:
        raise ValueError("cells.count holds a negative count")


class Estimate(Section):
    """A statistic with its (bootstrap) interval: macro-F1, NLL, ECE, Brier score."""

    value: float | None
    low: float | None
    high: float | None
    interval: str


class Reliability(Section):
    """The reliability diagram's bins (equal width, ``(lower, upper]``): image count, mean
    top-1 probability and top-1 accuracy per bin (None where a bin is empty)."""

    bins: int = Field(ge=1)
    lower: list[float]
    upper: list[float]
    count: list[Count]
    confidence: list[float | None]
    accuracy: list[float | None]

    @model_validator(mode="after")
    def _lengths(self) -> Reliability:
        columns = (self.lower, self.upper, self.count, self.confidence, self.accuracy)
        if {len(column) for column in columns} != {self.bins}:
            raise ValueError(f"every bin list must have {self.bins} entries")
        return self


class Metrics(Section):
    """Accuracy, per-class metrics (written as columns: one list per metric), the confusion
    matrix and, from the per-sample probabilities, macro-F1 and calibration (files before 0.5
    lack them)."""

    top1: Accuracy
    top5: Accuracy
    top1_macro: float | None
    per_class: list[ClassMetrics]
    confusion_matrix: ConfusionMatrix
    macro_f1: Estimate | None = None
    nll: Estimate | None = None
    ece: Estimate | None = None
    brier: Estimate | None = None
    calibration: Reliability | None = None

    @field_validator("per_class", mode="before")
    @classmethod
    def _rows(cls, value: Any) -> Any:
        """Columns (``{"class": [...], "precision": [...]}``) or rows (earlier files)."""
        if isinstance(value, dict):
            lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
            if len(lengths) != 1 or -1 in lengths:
                raise ValueError("per_class columns must be lists of the same length")
            return [dict(zip(value, row, strict=True)) for row in zip(*value.values(), strict=True)]
        return value

    @field_serializer("per_class")
    def _columns(self, rows: list[ClassMetrics]) -> dict[str, list[Any]]:
        dumped = [row.model_dump(exclude_unset=True, by_alias=True) for row in rows]
        names = list(dict.fromkeys(key for row in dumped for key in row))
        return {name: [row.get(name) for row in dumped] for name in names}


class Slice(Section):
    """Top-1/top-5 within one slice (Wilson intervals)."""

    value: str
    n: Count
    top1: Accuracy
    top5: Accuracy


class SliceGroup(Section):
    """One column's slices: an image property (quantile bins or yes/no) or a manifest column."""

    name: str
    source: str  # "property" or "manifest"
    binning: str  # "quantiles", "yes/no" or "values"
    edges: list[float] | None = None  # quantile bin edges
    missing: Count = 0  # images without a value
    slices: list[Slice]


class SegmentCondition(Section):
    name: str
    value: str


class WeakSegment(Section):
    """A slice (or pair of slices) significantly less accurate than the rest of the data."""

    slice: str
    conditions: list[SegmentCondition]
    n: Count
    top1: Accuracy
    rest_top1: float
    deficit: float
    p_value: float
    p_adjusted: float
    examples: list[str] = Field(default_factory=list)  # most confident mistakes


class WeakSegments(Section):
    tried: Count
    min_size: int
    alpha: float
    test: str
    correction: str
    significant: Count
    segments: list[WeakSegment]


class Slices(Section):
    """``--slice-by`` and the image-property slices, and the weak segments among them."""

    bins: int
    groups: list[SliceGroup]
    weak_segments: WeakSegments | None = None

    def find(self, name: str, value: str) -> Slice | None:
        """The slice ``value`` of the grouping ``name`` (None when this run has no such slice)."""
        for group in self.groups:
            if group.name == name:
                return next((piece for piece in group.slices if piece.value == value), None)
        return None


class CorruptionCell(Section):
    """Top-1/top-5 of the images under one corruption at one severity (Wilson intervals)."""

    corruption: str
    severity: int = Field(ge=1, le=5)
    top1: Accuracy
    top5: Accuracy
    failed: Count = 0  # variants that could not be made (their image could be read)

    @property
    def error(self) -> float:
        return float("nan") if self.top1.value is None else 1.0 - self.top1.value


class CorruptionError(Section):
    """One corruption over the severities evaluated: its mean top-1 error, CE and relative CE
    (normalised by AlexNet's errors, docs/robustness.md)."""

    corruption: str
    group: str
    error: float
    ce: float
    relative_ce: float


class Robustness(Section):
    """``--corruptions``: the model on corrupted copies of every image (ImageNet-C protocol)."""

    benchmark: str  # imagenet-c
    corruptions: str  # what --corruptions asked for, canonical (imagenet-c, noise:1,3)
    severities: list[int]
    protocol: str  # jpeg (the reference's quality-85 files, in memory) or memory
    geometry: str  # how the corrupted 224 crop reaches the model
    seed: int  # the run seed the per-image corruption seeds derive from
    implementation: int  # evalkit's corruption code version (evalkit.corruption_spec)
    complete: bool  # all 15 corruptions x 5 severities: mCE comparable with published ones
    clean_error: float  # top-1 error of the run itself (relative mCE)
    mce: float
    relative_mce: float
    normalization: str  # where AlexNet's errors come from
    errors: list[CorruptionError]
    cells: list[CorruptionCell]
    predictions_file: str | None = None  # every variant's prediction (read by compare/rescore)

    def cell(self, corruption: str, severity: int) -> CorruptionCell | None:
        return next(
            (c for c in self.cells if c.corruption == corruption and c.severity == severity), None
        )


class Guard(Section):
    """A check against silent mis-evaluation (label shift, EXIF rotation, published accuracy):
    ``status`` ok or warning, a one-line ``message`` with the fix, and what it measured."""

    check: str
    status: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Weights(Section):
    source: str  # file, cache or download
    name: str | None = None
    url: str | None = None
    file: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    matches_published: bool | None = None


class Preprocessing(Section):
    crop: int
    resize: int | None
    interpolation: str
    divide_by: float
    mean: list[float]
    std: list[float]
    layout: str
    resize_mode: str
    color: str
    source: str | None = None
    then: str | None = None
    then_maps: dict[str, list[float]] | None = None  # what 0 and 255 become
    exif_transpose: bool | None = None  # images turned upright first (--exif-transpose)

    def comparable(self) -> dict[str, Any]:
        """The steps, without where they were read from (a path that differs by machine)."""
        steps = self.fields()
        steps.pop("source", None)
        return steps


class LabelSubsetInfo(Section):
    """``--label-subset``: the outputs were restricted to these classes before top-k."""

    name: str
    source: str
    sha256: str
    classes: int = Field(ge=1)


class LabelSpaceInfo(Section):
    name: str
    num_outputs: int = Field(ge=1)
    offset: int = Field(default=0, ge=0)
    names: list[str] | None = None  # custom spaces: the class of each output
    subset: LabelSubsetInfo | None = None

    @model_validator(mode="after")
    def _names_fit(self) -> LabelSpaceInfo:
        if self.names is not None and len(self.names) != self.num_outputs - self.offset:
            raise ValueError(
                f"names has {len(self.names)} entries for {self.num_outputs} outputs "
                f"(offset {self.offset})"
            )
        return self


class ModelInfo(Section):
    id: str
    framework: str
    weights: Weights
    preprocessing: Preprocessing
    label_space: LabelSpaceInfo
    published_metrics: dict[str, float] = Field(default_factory=dict)
    params: int | None = None


class Failure(Section):
    file: str
    reason: str


class DatasetInfo(Section):
    path: str
    format: str
    n: int
    classes: list[str]
    subset: str
    fingerprint: str
    evaluated: int
    failed: int
    ignored: list[Failure] = Field(default_factory=list)  # entries the listing passed over
    ignored_count: int = 0  # all of them (``ignored`` keeps the first 1000)

    @field_validator("classes")
    @classmethod
    def _unique(cls, classes: list[str]) -> list[str]:
        if len(set(classes)) != len(classes):
            raise ValueError("the class names repeat")
        return classes


class Latency(Section):
    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None = None


class Timing(Section):
    batch_size: int
    warmup_batches: int
    timed_batches: int
    images: int
    batch_latency_ms: Latency
    batch_latencies_ms: list[float] = Field(default_factory=list)
    image_latency_ms: Latency
    throughput_img_s: float | None
    forward_throughput_img_s: float | None
    stages_s: dict[str, float]
    overhead_s: float | None = None  # files from evalkit 0.1 before the speed work lack these
    overhead_fraction: float | None = None
    peak_rss_mb: float
    device: str
    noise: list[str] = Field(default_factory=list)  # why these timings may be unreliable

    @field_serializer("batch_latencies_ms")
    def _microseconds(self, values: list[float]) -> list[float]:
        """Each batch's latency to the microsecond (a 50k-image run has ~1600 of them)."""
        return [round(v, 3) if math.isfinite(v) else v for v in values]

    def stage(self, *names: str) -> float:
        """Seconds of the first of ``names`` that was recorded (0 when none was)."""
        return next((self.stages_s[n] for n in names if n in self.stages_s), 0.0)


class Runtime(Section):
    """Device, framework versions, thread counts, precision (adapters add their own fields)."""

    device: str


class Environment(Section):
    python: str
    platform: str
    cpu: str
    cpu_count: int | None
    packages: dict[str, str]
    commit: str | None
    runtime: Runtime


class WorkerStats(Section):
    """One worker of a distributed run: its own batch latencies, never pooled with others'."""

    worker: str
    shards: int
    images: int
    seconds: float
    throughput_img_s: float | None
    batch_latency_ms: Latency


class ExecutionInfo(Section):
    """How the run's samples were obtained: evaluated now, taken from the cache, or resumed
    from shards an interrupted run had committed."""

    executor: str
    shard_size: int
    shards: int
    evaluated: int
    cached: int
    resumed: int
    reevaluated_shards: int = 0  # committed shards that failed to read back and were redone
    store: str | None = None
    cache: str | None = None
    workers: list[WorkerStats] = Field(default_factory=list)


class RunResult(Section):
    """One model evaluated on one dataset. Sections match the results file (docs/results.md)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: ModelInfo
    dataset: DatasetInfo
    metrics: Metrics
    timing: Timing
    failures: list[Failure]
    environment: Environment
    options: dict[str, Any] | None = None  # the EvalOptions the run was made with
    class_outputs: list[int] | None = None  # model output index of each dataset class
    execution: ExecutionInfo | None = None
    slices: Slices | None = None  # files before 0.6 lack them
    guards: list[Guard] = Field(default_factory=list)
    robustness: Robustness | None = None  # --corruptions
    predictions_file: str | None = None
    predictions: pd.DataFrame = Field(default_factory=pd.DataFrame, exclude=True, repr=False)
    # the corrupted variants' predictions (``robustness``), columns as ``predictions`` plus
    # ``corruption`` and ``severity``
    corrupted: pd.DataFrame = Field(default_factory=pd.DataFrame, exclude=True, repr=False)
    label: str | None = Field(default=None, exclude=True)  # how reports name this run

    @model_validator(mode="after")
    def _sizes_agree(self) -> RunResult:
        """The per-class metrics and the confusion matrix cover the dataset's classes."""
        classes = len(self.dataset.classes)
        matrix = self.metrics.confusion_matrix
        rows, columns = matrix.shape or [len(matrix.matrix or []), len((matrix.matrix or [[]])[0])]
        if classes and (rows != classes or columns not in (classes, classes + 1)):
            raise ValueError(
                f"metrics.confusion_matrix is {rows}x{columns} for {classes} dataset classes"
            )
        if self.metrics.per_class and len(self.metrics.per_class) != classes:
            raise ValueError(
                f"metrics.per_class has {len(self.metrics.per_class)} rows for {classes} classes"
            )
        return self

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def name(self) -> str:
        """How tables name this run: its label, else the model id with paths shortened."""
        return self.label or display_name(self.id)

    @property
    def top1(self) -> float:
        return float("nan") if self.metrics.top1.value is None else self.metrics.top1.value

    @property
    def top5(self) -> float:
        return float("nan") if self.metrics.top5.value is None else self.metrics.top5.value

    def to_dict(self) -> dict[str, Any]:
        """The run as it is written into ``results.json`` (without its predictions)."""
        return self.model_dump(exclude_unset=True, by_alias=True)

    @classmethod
    def load(cls, path: str | Path, model: str | None = None) -> RunResult:
        """The run of ``model`` (or the only run) in a results file, with its predictions."""
        return load_results(path).run(model)


# --- predictions (one row per evaluated image) ----------------------------------------------
PATH, LABEL, TARGET, PREDICTED = "path", "label", "target", "predicted"
P_TRUE, SUM_SQ = "p_true", "sum_sq"  # p(true class), sum of squared probabilities


def top_column(k: int) -> str:
    """Column of the k-th best model output index (1-based)."""
    return f"top{k}"


def prob_column(k: int) -> str:
    """Column of the k-th best output's probability (1-based)."""
    return f"prob{k}"


def predictions_frame(
    paths: Sequence[str] | np.ndarray,
    labels: Sequence[str] | np.ndarray,
    targets: np.ndarray,
    predicted: Sequence[str] | np.ndarray,
    topk: np.ndarray,
    probs: np.ndarray,
) -> pd.DataFrame:
    """The predictions table: path, label, target, predicted name, top-k indices and probs."""
    frame = pd.DataFrame({PATH: paths, LABEL: labels, TARGET: targets, PREDICTED: predicted})
    for k in range(topk.shape[1]):
        frame[top_column(k + 1)] = topk[:, k]
        frame[prob_column(k + 1)] = probs[:, k]
    return frame


def prediction_hits(frame: pd.DataFrame, k: int = 1) -> np.ndarray:
    """Whether each row's target is among its first ``k`` outputs."""
    columns = [top_column(j) for j in range(1, k + 1) if top_column(j) in frame]
    if frame.empty or not columns:
        return np.zeros(len(frame), dtype=bool)
    return (frame[columns].to_numpy() == frame[[TARGET]].to_numpy()).any(axis=1)


def prediction_topk(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The top-k output indices and their probabilities, as arrays (rows in frame order)."""
    k = sum(1 for column in frame.columns if column.startswith("top"))
    tops = [top_column(j) for j in range(1, k + 1)]
    probs = [prob_column(j) for j in range(1, k + 1)]
    return frame[tops].to_numpy(dtype=np.int64), frame[probs].to_numpy(dtype=np.float64)


def guesses(row: pd.Series, k: int = 3) -> list[tuple[int, float]]:
    """A predictions row's ``k`` best outputs and probabilities."""
    found = []
    for j in range(1, k + 1):
        if top_column(j) not in row:
            break
        found.append((int(row[top_column(j)]), float(row[prob_column(j)])))
    return found


# --- the results file --------------------------------------------------------------------
@dataclass
class Results(Sequence[RunResult]):
    """A results file: its runs (indexable and iterable like a list) and schema version."""

    runs: list[RunResult]
    schema_version: int = SCHEMA_VERSION
    path: Path | None = field(default=None, compare=False)

    @overload
    def __getitem__(self, index: int) -> RunResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[RunResult]: ...

    def __getitem__(self, index: int | slice) -> RunResult | list[RunResult]:
        return self.runs[index]

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[RunResult]:
        return iter(self.runs)

    def run(self, model: str | None = None) -> RunResult:
        """The run of ``model`` (or the only run)."""
        if model is None and len(self.runs) == 1:
            return self.runs[0]
        matches = [run for run in self.runs if run.id == model]
        if not matches:
            ids = ", ".join(run.id for run in self.runs)
            wanted = f"no run of {model!r}" if model else f"{len(self.runs)} runs; name one"
            raise EvalkitError(f"{self.path or 'the results'} has {wanted}; it has: {ids}")
        return matches[0]


class _Document(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int
    runs: list[RunResult]


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN or infinities as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def results_json(runs: Sequence[RunResult]) -> str:
    """The text of ``results.json`` for ``runs`` (non-finite numbers become ``null``)."""
    document = {"schema_version": SCHEMA_VERSION, "runs": [run.to_dict() for run in runs]}
    return compact_json(json_safe(document)) + "\n"


def compact_json(value: Any, level: int = 0) -> str:
    """JSON indented one space per level, except that a list of plain values is one line: a
    1000-class run stays readable and small (no line per number)."""
    if isinstance(value, dict) and value:
        pad = " " * (level + 1)
        items = [f"{pad}{json.dumps(k)}: {compact_json(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * level + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) and v for v in value):
        pad = " " * (level + 1)
        items = [pad + compact_json(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * level + "]"
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def save_results(runs: Sequence[RunResult], out_dir: str | Path) -> Path:
    """Write each run's predictions file, then ``results.json``; returns its path."""
    out = Path(out_dir)
    used: set[str] = set()
    for number, run in enumerate(runs):
        stem = slug(display_name(run.id))
        name = f"predictions-{stem}.csv.gz"
        name = name if name not in used else f"predictions-{number}-{stem}.csv.gz"
        used.add(name)
        write_csv(out / name, run.predictions, compression="gzip")
        run.predictions_file = name
        if run.robustness is not None and len(run.corrupted):
            corrupted = name.replace("predictions-", "corruptions-", 1)
            write_csv(out / corrupted, run.corrupted, compression="gzip")
            run.robustness.predictions_file = corrupted
    text = results_json(runs)
    target = out / RESULTS_FILE
    write_atomic(target, lambda tmp: tmp.write_text(text))
    return target


def _field(location: Sequence[int | str]) -> str:
    """``('runs', 0, 'metrics', 'top1')`` -> ``runs[0].metrics.top1``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _validation_message(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    shown = repr(first.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    what = "missing" if first["type"] == "missing" else f"{first['msg']} (got {shown})"
    more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
    return f"{path}: field {_field(first['loc'])}: {what}{more}; re-create the file with evalkit"


def parse_results(document: Any, path: Path) -> list[RunResult]:
    """Validate a parsed results document; each problem names the file and the field."""
    if not isinstance(document, dict) or "runs" not in document:
        raise EvalkitError(f"{path} is not an evalkit results file (no 'runs' list)")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EvalkitError(
            f"{path}: field schema_version: expected a whole number, got {version!r}"
        )
    if version > SCHEMA_VERSION:
        raise EvalkitError(
            f"{path} has schema_version {version}; this evalkit reads up to {SCHEMA_VERSION}: "
            "upgrade evalkit to read it"
        )
    try:
        return _Document.model_validate(document).runs
    except ValidationError as error:
        raise EvalkitError(_validation_message(path, error)) from None


def load_results(path: str | Path) -> Results:
    """Read a results file (or a folder holding ``results.json``) and its predictions."""
    path = Path(path)
    path = path / RESULTS_FILE if path.is_dir() else path
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvalkitError(f"results file not found: {path}") from None
    except (OSError, ValueError) as error:
        raise EvalkitError(f"{path} is not an evalkit results file ({error})") from None
    except RecursionError:
        raise EvalkitError(f"{path} is not an evalkit results file (nested too deeply)") from None
    runs = parse_results(document, path)
    if not runs:
        raise EvalkitError(f"{path} holds no runs; re-create it with evalkit run")
    for run in runs:
        run.predictions = _read_predictions(path.parent, run.predictions_file)
        if run.robustness is not None:
            run.corrupted = _read_predictions(path.parent, run.robustness.predictions_file)
    return Results(runs, document["schema_version"], path)


def _read_predictions(folder: Path, name: str | None) -> pd.DataFrame:
    if not name:
        return pd.DataFrame()
    if Path(name).name != name or name in (".", ".."):
        raise EvalkitError(
            f"{folder / RESULTS_FILE}: predictions_file {name!r} is not a file name in the "
            "results folder; re-create the file with evalkit"
        )
    try:
        header = pd.read_csv(folder / name, compression="gzip", nrows=0).columns
        text = TEXT_COLUMNS | {c: str for c in header if str(c).startswith(META_PREFIX)}
        frame = pd.read_csv(folder / name, compression="gzip", keep_default_na=False, dtype=text)
    except Exception as error:  # gzip, zlib, CSV and pandas errors: a damaged file
        raise EvalkitError(f"cannot read predictions file {folder / name}: {error}") from None
    return checked_predictions(restored_frame(frame, text), folder / name)


def checked_predictions(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``frame`` if it has the columns reports and comparisons read, with numbers in them."""
    tops = [c for c in frame.columns if c.startswith("top") and c[3:].isdigit()]
    needed = [PATH, LABEL, TARGET, PREDICTED, *tops, *(prob_column(int(c[3:])) for c in tops)]
    missing = [column for column in needed if column not in frame.columns]
    if missing or not tops:
        raise EvalkitError(
            f"predictions file {path} lacks the column(s) {', '.join(missing) or 'top1'}; "
            "re-create it with evalkit"
        )
    probabilities = [column for column in (P_TRUE, SUM_SQ) if column in frame.columns]
    for column in [*needed[2:], *probabilities]:
        if column == PREDICTED:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            raise EvalkitError(
                f"predictions file {path}: column {column} holds a value that is not a number "
                f"(row {int(values.isna().to_numpy().argmax()) + 1}); re-create it with evalkit"
            )
        real = column.startswith("prob") or column in probabilities
        frame[column] = values.astype(np.float64 if real else np.int64)
    for column in PROPERTIES:  # empty where an image's properties are unknown
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    return frame
