"""evalkit: evaluate pretrained image classifiers correctly, and gate accuracy in CI.

Importing evalkit imports neither torch nor tensorflow; adapters import them when loaded.
"""

from evalkit.api import evaluate, evaluate_many
from evalkit.data.datasets import Dataset, load_dataset
from evalkit.errors import EvalkitError
from evalkit.registry import load_model
from evalkit.results import RunResult, load_results, save_results

__version__ = "0.1.0"

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
