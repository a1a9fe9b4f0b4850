"""An evalkit adapter plug-in: ``dominant-color:NAME`` classifies an image as red, green or
blue by its mean colour. It is tiny on purpose: what an adapter must provide is all here.

- the class attributes ``framework`` and ``precisions`` (checked before loading);
- ``__init__(request)``: ``request.id``, ``request.name``, ``request.device``, … (a
  :class:`evalkit.models.base.ModelRequest`); raise :class:`evalkit.errors.EvalkitError` with
  one line for a user error;
- ``labels`` (a :class:`evalkit.labels.LabelSpace`), ``preprocess(image) -> array`` (thread
  safe), ``predict(batch) -> probabilities``, ``describe() -> ModelInfo`` (the preprocessing
  is recorded in the results), ``runtime() -> dict``;
- ``inference``: what evalkit times and tunes (``device``, ``forward``, ``to_device``,
  ``to_host``, ``predict``, ``use_channels_last``, ``parameter_count``, ``reset``,
  ``device_stages``, ``runtime``, ``agreement``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from PIL import Image

from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.models.base import ModelRequest, describe_model, weights_record
from evalkit.preprocess import ImageTransform
from evalkit.results import ModelInfo

CLASSES = ("red", "green", "blue")
SHARPNESS = {"soft": 5.0, "sharp": 50.0}  # the model "names" this scheme knows


class MeanColorInference:
    """The "model": a softmax over the mean of each colour channel."""

    device = "cpu"

    def __init__(self, sharpness: float) -> None:
        self.sharpness = sharpness
        self.agreement: dict[str, Any] = {}

    def to_device(self, batch: np.ndarray) -> np.ndarray:
        return batch

    def use_channels_last(self, enabled: bool) -> bool:
        return False

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        return inputs.mean(axis=(1, 2)) * self.sharpness  # NHWC -> (n, 3) scores

    def to_host(self, outputs: np.ndarray) -> np.ndarray:
        return outputs

    def predict(self, batch: np.ndarray) -> np.ndarray:
        scores = self.forward(batch)
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return result

    def parameter_count(self) -> int:
        return 1

    def reset(self) -> None:
        pass

    def device_stages(self) -> dict[str, float]:
        return {}

    def runtime(self) -> dict[str, Any]:
        return {"device": "cpu", "runtime": "numpy", "numpy": np.__version__}


class DominantColorAdapter:
    framework = "numpy"
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    id_form = "dominant-color:soft|sharp"

    def __init__(self, request: ModelRequest) -> None:
        if request.name not in SHARPNESS:
            raise EvalkitError(f"unknown dominant-color model {request.name!r}; use soft or sharp")
        self.id = request.id
        self.labels = LabelSpace.from_names(CLASSES)
        self.transform = ImageTransform(crop=16, resize=None, layout="NHWC")
        self.inference = MeanColorInference(SHARPNESS[request.name])

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.transform(image)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.inference.predict(batch)

    def describe(self) -> ModelInfo:
        return describe_model(
            self, weights_record(None, "none"), self.transform.describe(), params=1
        )

    def runtime(self) -> dict[str, Any]:
        return self.inference.runtime()
