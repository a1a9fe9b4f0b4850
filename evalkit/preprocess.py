"""Resize / center-crop / scale / normalize, spelled out as data and applied with Pillow+NumPy.

The geometry follows torchvision's ``ImageClassification`` transform exactly (shorter side
resized to ``resize`` with the long side truncated, then a center crop with torchvision's
rounding), so a preprocessing recorded from a torchvision weights entry can be reproduced by
any adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from PIL import Image

INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


def resize_shorter(image: Image.Image, size: int, interpolation: str) -> Image.Image:
    """Resize the shorter side to ``size``; the long side is truncated, as torchvision does."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_short, new_long = size, int(size * long / short)
    new_size = (new_short, new_long) if width <= height else (new_long, new_short)
    if new_size == image.size:
        return image
    return image.resize(new_size, INTERPOLATION[interpolation])


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Square center crop with torchvision's rounding (the image must be at least ``size``)."""
    width, height = image.size
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


@dataclass(frozen=True)
class ImageTransform:
    """An evaluation transform: RGB image → float32 array for one model.

    ``resize`` is the shorter side before the square ``crop``; ``resize=None`` resizes the whole
    image straight to ``crop`` x ``crop``. Pixel values become ``(x / divide_by - mean) / std``
    (the same float32 operations as torchvision, so results match it bit for bit).
    """

    crop: int
    resize: int | None = None
    interpolation: str = "bilinear"
    divide_by: float = 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    channels: Literal["RGB", "BGR"] = "RGB"  # the order of the model's input channels

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATION:
            choices = ", ".join(INTERPOLATION)
            raise ValueError(f"unknown interpolation {self.interpolation!r}; choose {choices}")
        if self.layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout must be NCHW or NHWC, got {self.layout!r}")
        if self.channels not in ("RGB", "BGR"):
            raise ValueError(f"channels must be RGB or BGR, got {self.channels!r}")
        if self.crop <= 0 or (self.resize is not None and self.resize < self.crop):
            raise ValueError(f"crop {self.crop} must be positive and at most resize {self.resize}")

    def geometry(self, image: Image.Image) -> Image.Image:
        if self.resize is None:
            return image.resize((self.crop, self.crop), INTERPOLATION[self.interpolation])
        resized = resize_shorter(image, self.resize, self.interpolation)
        return center_crop(resized, self.crop)

    def __call__(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(self.geometry(image))
        if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3:
            return self._looked_up(pixels)
        pixels = pixels.astype(np.float32)
        if self.channels == "BGR":
            pixels = pixels[..., ::-1]
        array = _scaled(pixels, self.divide_by, self.mean, self.std)
        return np.ascontiguousarray(array.transpose(2, 0, 1) if self.layout == "NCHW" else array)

    def _looked_up(self, pixels: np.ndarray) -> np.ndarray:
        """8-bit RGB pixels normalized through a table of the 256 levels per channel, computed
        with the formula's own float32 operations (so the values are the same, bit for bit) and
        written straight in the output layout: a 224x224 crop in about a fifth of the time."""
        mean, std = tuple(map(float, self.mean)), tuple(map(float, self.std))  # hashable
        table = _level_table(float(self.divide_by), mean, std)
        sources = (2, 1, 0) if self.channels == "BGR" else (0, 1, 2)
        height, width = pixels.shape[:2]
        nchw = self.layout == "NCHW"
        out = np.empty((3, height, width) if nchw else (height, width, 3), np.float32)
        for channel, source in enumerate(sources):
            target = out[channel] if nchw else out[..., channel]
            np.take(table[channel], pixels[..., source], out=target, mode="clip")
        return out

    def describe(self) -> dict[str, object]:
        spec = asdict(self)
        spec["resize_mode"] = "full image" if self.resize is None else "shorter side"
        spec["color"] = spec.pop("channels")
        return spec

    def spec(self) -> dict[str, Any]:
        """The fields as JSON values (what a model card or ``--preprocess FILE.json`` holds)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@lru_cache(maxsize=64)
def _level_table(divide_by: float, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(level / divide_by - mean) / std`` in float32 for each channel and each of the 256
    levels, shape (3, 256): :func:`_scaled` of each level."""
    levels = np.arange(256, dtype=np.float32)[:, None]
    table = np.ascontiguousarray(_scaled(levels, divide_by, mean, std).T)
    table.flags.writeable = False
    return table


def _scaled(
    values: np.ndarray, divide_by: float, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """``(values / divide_by - mean) / std`` in float32, the channels on the last axis (the
    same float32 operations as torchvision's ``ToTensor`` and ``Normalize``)."""
    means, stds = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    scaled: np.ndarray = (values / np.float32(divide_by) - means) / stds
    return scaled


CROP_FRACTION = 0.875  # crop / resize of the ImageNet evaluation convention (224 of 256)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Named preprocessings for model files, after their origin: pixel scaling and normalisation.
# The geometry is the ImageNet convention (shorter side to size/0.875, bilinear, centre crop)
# at the model's own input size.
PRESETS: dict[str, dict[str, Any]] = {
    "torchvision": {
        "about": "torchvision ImageNet weights: [0,1], ImageNet mean/std",
        "divide_by": 255.0,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    },
    "keras-tf": {
        "about": "Keras mode 'tf' (MobileNet, Inception, Xception): [-1,1]",
        "divide_by": 127.5,
        "mean": (1.0, 1.0, 1.0),
    },
    "caffe": {
        "about": "Caffe / Keras mode 'caffe' (ResNet50, VGG): BGR minus the ImageNet mean",
        "divide_by": 1.0,
        "mean": (103.939, 116.779, 123.68),
        "channels": "BGR",
    },
    "unit": {"about": "[0,1], no normalisation", "divide_by": 255.0},
    "raw": {"about": "[0,255] (models that rescale inside)", "divide_by": 1.0},
}
ALIASES = {"keras-mobilenet": "keras-tf", "keras-inception": "keras-tf", "imagenet": "torchvision"}


def preset_names() -> list[str]:
    return [*PRESETS, *ALIASES, "timm:NAME"]


def preset_transform(name: str, size: int, layout: str) -> ImageTransform:
    """A named preset at input ``size`` (square) in ``layout``."""
    preset = {k: v for k, v in PRESETS[ALIASES.get(name, name)].items() if k != "about"}
    return ImageTransform(
        crop=size,
        resize=round(size / CROP_FRACTION),
        layout="NHWC" if layout == "NHWC" else "NCHW",
        **preset,
    )


def transform_from_spec(spec: Mapping[str, Any], size: int | None, layout: str) -> ImageTransform:
    """An :class:`ImageTransform` from JSON fields; ``crop`` defaults to the model's input size,
    ``resize`` to the ImageNet convention and ``layout`` to the model's."""
    known = {f.name for f in fields(ImageTransform)}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown preprocessing fields {unknown}; known: {sorted(known)}")
    values = dict(spec)
    if "crop" not in values:
        if size is None:
            raise ValueError("'crop' is needed: the model's input size is not fixed")
        values["crop"] = size
    values.setdefault("resize", round(int(values["crop"]) / CROP_FRACTION))
    values.setdefault("layout", layout)
    for key in ("mean", "std"):
        if key in values:
            values[key] = _three(values[key], key)
    return ImageTransform(**values)


def _three(value: Any, name: str) -> tuple[float, float, float]:
    items = [float(v) for v in (value if isinstance(value, list | tuple) else [value])]
    if len(items) == 1:
        items *= 3
    if len(items) != 3:
        raise ValueError(f"{name} needs 1 or 3 values, got {len(items)}")
    return (items[0], items[1], items[2])
