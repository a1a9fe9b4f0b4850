"""Corrupted variants of a decoded image as model inputs (``--corruptions``; docs/robustness.md).

The reference protocol: resize the image's shorter side to 256 (bilinear), take the 224x224
centre crop, corrupt that crop (:mod:`evalkit.data.corruptions`), save it as a quality-85 JPEG
(``jpeg`` protocol, done in memory here; ``memory`` skips it), and give the model the result
with its own normalization. The crop is taken once per image and shared by all its variants.

How the 224 crop reaches a model:

- every adapter declares its preprocessing as an :class:`~evalkit.preprocess.ImageTransform`
  (torchvision, timm, Keras applications, model files): the crop gets only its pixel scaling and
  normalization (and a Keras application's ``preprocess_input``), after being resized straight
  to the model's input size with its own interpolation when that is not 224 (what evaluating
  the model on the published ImageNet-C files with a plain resize does);
- an adapter without one (a plug-in with only ``preprocess``) is refused: its geometry would
  crop the crop again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from evalkit.corruption_spec import BENCHMARK, IMPLEMENTATION
from evalkit.data.corruptions import corrupt, jpeg_image, sample_seed
from evalkit.errors import EvalkitError
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.plan import Variant
from evalkit.preprocess import ImageTransform
from evalkit.results import Preprocessing

REFERENCE = ImageTransform(crop=224, resize=256, interpolation="bilinear")
ModelInput = Callable[[Image.Image], np.ndarray]


def reference_crop(image: Image.Image) -> np.ndarray:
    """The reference's 224x224 centre crop of the shorter side resized to 256, as uint8."""
    return np.asarray(REFERENCE.geometry(image), dtype=np.uint8)


def crop_input(adapter: ModelAdapter) -> ModelInput:
    """How a corrupted 224 crop becomes the adapter's input: its transform without the resize
    (the crop straight to its input size), then its ``finish`` step if it has one."""
    transform = getattr(adapter, "transform", None)
    if not isinstance(transform, ImageTransform):
        raise EvalkitError(
            f"{adapter.id} does not declare its preprocessing as an ImageTransform (attribute "
            "'transform'), which --corruptions needs to give it the corrupted 224x224 crop; "
            "evaluate corruptions with a built-in adapter or add the attribute"
        )
    direct = dataclasses.replace(transform, resize=None)  # the whole image to the input size
    finish: Callable[[np.ndarray], np.ndarray] | None = getattr(adapter, "finish", None)
    if finish is None:
        return direct
    return lambda image: finish(direct(image))


def crop_geometry(crop: int, interpolation: str) -> str:
    """How the corrupted crop reaches a model of input size ``crop``, in words (recorded)."""
    reference = (
        f"shorter side {REFERENCE.resize} ({REFERENCE.interpolation}), centre crop {REFERENCE.crop}"
    )
    if crop == REFERENCE.crop:
        return f"{reference}, corrupted, then the model's normalization"
    return (
        f"{reference}, corrupted, resized to {crop}x{crop} ({interpolation}), then the model's "
        "normalization"
    )


def corrupted_image(crop: np.ndarray, variant: Variant, source_id: str) -> Image.Image:
    """The crop with ``variant``'s corruption, seeded by the image and the run seed, and (the
    ``jpeg`` protocol) through the reference's JPEG file, as a Pillow image (what a model's
    transform takes)."""
    seed = sample_seed(variant.seed, source_id, variant.corruption, variant.severity)
    pixels = corrupt(crop, variant.corruption, variant.severity, seed)
    return jpeg_image(pixels) if variant.protocol == "jpeg" else Image.fromarray(pixels)


def variant_input(
    to_input: ModelInput, crop: np.ndarray, variant: Variant, source_id: str
) -> np.ndarray:
    """The model input of one corrupted variant."""
    return to_input(corrupted_image(crop, variant, source_id))


def corruption_setup(options: EvalOptions, preprocessing: Preprocessing) -> dict[str, Any]:
    """The ``robustness`` section's descriptive fields for a run with ``--corruptions``."""
    chosen = options.corruption_set
    assert chosen is not None
    return {
        "benchmark": BENCHMARK,
        "corruptions": chosen.spec,
        "severities": list(chosen.severities),
        "protocol": options.corruption_protocol,
        "geometry": crop_geometry(preprocessing.crop, preprocessing.interpolation),
        "seed": options.seed,
        "implementation": IMPLEMENTATION,
        "complete": chosen.complete,
    }
