"""The interface every model adapter implements."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from evalkit.labels import LabelSpace


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
