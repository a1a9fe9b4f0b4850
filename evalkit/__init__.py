"""evalkit: evaluate pretrained image classifiers correctly, and gate accuracy in CI.

Importing evalkit imports neither torch nor tensorflow (adapters import them when loaded), and
the public names below are imported on first use, so ``import evalkit`` and the pytest plugin
stay cheap for test sessions that never evaluate a model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evalkit.errors import EvalkitError

if TYPE_CHECKING:
    from evalkit.api import evaluate, evaluate_many
    from evalkit.data.datasets import Dataset, load_dataset
    from evalkit.registry import load_model
    from evalkit.results import RunResult, load_results, save_results

__version__ = "0.1.0"

_LAZY = {
    "evaluate": "evalkit.api",
    "evaluate_many": "evalkit.api",
    "Dataset": "evalkit.data.datasets",
    "load_dataset": "evalkit.data.datasets",
    "load_model": "evalkit.registry",
    "RunResult": "evalkit.results",
    "load_results": "evalkit.results",
    "save_results": "evalkit.results",
}

__all__ = [
    "Dataset",
    "EvalkitError",
    "RunResult",
    "__version__",
    "evaluate",
    "evaluate_many",
    "load_dataset",
    "load_model",
    "load_results",
    "save_results",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
