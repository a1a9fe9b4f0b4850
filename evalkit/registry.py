"""Model ids → adapters, through lazy ``"module:Class"`` targets (no framework import here).

The public face of the adapters: :func:`parse_model_id`, :func:`adapter_class` and
:func:`load_model`; ``evalkit models`` and ``evalkit bench`` use only these.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.models.base import ModelAdapter, ModelRequest, did_you_mean
from evalkit.models.runtimes import accelerate, check_runtime
from evalkit.options import EvalOptions

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
        hint = did_you_mean(scheme, ADAPTERS, suffix=f":{name or '…'}") if sep else ""
        raise EvalkitError(
            f"unknown model id {text!r}: {hint + ' ' if hint else ''}model ids look like "
            + ", ".join(f"{s}:NAME" for s in ADAPTERS)
        )
    if not name:
        raise EvalkitError(f"model id {text!r} names no model; e.g. torchvision:resnet50")
    tag = None
    if scheme in NAMED and "@" in name:
        name, tag = name.split("@", 1)
    return ModelId(scheme, name, tag)


def adapter_class(scheme: str) -> Any:
    """The adapter class of a model id scheme (imports its module, not its framework)."""
    if scheme not in ADAPTERS:
        raise EvalkitError(f"unknown model id scheme {scheme!r}; known: {', '.join(ADAPTERS)}")
    module, _, attr = ADAPTERS[scheme].partition(":")
    return getattr(importlib.import_module(module), attr)


def _check_precision(model_id: ModelId, precision: str) -> None:
    """Refuse an unsupported precision before any weights are read."""
    supported = adapter_class(model_id.scheme).precisions
    if precision not in supported:
        raise EvalkitError(
            f"precision {precision} is not supported by {model_id.scheme} models (they run in "
            f"{', '.join(supported)}); use --precision {supported[0]}"
        )


def load_model(model: str, options: EvalOptions | None = None, **overrides: Any) -> ModelAdapter:
    """Load an adapter by id with ``options`` (or keywords: ``device``, ``weights`` mapping model
    ids to local weights files, ``precision``, ``channels_last``, ``threads``, ``runtime``)."""
    options = (options or EvalOptions()).replace(**overrides)
    model_id = parse_model_id(model)
    _check_precision(model_id, options.precision)
    check_runtime(str(model_id), adapter_class(model_id.scheme).framework, options.runtime)
    files = options.weights_files
    weights_file = files.get(model) or files.get(str(model_id))
    request = ModelRequest(
        id=str(model_id),
        name=model_id.name,
        tag=model_id.tag,
        device=options.device,
        weights_file=Path(weights_file).expanduser() if weights_file else None,
        execution=options.execution,
    )
    adapter: ModelAdapter = adapter_class(model_id.scheme)(request)
    accelerate(adapter, options.runtime, options.cache_root)
    return adapter
