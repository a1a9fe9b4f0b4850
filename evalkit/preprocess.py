"""Resize / center-crop / scale / normalize, spelled out as data and applied with Pillow+NumPy.

The geometry follows torchvision's ``ImageClassification`` transform exactly (shorter side
resized to ``resize`` with the long side truncated, then a center crop with torchvision's
rounding), so a preprocessing recorded from a torchvision weights entry can be reproduced by
any adapter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

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

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATION:
            choices = ", ".join(INTERPOLATION)
            raise ValueError(f"unknown interpolation {self.interpolation!r}; choose {choices}")

    def geometry(self, image: Image.Image) -> Image.Image:
        if self.resize is None:
            return image.resize((self.crop, self.crop), INTERPOLATION[self.interpolation])
        resized = resize_shorter(image, self.resize, self.interpolation)
        return center_crop(resized, self.crop)

    def __call__(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(self.geometry(image), dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        array = (pixels / np.float32(self.divide_by) - mean) / std
        return np.ascontiguousarray(array.transpose(2, 0, 1) if self.layout == "NCHW" else array)

    def describe(self) -> dict[str, object]:
        spec = asdict(self)
        spec["resize_mode"] = "full image" if self.resize is None else "shorter side"
        spec["color"] = "RGB"
        return spec
