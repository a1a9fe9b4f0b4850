"""Image properties measured while decoding, for slicing results by them (docs/slices.md).

Each is measured on the image the model is given (after ``--exif-transpose`` when it is set),
box-reduced by the smallest whole factor that brings its longer side to at most
``MEASURE_SIDE`` pixels (so a 12-megapixel photo costs what a 256-pixel one does; about 0.6 ms
for an ImageNet-sized JPEG, benchmarks/slice_cost.py):

- ``brightness``: mean luma (ITU-R 601, Pillow's ``L``) in [0, 1];
- ``contrast``: RMS contrast, the standard deviation of luma in [0, 1];
- ``sharpness``: variance of the 4-neighbour Laplacian of luma (0-255 scale) on the reduced
  image (values compare within a dataset, not across image sizes);
- ``aspect_ratio``: width / height; ``megapixels``: width * height / 10**6 (the file's own size);
- ``grayscale``: the file is gray (a gray mode, or RGB whose channels differ by at most
  ``GRAY_TOLERANCE`` levels anywhere on the reduced image);
- ``exif_rotated``: the file's EXIF orientation is not 1, so viewers show it rotated or
  mirrored while the frameworks' loaders (and evalkit, unless ``--exif-transpose``) do not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageChops

from evalkit.results import PROPERTIES

__all__ = ["PROPERTIES", "ImageProperties", "measure", "orientation"]

BINARY_PROPERTIES = ("grayscale", "exif_rotated")
MEASURE_SIDE = 256
GRAY_TOLERANCE = 2
ORIENTATION_TAG = 0x0112
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class ImageProperties:
    brightness: float
    contrast: float
    sharpness: float
    aspect_ratio: float
    megapixels: float
    grayscale: bool
    exif_rotated: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8; 1 when there is none or it cannot be read)."""
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # a corrupt EXIF block is the file's problem, not the run's
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def reduced(image: Image.Image, side: int = MEASURE_SIDE) -> Image.Image:
    """``image`` box-reduced by the smallest whole factor that fits ``side`` (cheap)."""
    factor = -(-max(image.size) // side)
    return image.reduce(factor) if factor > 1 else image


def measure(image: Image.Image, source_mode: str, rotated: bool) -> ImageProperties:
    """The properties of a decoded RGB ``image`` whose file had mode ``source_mode``."""
    width, height = image.size
    small = reduced(image)
    luma = np.asarray(small.convert("L"), dtype=np.float32)
    return ImageProperties(
        brightness=float(luma.mean() / 255.0),
        contrast=float(luma.std() / 255.0),
        sharpness=laplacian_variance(luma),
        aspect_ratio=width / height,
        megapixels=width * height / 1e6,
        grayscale=source_mode in _GRAY_MODES or _channels_equal(small),
        exif_rotated=rotated,
    )


def laplacian_variance(luma: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior pixels (0 for tiny images)."""
    if min(luma.shape) < 3:
        return 0.0
    centre = luma[1:-1, 1:-1]
    laplacian = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4 * centre
    return float(laplacian.var())


def _channels_equal(image: Image.Image) -> bool:
    """No pixel's red, green and blue differ by more than ``GRAY_TOLERANCE`` (in C, stopping at
    the first pair of channels that differ: most photographs)."""
    red, green, blue = image.split()  # measure() is given RGB
    return all(
        ImageChops.difference(first, second).getextrema()[1] <= GRAY_TOLERANCE  # type: ignore[operator]
        for first, second in ((red, green), (green, blue))
    )
