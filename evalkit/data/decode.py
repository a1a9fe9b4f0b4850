"""Decoding image bytes to an 8-bit RGB Pillow image, whatever the file's mode."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from evalkit.data.properties import ImageProperties, measure, orientation

_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Only raster formats are decoded, whatever a file's extension says: never PostScript/EPS (which
# runs Ghostscript), PDF or other formats that are programs or containers.
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "PPM", "TIFF", "WEBP")
MAX_BYTES = 512 * 2**20  # a bigger file is refused before it is read into memory

# Pillow's warnings about odd files (corrupt EXIF, truncated reads, large images it still
# decodes) would print once per file in the middle of a run: the run records real failures.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class DecodeError(Exception):
    """An image file that cannot be used; ``str()`` is the reason recorded in ``failures``."""


def read_image_file(path: Path) -> bytes:
    """The bytes of an image file; :class:`DecodeError` for one bigger than ``MAX_BYTES``,
    :class:`OSError` for one that cannot be read."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_BYTES:
            raise DecodeError(f"file too large ({size / 2**20:.0f} MiB > {MAX_BYTES // 2**20} MiB)")
        # what its size says, not the limit (a MAX_BYTES buffer would be mapped and unmapped
        # for every file); then, for a file that grew or reports no size (a pipe, /proc), the
        # rest up to the limit
        data = handle.read(size + 1)
        if len(data) > size:
            data += handle.read(MAX_BYTES + 1 - len(data))
            if len(data) > MAX_BYTES:
                raise DecodeError(f"file too large (over {MAX_BYTES // 2**20} MiB)")
        return data


def decode_image(data: bytes) -> Image.Image:
    """Decode bytes into a fully loaded RGB image, or raise :class:`DecodeError` with the reason.

    Gray, palette (with or without transparency), RGBA, CMYK and YCbCr images are converted with
    Pillow; 16-bit and 32-bit gray images are rescaled to 8 bits by their bit depth (not clipped).
    """
    image = _opened(data)
    return _guarded(lambda: _to_rgb(image))


def decode_measured(
    data: bytes, *, exif_transpose: bool = False
) -> tuple[Image.Image, ImageProperties]:
    """:func:`decode_image`, rotated upright by its EXIF orientation when ``exif_transpose``,
    and the image's properties (:mod:`evalkit.data.properties`), measured on what the model
    is given."""
    image = _opened(data)
    mode, turned = image.mode, orientation(image)
    if exif_transpose and turned != 1:
        image = _guarded(lambda: ImageOps.exif_transpose(image))
    rgb = _guarded(lambda: _to_rgb(image))
    return rgb, measure(rgb, mode, turned != 1)


def _opened(data: bytes) -> Image.Image:
    if not data:
        raise DecodeError("empty file (0 bytes)")

    def load() -> Image.Image:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        image.load()
        return image

    return _guarded(load)


def _guarded(step: Callable[[], Image.Image]) -> Image.Image:
    try:
        return step()
    except UnidentifiedImageError:
        raise DecodeError(f"not an image evalkit decodes (formats: {', '.join(FORMATS)})") from None
    except Image.DecompressionBombError as error:
        raise DecodeError(f"too large to decode safely: {error}") from None
    except Exception as error:  # any failure on a hostile file is that file's, not the run's
        raise DecodeError(f"cannot decode: {error or type(error).__name__}") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_DEPTH_MODES:
        image = _to_8bit_gray(image)
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image)
    if image.mode == "F":
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=0.0, neginf=0.0)
        top = float(pixels.max()) or 1.0
        scaled = np.clip(pixels / top * 255.0, 0, 255)
    else:
        bits = 16 if image.mode.startswith("I;16") or pixels.max() < 65536 else 32
        scaled = pixels.astype(np.float64) / (2**bits - 1) * 255.0
    return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")


def measure_file(path: Path, *, exif_transpose: bool = False) -> ImageProperties | None:
    """The properties of the image at ``path`` (None when it cannot be read): for rows an
    older evalkit stored without them."""
    try:
        return decode_measured(read_image_file(path), exif_transpose=exif_transpose)[1]
    except (OSError, DecodeError):
        return None
