"""Model files with an evalkit model card: ``torch-export:FILE.pt2`` and ``keras-file:FILE.keras``.

A model file alone does not say how to preprocess images or what its outputs mean, so evalkit
reads both from a card beside it, ``FILE.evalkit.json``::

    {"classes": ["0", "1", ...] | "imagenet-1k" | "imagenet-1k+background",
     "outputs": "logits" | "probabilities",
     "preprocessing": {"crop": 32, "resize": null, "interpolation": "bilinear",
                       "divide_by": 255.0, "mean": [...], "std": [...], "layout": "NCHW"}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from evalkit._frameworks import import_tensorflow, import_torch
from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.models._keras import KerasInference, tf_device
from evalkit.models._torch import TorchInference
from evalkit.models.base import (
    PRECISIONS,
    Inference,
    ModelRequest,
    describe_model,
    weights_record,
)
from evalkit.preprocess import ImageTransform
from evalkit.results import ModelInfo

CARD_SUFFIX = ".evalkit.json"


IMAGENET_SPACES = {"imagenet-1k": False, "imagenet-1k+background": True}


@dataclass(frozen=True)
class ModelCard:
    """``classes``: class names in output order, or the name of an ImageNet label space."""

    classes: tuple[str, ...] | str
    transform: ImageTransform
    outputs: str = "logits"

    def label_space(self) -> LabelSpace:
        if isinstance(self.classes, str):
            return LabelSpace.imagenet1k(background=IMAGENET_SPACES[self.classes])
        return LabelSpace.from_names(self.classes)

    def to_json(self) -> dict[str, Any]:
        spec = {
            k: v for k, v in self.transform.describe().items() if k not in {"resize_mode", "color"}
        }
        classes = self.classes if isinstance(self.classes, str) else list(self.classes)
        return {"classes": classes, "outputs": self.outputs, "preprocessing": spec}

    def save(self, model_file: Path) -> Path:
        path = card_path(model_file)
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path


def card_path(model_file: Path) -> Path:
    return model_file.with_suffix(CARD_SUFFIX)


def read_card(model_file: Path) -> ModelCard:
    path = card_path(model_file)
    if not path.is_file():
        raise EvalkitError(f"model card {path} not found; write one beside the model (see docs)")
    try:
        raw = json.loads(path.read_text())
        spec = raw["preprocessing"]
        transform = ImageTransform(
            **{
                **spec,
                "mean": tuple(spec.get("mean", (0, 0, 0))),
                "std": tuple(spec.get("std", (1, 1, 1))),
            }
        )
        classes = raw["classes"]
        if isinstance(classes, str) and classes not in IMAGENET_SPACES:
            raise ValueError(f"classes must be a list or one of {', '.join(IMAGENET_SPACES)}")
        if raw["outputs"] not in ("logits", "probabilities"):
            raise ValueError("outputs must be 'logits' or 'probabilities'")
        names = classes if isinstance(classes, str) else tuple(str(c) for c in classes)
        return ModelCard(names, transform, raw["outputs"])
    except (ValueError, KeyError, TypeError) as error:
        raise EvalkitError(f"model card {path} is invalid: {error!r}") from None


class _CardAdapter:
    """Common part of the card-described adapters."""

    id: str
    framework: str
    precisions: ClassVar[tuple[str, ...]]
    inference: Inference

    def __init__(self, request: ModelRequest) -> None:
        path = Path(request.name).expanduser()
        if not path.is_file():
            raise EvalkitError(f"model file not found: {path}")
        self.id = request.id
        self.path = path
        self.card = read_card(path)
        self.labels = self.card.label_space()

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.card.transform(image)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.inference.predict(batch)

    def describe(self) -> ModelInfo:
        preprocessing = self.card.transform.describe()
        preprocessing["source"] = str(card_path(self.path))
        return describe_model(
            self,
            weights_record(self.path, "file"),
            preprocessing,
            params=self.inference.parameter_count(),
        )

    def runtime(self) -> dict[str, Any]:
        return self.inference.runtime()


class TorchExportAdapter(_CardAdapter):
    framework = "torch"
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS

    def __init__(self, request: ModelRequest) -> None:
        super().__init__(request)
        torch = import_torch()
        try:
            module = torch.export.load(str(self.path)).module()
        except Exception as error:  # torch raises many types for a bad archive
            raise EvalkitError(f"cannot load exported program {self.path}: {error}") from None
        self.inference = TorchInference(
            module, request.device, self.card.outputs, request.execution
        )


class KerasFileAdapter(_CardAdapter):
    framework = "keras"
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def __init__(self, request: ModelRequest) -> None:
        super().__init__(request)
        tf = import_tensorflow()
        import keras

        placement = tf_device(request.device, request.execution.threads)
        try:
            with tf.device(placement):
                model = keras.saving.load_model(self.path)
        except (ValueError, OSError) as error:
            raise EvalkitError(f"cannot load Keras model {self.path}: {error}") from None
        self.inference = KerasInference(model, placement, self.card.outputs, request.execution)
