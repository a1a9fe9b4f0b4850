"""Decoding image bytes to an 8-bit RGB Pillow image, whatever the file's mode."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class DecodeError(Exception):
    """An image file that cannot be used; ``str()`` is the reason recorded in ``failures``."""


def decode_image(data: bytes) -> Image.Image:
    """Decode bytes into a fully loaded RGB image, or raise :class:`DecodeError` with the reason.

    Gray, palette (with or without transparency), RGBA, CMYK and YCbCr images are converted with
    Pillow; 16-bit and 32-bit gray images are rescaled to 8 bits by their bit depth (not clipped).
    """
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except UnidentifiedImageError:
        raise DecodeError("not an image Pillow can identify") from None
    except Image.DecompressionBombError as error:
        raise DecodeError(f"too large to decode safely: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DecodeError(f"cannot decode: {error}") from None
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_DEPTH_MODES:
        image = _to_8bit_gray(image)
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image)
    if image.mode == "F":
        top = float(pixels.max()) or 1.0
        scaled = np.clip(pixels / top * 255.0, 0, 255)
    else:
        bits = 16 if image.mode.startswith("I;16") or pixels.max() < 65536 else 32
        scaled = pixels.astype(np.float64) / (2**bits - 1) * 255.0
    return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
