"""Model ids → adapters, through lazy ``"module:function"`` targets (no framework import here)."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.models.base import Execution, ModelAdapter, ModelRequest

ADAPTERS: dict[str, str] = {
    "torchvision": "evalkit.models.torchvision:TorchvisionAdapter",
    "keras": "evalkit.models.keras:KerasApplicationAdapter",
    "torch-export": "evalkit.models.files:TorchExportAdapter",
    "keras-file": "evalkit.models.files:KerasFileAdapter",
}
NAMED = ("torchvision", "keras")  # schemes whose names may carry an @WEIGHTS tag


@dataclass(frozen=True)
class ModelId:
    scheme: str
    name: str
    tag: str | None = None

    def __str__(self) -> str:
        return f"{self.scheme}:{self.name}" + (f"@{self.tag}" if self.tag else "")


def parse_model_id(text: str) -> ModelId:
    """``scheme:name[@TAG]``; an unknown scheme gets a did-you-mean."""
    scheme, sep, name = text.partition(":")
    if scheme not in ADAPTERS:
        close = difflib.get_close_matches(scheme, ADAPTERS, n=1)
        hint = f"did you mean {close[0]}:{name or '…'}? " if close and sep else ""
        raise EvalkitError(
            f"unknown model id {text!r}: {hint}model ids look like "
            + ", ".join(f"{s}:NAME" for s in ADAPTERS)
        )
    if not name:
        raise EvalkitError(f"model id {text!r} names no model; e.g. torchvision:resnet50")
    tag = None
    if scheme in NAMED and "@" in name:
        name, tag = name.split("@", 1)
    return ModelId(scheme, name, tag)


def _target(scheme: str) -> Any:
    module, _, attr = ADAPTERS[scheme].partition(":")
    return getattr(importlib.import_module(module), attr)


def load_model(
    model: str,
    *,
    device: str = "auto",
    weights: Mapping[str, str | Path] | None = None,
    execution: Execution | None = None,
) -> ModelAdapter:
    """Load an adapter by id; ``weights`` maps model ids to local weights files."""
    model_id = parse_model_id(model)
    weights_file = (weights or {}).get(model) or (weights or {}).get(str(model_id))
    request = ModelRequest(
        id=str(model_id),
        name=model_id.name,
        tag=model_id.tag,
        device=device,
        weights_file=Path(weights_file).expanduser() if weights_file else None,
        execution=execution or Execution(),
    )
    adapter: ModelAdapter = _target(model_id.scheme)(request)
    return adapter
