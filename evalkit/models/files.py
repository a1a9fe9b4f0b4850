"""Model files evaluated by their own framework: ``torch-export:FILE.pt2``,
``keras-file:FILE.keras`` and ``torchscript:FILE.pt``.

A file alone does not say how to preprocess images or what its outputs mean; its card is read
as :mod:`evalkit.models.cards` describes (``--preprocess``, metadata the file carries, or
``FILE.evalkit.json`` beside it).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from evalkit._frameworks import import_tensorflow, import_torch
from evalkit.errors import EvalkitError
from evalkit.models._keras import KerasInference, tf_device
from evalkit.models._torch import TorchInference
from evalkit.models.base import (
    PRECISIONS,
    Inference,
    ModelRequest,
    describe_model,
    weights_record,
)
from evalkit.models.cards import (
    CARD_SUFFIX,
    IMAGENET_SPACES,
    METADATA_KEY,
    ModelCard,
    ModelInput,
    card_path,
    read_card,
    resolve_card,
)
from evalkit.preprocess import ImageTransform
from evalkit.results import ModelInfo

__all__ = [
    "CARD_SUFFIX",
    "IMAGENET_SPACES",
    "FileAdapter",
    "KerasFileAdapter",
    "ModelCard",
    "TorchExportAdapter",
    "TorchScriptAdapter",
    "card_path",
    "detect_outputs",
    "read_card",
]


def detect_outputs(scores: np.ndarray) -> str:
    """``probabilities`` when every row is non-negative and sums to 1 (within int8 rounding),
    else ``logits``."""
    sums = scores.sum(axis=1)
    if scores.min() >= 0 and np.allclose(sums, 1.0, atol=0.02):
        return "probabilities"
    return "logits"


class FileAdapter:
    """A model file with a card: preprocessing, label space and output kind from the card."""

    id: str
    framework: str
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    takes_preprocess: ClassVar[bool] = True
    inference: Inference
    card: ModelCard

    def __init__(self, request: ModelRequest) -> None:
        path = Path(request.name).expanduser()
        if not path.is_file():
            raise EvalkitError(f"model file not found: {path}")
        self.id = request.id
        self.path = path
        self.request = request

    def read_card(
        self, model_input: ModelInput, packed_labels: list[str] | None = None, **sources: Any
    ) -> None:
        """Settle the card (see :mod:`evalkit.models.cards`) and the label space
        (``packed_labels``: class names the file carries). When the file does not say how many
        outputs it has, or the card says ``outputs: auto``, a probe batch of photographs tells
        (and whether the model ends in a softmax)."""
        self.card = resolve_card(
            self.path, model_input, explicit=self.request.preprocess, **sources
        )
        self._check_input(model_input)
        outputs = model_input.num_outputs
        if outputs is None or self.card.outputs == "auto":
            scores = self._raw_scores()
            outputs = scores.shape[1]
            if self.card.outputs == "auto":
                self.outputs_detected = True
                self.card = replace(self.card, outputs=detect_outputs(scores))
        self.inference.outputs = self.card.outputs  # type: ignore[attr-defined]
        named = self.card.classes is not None or outputs in (1000, 1001)
        if not named and packed_labels and len(packed_labels) == outputs:
            self.card = replace(self.card, classes=tuple(packed_labels))
        self.labels = self.card.label_space(outputs)

    def _check_input(self, found: ModelInput) -> None:
        """A card must give the layout and size the file's input shape says (when it does)."""
        if found.size is None:
            return
        transform = self.card.transform
        if transform.layout != found.layout:
            raise EvalkitError(
                f"{self.id}: the preprocessing gives {transform.layout} but the model takes "
                f'{found.layout}; fix "layout" in {self.card.source}'
            )
        if transform.crop != found.size:
            raise EvalkitError(
                f"{self.id}: the preprocessing crops {transform.crop} px but the model takes "
                f'{found.size} px; fix "crop" in {self.card.source}'
            )

    def _raw_scores(self) -> np.ndarray:
        """The model's raw outputs on 4 probe photographs, or why it rejects them."""
        from evalkit.tuning import probe_batch

        batch = probe_batch(self, 4)
        self.inference.outputs = "probabilities"  # type: ignore[attr-defined]  # no softmax
        try:
            scores = self.inference.predict(batch)
        except Exception as error:  # frameworks raise many types for a shape/dtype mismatch
            raise EvalkitError(
                f"{self.id} failed on a probe batch of shape {batch.shape} from its "
                f"preprocessing ({self.card.source}): {type(error).__name__}: "
                f"{str(error).strip()[:200]}; check the input size and layout"
            ) from None
        if scores.ndim != 2 or len(scores) != len(batch):
            raise EvalkitError(
                f"{self.id} returned outputs of shape {scores.shape}; evalkit evaluates "
                "classifiers with one score vector per image"
            )
        return scores

    @property
    def transform(self) -> ImageTransform:
        """The card's preprocessing."""
        return self.card.transform

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.card.transform(image)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.inference.predict(batch)

    def describe(self) -> ModelInfo:
        preprocessing = self.card.transform.describe()
        preprocessing["source"] = self.card.source
        outputs = str(getattr(self.inference, "outputs", self.card.outputs))
        if getattr(self, "outputs_detected", False):
            outputs += " (detected)"
        return describe_model(
            self,
            weights_record(self.path, "file"),
            preprocessing,
            params=self.inference.parameter_count(),
            outputs=outputs,
        )

    def runtime(self) -> dict[str, Any]:
        return self.inference.runtime()


class TorchExportAdapter(FileAdapter):
    framework = "torch"
    id_form = "torch-export:FILE.pt2 (torch.export; card FILE.evalkit.json or --preprocess)"
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS

    def __init__(self, request: ModelRequest) -> None:
        super().__init__(request)
        torch = import_torch()
        try:
            module = torch.export.load(str(self.path)).module()
        except Exception as error:  # torch raises many types for a bad archive
            raise EvalkitError(f"cannot load exported program {self.path}: {error}") from None
        self.inference = TorchInference(module, request.device, "logits", request.execution)
        self.read_card(ModelInput(layout="NCHW"))


class TorchScriptAdapter(FileAdapter):
    """``torchscript:FILE.pt``: ``torch.jit.load``; a card may travel inside the archive as the
    extra file ``evalkit.card``."""

    framework = "torch"
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS
    id_form = "torchscript:FILE.pt (torch.jit.load; card in the archive, beside it or --preprocess)"

    def __init__(self, request: ModelRequest) -> None:
        super().__init__(request)
        torch = import_torch()
        extra = {METADATA_KEY: ""}
        try:
            with warnings.catch_warnings():  # torch.jit is deprecated, still what users have
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra)
        except Exception as error:  # torch raises RuntimeError/ValueError/… for a bad file
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise EvalkitError(f"cannot load TorchScript file {self.path}: {first}") from None
        self.inference = TorchInference(module, request.device, "logits", request.execution)
        embedded = extra[METADATA_KEY]
        text = embedded.decode() if isinstance(embedded, bytes) else embedded
        self.read_card(ModelInput(layout="NCHW"), embedded=text or None)


class KerasFileAdapter(FileAdapter):
    framework = "keras"
    id_form = "keras-file:FILE.keras (card FILE.evalkit.json or --preprocess)"

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
        self.inference = KerasInference(model, placement, "logits", request.execution)
        shape = model.input_shape
        size = shape[1] if len(shape) == 4 and shape[1] == shape[2] else None
        self.read_card(ModelInput("NHWC", size, model.output_shape[-1]))
