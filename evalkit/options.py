"""Every option of a run, with its default, in one place: :class:`EvalOptions`.

The CLI and the pytest plugin build one from their own arguments; :func:`evalkit.evaluate`
takes one (or the same names as keywords); the results file records it; and its
:meth:`~EvalOptions.identity` says which runs are the same run (what resuming and caching key
on). Light on purpose (standard library only): the pytest plugin reads its options at start-up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.corruption_spec import PROTOCOLS, STOCHASTIC, CorruptionSet, parse_corruptions
from evalkit.errors import EvalkitError
from evalkit.naming import did_you_mean

if TYPE_CHECKING:
    from evalkit.compare.latency import SlowdownCheck

DEVICES = ("auto", "cpu", "cuda")
FORMATS = ("auto", "imagefolder", "csv", "imagenet-val", "imagenet-v2")
PRECISIONS = ("fp32", "bf16", "fp16")
EXECUTORS = ("local", "ray")
# eager: the framework itself; the others export the model once (cached) and check agreement
RUNTIMES = ("eager", "compile", "onnxruntime", "openvino", "litert")
AUTO = "auto"  # batch size and layout measured by a short probe (evalkit.tuning)
SHARD_SIZE = 256  # images per shard (rounded up to whole batches)

# the accuracy gate's defaults (evalkit compare and the pytest plugin)
MAX_DROP = 0.01  # one accuracy point
ALPHA = 0.01
# what the gate can check (evalkit.compare.checks); top-1 unless told otherwise
GATE_METRICS = ("top1", "top5", "macro_f1", "nll", "ece", "brier", "mce", "per_class")
GATE_DEFAULT = ("top1",)

# options that do not change any prediction (how fast, how verbose, where things are kept)
NOT_IDENTITY = (
    "workers",
    "progress",
    "warmup",
    "out",
    "resume",
    "cache",
    "cache_dir",
    "store_logits",
    "executor",
    "ray_address",
    "ece_bins",  # change metrics, not predictions
    "slice_by",
    "slice_bins",
    "min_slice_size",
)
# options that choose which samples are evaluated
SUBSET = ("format", "labels_file", "limit", "per_class", "seed", "sample")
ECE_BINS = 15  # equal-width bins of the expected calibration error
SAMPLES = ("stratified", "random", "first")  # how --limit N picks its images
LABEL_SUBSETS = ("imagenet-a", "imagenet-r")  # bundled --label-subset class lists
SLICE_BINS = 4  # quantile bins of each image property (quartiles)
MIN_SLICE_SIZE = 30  # images a slice needs to be tested as a weak segment
SEGMENT_FDR = 0.05  # false discovery rate of the weak-segment search (Benjamini-Hochberg)

Pairs = tuple[tuple[str, str], ...]


def _positive(name: str, value: int | None, flag: str | None = None) -> None:
    if value is not None and (isinstance(value, bool) or value <= 0):
        label = flag or name.replace("_", " ")
        raise EvalkitError(f"{label} must be a positive number, got {value}")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise EvalkitError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def batch_size_value(value: int | str) -> int | str:
    """``auto`` or a positive whole number (given as a number or as text)."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise EvalkitError(
            f"batch size must be 'auto' or a positive number, got {value!r}"
        ) from None
    _positive("batch_size", number)
    return number


def layout_value(value: bool | str) -> bool | str:
    """``auto``, or whether torch models run channels-last (``on``/``off`` as text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    named: dict[str, bool | str] = {
        AUTO: AUTO,
        "on": True,
        "true": True,
        "off": False,
        "false": False,
    }
    if text not in named:
        raise EvalkitError(f"channels_last must be auto, on or off, got {value!r}")
    return named[text]


@dataclass(frozen=True)
class Execution:
    """How a model runs, besides its device: numeric precision, memory layout, CPU threads and
    runtime.

    ``precision`` other than fp32 uses autocast (torch models only); ``channels_last`` stores
    torch activations NHWC (``auto``: whichever a short probe finds faster); ``threads`` sets
    the framework's intra-op threads (None: its default); ``runtime`` runs the model in the
    framework (``eager``) or exported to a faster one. All of it is recorded in the results'
    runtime section.
    """

    precision: str = "fp32"
    channels_last: bool | str = AUTO
    threads: int | None = None
    runtime: str = "eager"

    def __post_init__(self) -> None:
        _choice("precision", self.precision, PRECISIONS)
        _positive("threads", self.threads)
        _choice("runtime", self.runtime, RUNTIMES)
        object.__setattr__(self, "channels_last", layout_value(self.channels_last))


SLICE_GATE = "slice:"  # ``slice:COLUMN``: the top-1 test within each slice of a column


def slice_gate_column(metric: str) -> str | None:
    """The column of a ``slice:COLUMN`` gate metric (None for other metrics)."""
    return metric[len(SLICE_GATE) :] if metric.startswith(SLICE_GATE) else None


def gate_metrics(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """``top1,top5,per_class,slice:camera`` as a tuple of metric names (each once, in order)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))
    for name in names:
        if name == SLICE_GATE:
            raise EvalkitError("gate metric slice: needs a column: slice:COLUMN (slice:camera)")
        if name not in GATE_METRICS and slice_gate_column(name) is None:
            hint = did_you_mean(name, GATE_METRICS)
            raise EvalkitError(
                f"unknown gate metric {name!r}{'; ' + hint if hint else ''} (metrics: "
                f"{', '.join(GATE_METRICS)}, slice:COLUMN)"
            )
    if not names:
        raise EvalkitError(f"the gate needs a metric; choose from {', '.join(GATE_METRICS)}")
    return names


def weights_pair(text: str) -> tuple[str, str]:
    """``MODEL_ID=FILE`` (the ``--weights`` syntax) as a pair; ``ValueError`` when malformed."""
    model, sep, path = text.rpartition("=")
    if not sep or not model or not path:
        raise ValueError(f"expected MODEL_ID=FILE, got {text!r}")
    return model, path


def preprocess_pair(text: str) -> tuple[str, str]:
    """``[MODEL_ID=]SPEC`` (the ``--preprocess`` syntax): without an id, for every model file."""
    model, sep, spec = text.partition("=")
    if not sep:
        model, spec = "*", text
    if not model or not spec:
        raise ValueError(f"expected [MODEL_ID=]PRESET|FILE.json, got {text!r}")
    return model, spec


def _pairs(value: Mapping[str, str | Path] | Pairs | None) -> Pairs:
    items = value.items() if isinstance(value, Mapping) else (value or ())
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate: data subset, batching, device, weights, label mapping, execution.

    ``weights`` maps model ids to local weights files, ``preprocess`` model-file ids (or
    ``"*"``, all of them) to a preset or JSON file, and ``class_map`` is a CSV file or a
    mapping of dataset labels to model labels; both are stored as sorted pairs, so options
    compare and hash by value.
    """

    batch_size: int | str = AUTO
    device: str = "auto"
    format: str = "auto"
    labels_file: Path | None = None
    limit: int | None = None
    per_class: int | None = None
    seed: int = 0
    sample: str = "stratified"  # how ``limit`` picks images: stratified, random or first
    weights: Pairs = ()
    preprocess: Pairs = ()  # model files: model id (or "*") -> PRESET|timm:NAME|FILE.json
    class_map: Path | Pairs | None = None
    label_subset: str | None = None  # imagenet-a, imagenet-r or a class-list file
    ece_bins: int = ECE_BINS
    exif_transpose: bool = False  # turn images upright by their EXIF orientation
    slice_by: tuple[str, ...] = ()  # manifest columns to slice by (image properties always)
    slice_bins: int = SLICE_BINS
    min_slice_size: int = MIN_SLICE_SIZE
    corruptions: str | None = None  # imagenet-c[:SEVERITIES]: corrupted variants of each image
    corruption_protocol: str = "jpeg"  # jpeg (the reference's saved files) or memory
    strict: bool = False
    warmup: int = 1
    workers: int | None = None
    progress: bool = False
    precision: str = "fp32"
    channels_last: bool | str = AUTO
    threads: int | None = None
    runtime: str = "eager"
    shard_size: int = SHARD_SIZE
    out: Path | None = None  # the run folder: its prediction store is what --resume continues
    resume: bool = False
    cache: bool = True
    cache_dir: Path | None = None  # default: $EVALKIT_CACHE or ~/.cache/evalkit
    store_logits: bool = False
    executor: str = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalising a frozen dataclass's inputs
        set_(self, "weights", _pairs(self.weights))
        if isinstance(self.preprocess, str):
            set_(self, "preprocess", (preprocess_pair(self.preprocess),))
        set_(self, "preprocess", _pairs(self.preprocess))
        set_(self, "batch_size", batch_size_value(self.batch_size))
        set_(self, "channels_last", layout_value(self.channels_last))
        set_(self, "slice_by", slice_columns(self.slice_by))
        if self.corruptions is not None:
            set_(self, "corruptions", parse_corruptions(self.corruptions).spec)
        for name in ("labels_file", "out", "cache_dir"):
            if getattr(self, name) is not None:
                set_(self, name, Path(getattr(self, name)))
        if isinstance(self.class_map, str | Path):
            set_(self, "class_map", Path(self.class_map))
        elif self.class_map is not None:
            set_(self, "class_map", _pairs(self.class_map))
        self._validate()

    def _validate(self) -> None:
        _positive("limit", self.limit, "--limit")
        _positive("per_class", self.per_class, "--per-class")
        _positive("workers", self.workers)
        if self.warmup < 0:
            raise EvalkitError(f"warm-up batches must be 0 or more, got {self.warmup}")
        _choice("device", self.device, DEVICES)
        _choice("data format", self.format, FORMATS)
        _choice("--sample", self.sample, SAMPLES)
        _choice("executor", self.executor, EXECUTORS)
        _positive("shard_size", self.shard_size, "--shard-size")
        _positive("ece_bins", self.ece_bins, "--ece-bins")
        _positive("slice_bins", self.slice_bins, "--slice-bins")
        _positive("min_slice_size", self.min_slice_size, "--min-slice-size")
        _choice("--corruption-protocol", self.corruption_protocol, PROTOCOLS)
        if self.resume and self.out is None:
            raise EvalkitError("resume needs the run folder to continue: pass --out DIR")
        Execution(self.precision, self.channels_last, self.threads, self.runtime)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> EvalOptions:
        """A copy with ``changes``; an unknown name is an error with a did-you-mean."""
        unknown = [name for name in changes if name not in self.names()]
        if unknown:
            hint = did_you_mean(unknown[0], self.names(), prefix="'", suffix="'")
            hint = f"; {hint}" if hint else ""
            known = ", ".join(self.names())
            raise EvalkitError(f"unknown evaluation option {unknown[0]!r}{hint} (options: {known})")
        return dataclasses.replace(self, **changes)

    @property
    def execution(self) -> Execution:
        return Execution(self.precision, self.channels_last, self.threads, self.runtime)

    @property
    def images_per_shard(self) -> int:
        """``shard_size`` rounded up to whole batches (as given with ``batch_size`` auto: the
        probe's candidate sizes divide the default)."""
        if not isinstance(self.batch_size, int):
            return self.shard_size
        return -(-self.shard_size // self.batch_size) * self.batch_size

    @property
    def cache_root(self) -> Path:
        """Where cached predictions live: ``cache_dir``, ``$EVALKIT_CACHE`` or ~/.cache/evalkit."""
        if self.cache_dir is not None:
            return self.cache_dir.expanduser()
        return Path(
            os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit")
        ).expanduser()

    @property
    def corruption_set(self) -> CorruptionSet | None:
        """What ``corruptions`` evaluates (None: no corrupted variants)."""
        return None if self.corruptions is None else parse_corruptions(self.corruptions)

    @property
    def weights_files(self) -> dict[str, str]:
        return dict(self.weights)

    @property
    def preprocess_specs(self) -> dict[str, str]:
        return dict(self.preprocess)

    @property
    def label_map(self) -> Path | dict[str, str] | None:
        """``class_map`` as a file or a mapping."""
        return dict(self.class_map) if isinstance(self.class_map, tuple) else self.class_map

    def changed(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The options (of ``names``) that differ from their defaults."""
        default = EvalOptions()
        return {
            name: getattr(self, name)
            for name in names or self.names()
            if getattr(self, name) != getattr(default, name)
        }

    def record(self) -> dict[str, Any]:
        """Every option as JSON values (what the results file records)."""
        record = {name: _jsonable(getattr(self, name)) for name in self.names()}
        return record | {"slice_by": list(self.slice_by)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> EvalOptions:
        """The options a results file recorded (names this version does not know are ignored)."""
        return cls(**{name: record[name] for name in cls.names() if name in record})

    def identity(self) -> dict[str, Any]:
        """The options that decide a run's predictions (not speed or verbosity); the seed only
        counts when it draws a sample or seeds a corruption, and ``sample`` only with a
        ``limit``."""
        chosen = {k: v for k, v in self.record().items() if k not in NOT_IDENTITY}
        if self.limit is None:
            chosen.pop("sample")
        if not self.exif_transpose:  # runs before the option existed are the same run
            chosen.pop("exif_transpose")
        corrupted = self.corruption_set
        if corrupted is None:  # nor the corruption options
            chosen.pop("corruptions")
            chosen.pop("corruption_protocol")
        seeded = corrupted is not None and bool(STOCHASTIC & set(corrupted.corruptions))
        if self.per_class is None and (self.limit is None or self.sample == "first") and not seeded:
            chosen.pop("seed")
        return chosen

    def key(self) -> str:
        """A short stable hash of :meth:`identity`."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple) and all(isinstance(v, tuple) for v in value):
        return {k: v for k, v in value}  # pairs
    return list(value) if isinstance(value, tuple) else value


def slice_columns(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``--slice-by`` values (repeated, or comma-separated) as a tuple of column names."""
    parts = [value] if isinstance(value, str) else list(value)
    names = [name.strip() for part in parts for name in str(part).split(",")]
    if parts and not any(names):  # --slice-by "" (an unset shell variable, say)
        raise EvalkitError(
            f"--slice-by: no column name in {', '.join(map(repr, parts))}; give a CSV manifest "
            "column (docs/slices.md)"
        )
    return tuple(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True)
class GateOptions:
    """The pytest gate's settings: where baselines and reports live, what counts as a
    regression, and the session's default evaluation options (``--evalkit-*``)."""

    baseline_dir: Path | None = None
    save_baseline: bool = False
    report_dir: Path | None = None
    max_drop: float = MAX_DROP
    alpha: float = ALPHA
    metrics: tuple[str, ...] = GATE_DEFAULT  # what a regression is checked on
    timing: tuple[SlowdownCheck, ...] = ()  # opt-in latency checks
    mlflow: bool = False  # log the session's runs to MLflow at the end
    data: Path | None = None
    defaults: EvalOptions = field(default_factory=EvalOptions)
