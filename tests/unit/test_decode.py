"""Decoding: every common image mode becomes 8-bit RGB; bad files give a reason."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.data import decode
from evalkit.data.decode import DecodeError, decode_image, read_image_file


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


def test_a_file_is_read_whole_without_a_buffer_of_the_limit(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    (tmp_path / "a.jpg").write_bytes(data)
    tracemalloc.start()
    try:
        read = read_image_file(tmp_path / "a.jpg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read == data
    assert peak < 4 * len(data), peak  # 0.6.4 allocated MAX_BYTES (512 MiB) for every file


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="a file of no stated size")
def test_a_file_that_reports_no_size_is_read_to_its_end() -> None:
    data = read_image_file(Path("/proc/self/status"))
    assert b"VmRSS" in data and data.endswith(b"\n")


def test_a_file_that_grows_past_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(b"x" * 100)
    monkeypatch.setattr(decode, "MAX_BYTES", 150)
    real_fstat = os.fstat
    monkeypatch.setattr(  # stat taken while it was 50 bytes: it grew before the read
        decode.os,
        "fstat",
        lambda fd: os.stat_result((*real_fstat(fd)[:6], 50, *real_fstat(fd)[7:])),
    )
    assert read_image_file(path) == b"x" * 100
    path.write_bytes(b"x" * 200)
    with pytest.raises(DecodeError, match="file too large"):
        read_image_file(path)
