"""evalkit: evaluate pretrained image classifiers correctly, and gate accuracy in CI.

Importing evalkit imports neither torch nor tensorflow (adapters import them when loaded), and
the public names below are imported on first use, so ``import evalkit`` and the pytest plugin
stay cheap for test sessions that never evaluate a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalkit._lazy import lazy_exports
from evalkit.errors import EvalkitError

if TYPE_CHECKING:
    from evalkit.api import evaluate, evaluate_many
    from evalkit.compare.baselines import compare_runs
    from evalkit.data.datasets import Dataset, load_dataset
    from evalkit.options import EvalOptions
    from evalkit.pytest_plugin import EvalkitFixture
    from evalkit.registry import load_model
    from evalkit.results import Results, RunResult, load_results, save_results
    from evalkit.scoring import rescore
    from evalkit.tracking import log_mlflow

__version__ = "0.6.8"

_LAZY = {
    "evaluate": "evalkit.api",
    "evaluate_many": "evalkit.api",
    "compare_runs": "evalkit.compare.baselines",
    "Dataset": "evalkit.data.datasets",
    "load_dataset": "evalkit.data.datasets",
    "EvalOptions": "evalkit.options",
    "EvalkitFixture": "evalkit.pytest_plugin",
    "load_model": "evalkit.registry",
    "Results": "evalkit.results",
    "RunResult": "evalkit.results",
    "load_results": "evalkit.results",
    "save_results": "evalkit.results",
    "rescore": "evalkit.scoring",
    "log_mlflow": "evalkit.tracking",
}

__all__ = [
    "Dataset",
    "EvalOptions",
    "EvalkitError",
    "EvalkitFixture",
    "Results",
    "RunResult",
    "__version__",
    "compare_runs",
    "evaluate",
    "evaluate_many",
    "load_dataset",
    "load_model",
    "load_results",
    "log_mlflow",
    "rescore",
    "save_results",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())
