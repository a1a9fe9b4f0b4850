"""Model ids → adapters, through lazy ``"module:Class"`` targets (no framework import here).

The public face of the adapters: :func:`parse_model_id`, :func:`adapter_class` and
:func:`load_model`; ``evalkit models`` and ``evalkit bench`` use only these.

Other packages add schemes through the ``evalkit.adapters`` entry-point group: the entry
point's name is the scheme and its value the adapter class (``"package.module:Class"``),
imported only when a model id uses it (docs/plugins.md).
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
from evalkit.schemes import BUILTIN, NAMED, adapters

ADAPTERS = BUILTIN  # the built-in schemes (kept for callers of earlier versions)


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
    known = adapters()
    if scheme not in known:
        hint = did_you_mean(scheme, known, suffix=f":{name or '…'}") if sep else ""
        raise EvalkitError(
            f"unknown model id {text!r}: {hint + ' ' if hint else ''}model ids look like "
            + ", ".join(f"{s}:NAME" for s in known)
        )
    if not name:
        raise EvalkitError(f"model id {text!r} names no model; e.g. torchvision:resnet50")
    tag = None
    if scheme in NAMED and "@" in name:
        name, tag = name.split("@", 1)
    return ModelId(scheme, name, tag)


def adapter_class(scheme: str) -> Any:
    """The adapter class of a model id scheme (imports its module, not its framework)."""
    known = adapters()
    if scheme not in known:
        raise EvalkitError(f"unknown model id scheme {scheme!r}; known: {', '.join(known)}")
    module, _, attr = known[scheme].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as error:
        raise EvalkitError(
            f"model id scheme {scheme!r} points at {known[scheme]}, which cannot be imported "
            f"({error}); reinstall the package that provides it"
        ) from None


def _check_precision(model_id: ModelId, precision: str) -> None:
    """Refuse an unsupported precision before any weights are read."""
    supported = adapter_class(model_id.scheme).precisions
    if precision not in supported:
        raise EvalkitError(
            f"precision {precision} is not supported by {model_id.scheme} models (they run in "
            f"{', '.join(supported)}); use --precision {supported[0]}"
        )


def _preprocess_for(model_id: ModelId, text: str, options: EvalOptions) -> str | None:
    """The ``--preprocess`` of a model file (``ID=SPEC``, else the one given for all); a zoo
    model owns its preprocessing, so naming one is an error."""
    given = options.preprocess_specs
    spec = given.get(text) or given.get(str(model_id))
    takes = getattr(adapter_class(model_id.scheme), "takes_preprocess", False)
    if spec and not takes:
        raise EvalkitError(
            f"--preprocess {model_id}=…: {model_id.scheme} models use their own canonical "
            "preprocessing (recorded in the results); --preprocess is for model files"
        )
    return (spec or given.get("*")) if takes else None


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
        preprocess=_preprocess_for(model_id, model, options),
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
