"""A corpus of malformed and odd image files, generated (never committed): truncations, random
bytes, corrupted encodings, decompression bombs, unusual modes, hostile names, symbolic links
and special files, spread over class folders of real digit images."""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

FORMATS = {"jpg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP", "tif": "TIFF", "webp": "WEBP"}
HOSTILE_NAMES = (
    '=HYPERLINK("x").png',
    "+SUM(1).png",
    "<img src=x onerror=alert(1)>.png",
    "\x1b[2Jclear-screen.png",
    "new\nline.png",
    "carriage\rreturn.png",
    "right-to-left\u202egnp.png",
    "spaces and ünïcödé 漢字.png",
)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _png(width: int, height: int, ihdr_extra: bytes = b"\x08\x02\x00\x00\x00") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = chunk(b"IHDR", struct.pack(">II", width, height) + ihdr_extra)
    return (
        b"\x89PNG\r\n\x1a\n"
        + header
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def odd_images(base: Image.Image) -> Iterator[tuple[str, bytes]]:
    """Valid but unusual images: modes, depths, sizes, frames."""
    gray = base.convert("L")
    yield "gray16.png", encoded(Image.fromarray(np.asarray(gray).astype(np.uint16) * 257), "PNG")
    floats = np.asarray(gray, dtype=np.float32)
    floats[0, 0], floats[0, 1] = np.nan, np.inf
    yield "float-nan.tif", encoded(Image.fromarray(floats, mode="F"), "TIFF")
    yield "cmyk.jpg", encoded(base.convert("CMYK"), "JPEG")
    yield "rgba.png", encoded(base.convert("RGBA"), "PNG")
    yield "la.png", encoded(base.convert("LA"), "PNG")
    yield "palette.gif", encoded(base.convert("P"), "GIF")
    yield "one-pixel.png", encoded(base.resize((1, 1)), "PNG")
    yield "one-row.png", encoded(base.resize((300, 1)), "PNG")
    yield "one-column.jpg", encoded(base.resize((1, 300)), "JPEG")
    frames = io.BytesIO()
    base.save(frames, format="GIF", save_all=True, append_images=[gray.convert("RGB")] * 2)
    yield "animated.gif", frames.getvalue()
    yield "bomb.png", _png(100_000, 100_000)
    yield "zero-size.png", _png(0, 0)
    palette = _png(4, 4, b"\x08\x03\x00\x00\x00")
    yield "trns-too-long.png", palette[:-12] + _trns(300) + palette[-12:]


def _trns(entries: int) -> bytes:
    data = bytes(entries)
    return (
        struct.pack(">I", len(data))
        + b"tRNS"
        + data
        + struct.pack(">I", zlib.crc32(b"tRNS" + data))
    )


def broken_files(base: Image.Image, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Truncations, flipped bytes, random bytes and headers followed by garbage, per format."""
    for ext, fmt in FORMATS.items():
        data = encoded(base, fmt)
        for cut in (
            0,
            1,
            2,
            4,
            8,
            12,
            16,
            33,
            64,
            100,
            200,
            len(data) // 2,
            len(data) - 10,
            len(data) - 1,
        ):
            yield f"truncated-{cut}.{ext}", data[:cut]
        for flip in range(6):
            damaged = bytearray(data)
            for _ in range(8):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            yield f"flipped-{flip}.{ext}", bytes(damaged)
        for copy in range(6):
            yield f"random-{copy}.{ext}", rng.randbytes(rng.randrange(1, 2000))
        yield f"header-garbage.{ext}", data[:24] + rng.randbytes(200)
    yield "postscript.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    yield "text.jpg", b"this is not an image\n"


def make_corpus(root: Path, real: list[Path], seed: int = 0) -> Path:
    """An ImageFolder under ``root`` with real images and at least 200 hostile entries."""
    rng = random.Random(seed)
    base = Image.open(real[0]).convert("RGB").resize((40, 40))
    classes = [root / str(c) for c in range(10)]
    for number, folder in enumerate(classes):
        folder.mkdir(parents=True)
        for path in real[number * 3 : number * 3 + 3]:
            (folder / path.name).write_bytes(path.read_bytes())
    generated = [*broken_files(base, rng), *odd_images(base)]
    generated += [(name, encoded(base, "PNG")) for name in HOSTILE_NAMES]
    for number, (name, data) in enumerate(generated):
        (classes[number % 10] / f"{number:03d}-{name}").write_bytes(data)
    _others(root, classes, real)
    return root


def _others(root: Path, classes: list[Path], real: list[Path]) -> None:
    """Entries that are not images: other types, hidden ones, links, special files."""
    for name in ("notes.txt", "photo.heic", "no-extension", ".hidden.png", "x.png.bak"):
        (classes[0] / name).write_bytes(real[0].read_bytes())
    (classes[1] / ".thumbs").mkdir()
    (classes[1] / ".thumbs" / "thumb.png").write_bytes(real[1].read_bytes())
    (classes[2] / "folder.jpg").mkdir()
    (classes[2] / "folder.jpg" / "inside.png").write_bytes(real[2].read_bytes())
    (root / "stray.png").write_bytes(real[0].read_bytes())
    (root / ".hidden-class").mkdir()
    (root / ".hidden-class" / "x.png").write_bytes(real[0].read_bytes())
    os.symlink(real[3], classes[3] / "link-to-real.png")
    os.symlink(root / "missing.png", classes[3] / "dangling.png")
    os.symlink(classes[3] / "loop-b.png", classes[3] / "loop-a.png")
    os.symlink(classes[3] / "loop-a.png", classes[3] / "loop-b.png")
    os.symlink(classes[4], classes[3] / "link-to-class-4")
    os.symlink(classes[4], classes[4] / "self-loop")
    os.symlink(root, root / "link-to-root")
    os.mkfifo(classes[5] / "pipe.png")
    (classes[6] / os.fsdecode(b"latin1-\xe9\xff.png")).write_bytes(real[0].read_bytes())


def entries(root: Path) -> list[str]:
    """Every entry below ``root`` that is not a plain folder (what a run must account for)."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return found
