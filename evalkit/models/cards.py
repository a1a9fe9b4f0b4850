"""What a model file cannot say by itself: its preprocessing, its classes and its output kind.

A wrong guess at preprocessing costs accuracy points without any error, so evalkit never
guesses. A model file's *card* is read from the first of:

1. ``--preprocess PRESET|timm:NAME|FILE.json`` (the user's explicit choice);
2. the card evalkit writes into the file's own metadata (``evalkit export``): ONNX
   ``metadata_props``, TFLite metadata, OpenVINO ``rt_info``, TorchScript extra files, all
   under the key :data:`METADATA_KEY`;
3. a card file beside the model, ``FILE.evalkit.json``;
4. the format's standard metadata (TFLite ``NormalizationOptions``);

and without any of them the model is refused with a message listing the presets. A card::

    {"classes": ["0", "1", ...] | "imagenet-1k" | "imagenet-1k+background",   (optional)
     "outputs": "logits" | "probabilities" | "auto",                          (optional)
     "preprocessing": {"crop": 224, "resize": 256, "interpolation": "bilinear",
                       "divide_by": 255.0, "mean": [...], "std": [...],
                       "layout": "NCHW", "channels": "RGB"}}

A bare preprocessing object is accepted too. Without classes, a model with 1,000 outputs is
ImageNet-1k and one with 1,001 is ImageNet-1k with a background class at output 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.preprocess import (
    ALIASES,
    PRESETS,
    ImageTransform,
    preset_names,
    preset_transform,
    transform_from_spec,
)

CARD_SUFFIX = ".evalkit.json"
METADATA_KEY = "evalkit.card"
IMAGENET_SPACES = {"imagenet-1k": False, "imagenet-1k+background": True}
OUTPUTS = ("logits", "probabilities", "auto")


@dataclass(frozen=True)
class ModelInput:
    """What a model file says about its image input and its outputs."""

    layout: str = "NCHW"  # where the 3 colour channels are
    size: int | None = None  # a fixed square input size
    num_outputs: int | None = None  # a fixed number of outputs


@dataclass(frozen=True)
class ModelCard:
    """``classes``: class names in output order, an ImageNet label space's name, or None (from
    the number of outputs). ``source`` says where the card was read from."""

    classes: tuple[str, ...] | str | None
    transform: ImageTransform
    outputs: str = "logits"
    source: str = ""

    def label_space(self, num_outputs: int | None = None) -> LabelSpace:
        if isinstance(self.classes, str):
            return LabelSpace.imagenet1k(background=IMAGENET_SPACES[self.classes])
        if self.classes is not None:
            return LabelSpace.from_names(self.classes)
        if num_outputs in (1000, 1001):
            return LabelSpace.imagenet1k(background=num_outputs == 1001)
        raise EvalkitError(
            f"the model has {num_outputs or 'an unknown number of'} outputs and its card "
            f'({self.source or "none"}) lists no classes; add "classes": [...] to the card'
        )

    def to_json(self) -> dict[str, Any]:
        classes = self.classes if not isinstance(self.classes, tuple) else list(self.classes)
        card: dict[str, Any] = {"outputs": self.outputs, "preprocessing": self.transform.spec()}
        if classes is not None:
            card["classes"] = classes
        return card

    def save(self, model_file: Path) -> Path:
        path = card_path(model_file)
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path


def card_path(model_file: Path) -> Path:
    return model_file.with_suffix(CARD_SUFFIX)


def parse_card(raw: Any, model_input: ModelInput, source: str) -> ModelCard:
    """A card (or a bare preprocessing object) from JSON; one-line error when it is invalid."""
    try:
        if not isinstance(raw, Mapping):
            raise ValueError("expected a JSON object")
        spec = raw.get("preprocessing", raw)
        if spec is raw:  # a bare preprocessing object
            raw = {}
        transform = transform_from_spec(spec, model_input.size, model_input.layout)
        return ModelCard(
            _classes(raw.get("classes")), transform, _outputs(raw.get("outputs")), source
        )
    except (ValueError, TypeError) as error:
        raise EvalkitError(f"model card {source} is invalid: {error}") from None


def _classes(classes: Any) -> tuple[str, ...] | str | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        if classes not in IMAGENET_SPACES:
            raise ValueError(f"classes must be a list or one of {', '.join(IMAGENET_SPACES)}")
        return classes
    if not isinstance(classes, list) or not classes:
        raise ValueError("classes must be a non-empty list of names")
    return tuple(str(c) for c in classes)


def _outputs(outputs: Any) -> str:
    if outputs is None:
        return "auto"
    if outputs not in OUTPUTS:
        raise ValueError(f"outputs must be one of {', '.join(OUTPUTS)}")
    return str(outputs)


def read_card(model_file: Path, model_input: ModelInput | None = None) -> ModelCard:
    """The card file beside ``model_file`` (an error when there is none)."""
    path = card_path(model_file)
    if not path.is_file():
        raise EvalkitError(f"model card {path} not found; write one beside the model (see docs)")
    return parse_card(_load_json(path), model_input or ModelInput(), str(path))


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvalkitError(f"cannot read {path} as JSON: {error}") from None


def explicit_card(spec: str, model_input: ModelInput) -> ModelCard:
    """``--preprocess PRESET|timm:NAME|FILE.json`` as a card."""
    name = ALIASES.get(spec, spec)
    if name in PRESETS:
        size = model_input.size or 224
        transform = preset_transform(name, size, model_input.layout)
        size_note = "the model's input size" if model_input.size else "default size 224"
        return ModelCard(None, transform, "auto", f"--preprocess {spec} ({size_note})")
    if spec.startswith("timm:"):
        from evalkit.models.timm import timm_transform

        transform = timm_transform(spec.removeprefix("timm:"), model_input.layout)
        return ModelCard(None, transform, "auto", f"--preprocess {spec} (timm pretrained config)")
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".json" and path.is_file():
        return parse_card(_load_json(path), model_input, str(path))
    raise EvalkitError(
        f"--preprocess {spec}: not a preset nor a JSON file; presets: {', '.join(preset_names())}"
    )


def resolve_card(
    model_file: Path,
    model_input: ModelInput,
    *,
    explicit: str | None = None,
    embedded: str | None = None,
    normalization: Mapping[str, Any] | None = None,
) -> ModelCard:
    """The card of a model file from the first source that has one (see the module doc)."""
    if explicit:
        return explicit_card(explicit, model_input)
    if embedded:
        try:
            raw = json.loads(embedded)
        except json.JSONDecodeError as error:
            raise EvalkitError(
                f"{model_file}: its {METADATA_KEY} metadata is invalid: {error}"
            ) from None
        return parse_card(raw, model_input, f"{model_file} metadata ({METADATA_KEY})")
    if card_path(model_file).is_file():
        return read_card(model_file, model_input)
    if normalization is not None and model_input.size:
        card = parse_card(dict(normalization), model_input, f"{model_file} metadata")
        return replace(
            card,
            source=f"{model_file} TFLite metadata (normalization; geometry "
            f"by the ImageNet convention)",
        )
    raise EvalkitError(
        f"{model_file} says nothing about its preprocessing; pass --preprocess PRESET|FILE.json "
        f"(presets: {', '.join(preset_names())}) or write {card_path(model_file).name} beside it"
    )
