"""The interface every model adapter implements."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Execution:
    """How a model runs, besides its device: numeric precision, memory layout, CPU threads.

    ``precision`` other than fp32 uses autocast (torch models only); ``channels_last`` stores
    torch activations NHWC; ``threads`` sets the framework's intra-op threads (None: its
    default). All of it is recorded in the results' runtime section.
    """

    precision: str = "fp32"
    channels_last: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise EvalkitError(
                f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if self.threads is not None and self.threads <= 0:
            raise EvalkitError(f"threads must be a positive number, got {self.threads}")


@dataclass(frozen=True)
class ModelRequest:
    """What the registry asks a loader for: the model id and how to run it."""

    id: str  # the full model id, e.g. "torchvision:resnet50@IMAGENET1K_V2"
    name: str  # after the scheme, without the weights tag
    tag: str | None = None  # the @WEIGHTS tag
    device: str = "auto"
    weights_file: Path | None = None
    execution: Execution = Execution()


@runtime_checkable
class ModelAdapter(Protocol):
    """A loaded model, ready to evaluate.

    ``preprocess`` turns one decoded RGB image into the model's input array (it is called from
    worker threads, so it must be thread-safe); ``predict`` turns a stacked batch of those into
    class probabilities of shape ``(n, labels.num_outputs)`` as a host NumPy array (which also
    means any device work has finished).
    """

    id: str
    framework: str
    labels: LabelSpace

    def preprocess(self, image: Image.Image) -> np.ndarray: ...

    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]:
        """The results file's ``model`` section: id, framework, weights, preprocessing, …"""
        ...

    def runtime(self) -> dict[str, Any]:
        """Device, framework versions, thread counts and peak device memory so far."""
        ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_record(path: Path | None, source: str, **extra: Any) -> dict[str, Any]:
    """The ``weights`` entry of a model description: where they came from and their hash."""
    record: dict[str, Any] = {"source": source, **extra}
    if path is not None:
        record |= {"file": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    return record


def describe_model(
    adapter: ModelAdapter, weights: dict[str, Any], preprocessing: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """The ``model`` section every adapter's ``describe()`` returns."""
    return {
        "id": adapter.id,
        "framework": adapter.framework,
        "weights": weights,
        "preprocessing": preprocessing,
        "label_space": adapter.labels.describe(),
        **extra,
    }
