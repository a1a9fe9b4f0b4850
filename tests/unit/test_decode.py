"""Decoding: every common image mode becomes 8-bit RGB; bad files give a reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from evalkit.data.decode import DecodeError, decode_image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture()
def rgb() -> Image.Image:
    gradient = np.linspace(0, 255, 48 * 32 * 3).reshape(32, 48, 3).astype(np.uint8)
    return Image.fromarray(gradient)


@pytest.mark.parametrize(
    "mode,fmt",
    [
        ("L", "PNG"),
        ("P", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("CMYK", "JPEG"),
        ("RGB", "WEBP"),
        ("1", "BMP"),
        ("RGB", "TIFF"),
    ],
)
def test_modes_become_rgb(rgb: Image.Image, mode: str, fmt: str) -> None:
    image = decode_image(encode(rgb.convert(mode), fmt))
    assert image.mode == "RGB" and image.size == (48, 32)


def test_palette_with_transparency(rgb: Image.Image) -> None:
    palette = rgb.convert("P")
    image = decode_image(encode(palette, "PNG", transparency=0))
    assert image.mode == "RGB"


def test_sixteen_bit_gray_is_rescaled_not_clipped() -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    pixels = np.asarray(decode_image(data))
    assert pixels[0, :, 0].tolist() == [0, 128, 255]


def test_gray_values_are_kept(rgb: Image.Image) -> None:
    gray = rgb.convert("L")
    pixels = np.asarray(decode_image(encode(gray, "PNG")))
    np.testing.assert_array_equal(pixels[..., 0], np.asarray(gray))


@pytest.mark.parametrize(
    "data,reason", [(b"", "empty file"), (b"not an image at all", "not an image")]
)
def test_bad_bytes_have_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_image(data)


def test_truncated_jpeg_is_an_error(rgb: Image.Image) -> None:
    data = encode(rgb.resize((256, 256)), "JPEG")
    with pytest.raises(DecodeError, match="cannot decode"):
        decode_image(data[: len(data) // 2])
