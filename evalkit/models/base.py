"""The interface every model adapter implements."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.naming import did_you_mean
from evalkit.options import DEVICES, PRECISIONS, Execution
from evalkit.preprocess import ImageTransform
from evalkit.results import ModelInfo, Preprocessing, Weights

__all__ = [
    "DEVICES",
    "PRECISIONS",
    "Execution",
    "Inference",
    "ModelAdapter",
    "ModelRequest",
    "choose_device",
    "describe_model",
    "did_you_mean",
    "is_offline",
    "weights_record",
]


def is_offline() -> bool:
    """Whether evalkit may download weights (``EVALKIT_OFFLINE=1`` forbids it)."""
    return os.environ.get("EVALKIT_OFFLINE", "").lower() in {"1", "true", "yes"}


def choose_device(requested: str, accelerator: bool, framework: str) -> str:
    """``auto|cpu|cuda`` → ``cpu`` or ``cuda``, given whether ``framework`` sees a GPU."""
    if requested not in DEVICES:
        raise EvalkitError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    if requested == "cuda" and not accelerator:
        raise EvalkitError(
            f"--device cuda was asked for but {framework} sees no CUDA GPU; use cpu/auto"
        )
    return "cuda" if accelerator and requested != "cpu" else "cpu"


@dataclass(frozen=True)
class ModelRequest:
    """What the registry asks a loader for: the model id and how to run it."""

    id: str  # the full model id, e.g. "torchvision:resnet50@IMAGENET1K_V2"
    name: str  # after the scheme, without the weights tag
    tag: str | None = None  # the @WEIGHTS tag
    device: str = "auto"
    weights_file: Path | None = None
    execution: Execution = field(default_factory=Execution)
    preprocess: str | None = None  # --preprocess for model files: PRESET|timm:NAME|FILE.json


class Inference(Protocol):
    """A framework model behind host-array inputs: what the adapters' ``predict`` runs.

    ``reset`` clears per-run state (device timing events, peak memory), so two runs of one
    adapter are measured alike.
    """

    device: str
    agreement: dict[str, Any]  # top-1 agreement and max |Δp| against eager (other runtimes)

    def to_device(self, batch: np.ndarray) -> Any: ...

    def use_channels_last(self, enabled: bool) -> bool:
        """Switch the memory layout; False when the model has no such choice (NHWC models,
        exported runtimes)."""
        ...

    def forward(self, inputs: Any) -> Any:
        """The bare model call on device inputs (what a raw-forward benchmark times)."""
        ...

    def to_host(self, outputs: Any) -> np.ndarray:
        """Outputs copied to the host (which waits for the device)."""
        ...

    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def parameter_count(self) -> int: ...

    def reset(self) -> None: ...

    def device_stages(self) -> dict[str, float]:
        """Seconds of device-side stages measured with device events (empty without them)."""
        ...

    def runtime(self) -> dict[str, Any]: ...


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
    precisions: ClassVar[tuple[str, ...]]  # what --precision may be (checked before loading)

    inference: Inference  # the model behind ``predict`` (benchmarks time its ``forward``)

    def preprocess(self, image: Image.Image) -> np.ndarray: ...

    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def describe(self) -> ModelInfo:
        """The results file's ``model`` section: id, framework, weights, preprocessing, …"""
        ...

    def runtime(self) -> dict[str, Any]:
        """Device, framework versions, thread counts and peak device memory so far."""
        ...


class TransformThenInfer:
    """What most adapters do: ``preprocess`` through ``self.transform`` (their canonical
    preprocessing), ``predict`` through ``self.inference``."""

    transform: ImageTransform
    inference: Inference

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.transform(image)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.inference.predict(batch)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_record(path: Path | None, source: str, **extra: Any) -> Weights:
    """The ``weights`` entry of a model description: where they came from and their hash."""
    record: dict[str, Any] = {"source": source, **extra}
    if path is not None:
        record |= {"file": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    return Weights(**record)


def describe_model(
    adapter: ModelAdapter, weights: Weights, preprocessing: dict[str, Any], **extra: Any
) -> ModelInfo:
    """The ``model`` section every adapter's ``describe()`` returns."""
    return ModelInfo(
        id=adapter.id,
        framework=adapter.framework,
        weights=weights,
        preprocessing=Preprocessing(**preprocessing),
        label_space=adapter.labels.describe(),
        **extra,
    )
