"""Duplicate images: exact copies, near copies (re-encoded, resized, brightened), leaks between
two sets, unreadable files, and the bucketed search against a brute-force reference."""

from __future__ import annotations

import shutil
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from evalkit.analysis import dupes
from evalkit.analysis.dupes import (
    DuplicatePair,
    ImageHash,
    dupes_json,
    find_duplicates,
    group_pairs,
    hamming_pairs,
    hash_images,
    perceptual_hash,
    summary_lines,
)


def photo(seed: int, size: tuple[int, int] | None = None) -> Image.Image:
    """A photo-like RGB image, different for every seed: smooth colour gradients, a few
    solid discs and sensor noise, 96-300 px a side unless ``size`` says."""
    rng = np.random.default_rng(seed)
    width, height = size or (int(rng.integers(96, 301)), int(rng.integers(96, 301)))
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    pixels = np.zeros((height, width, 3))
    for channel in range(3):
        a, b, phase = rng.uniform(-3, 3, 3)
        wave = 60 * np.sin(3 * a * x + 3 * b * y + phase)
        pixels[..., channel] = 128 + wave + rng.uniform(-40, 40) * x
    for _ in range(int(rng.integers(3, 8))):
        cx, cy, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
        pixels[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = rng.uniform(0, 255, 3)
    pixels += rng.normal(0, 6, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def save(image: Image.Image, path: Path, **options: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def pairs_by_names(pairs: list[DuplicatePair]) -> dict[frozenset[str], DuplicatePair]:
    return {frozenset((pair.a.name, pair.b.name)): pair for pair in pairs}


def test_exact_copy_under_another_name(tmp_path: Path) -> None:
    original = save(photo(1), tmp_path / "cat" / "1.jpg", quality=90)
    copy = tmp_path / "dog" / "copy.jpg"
    copy.parent.mkdir()
    shutil.copyfile(original, copy)
    other = save(photo(2), tmp_path / "cat" / "2.jpg", quality=90)

    hashes = hash_images([original, other, copy], workers=2)
    assert all(h.ok for h in hashes)
    assert hashes[0].sha256 == hashes[2].sha256 and hashes[0].phash == hashes[2].phash
    assert find_duplicates(hashes) == [DuplicatePair(original, copy, "exact", 0)]


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_edited_copies_are_near_duplicates(tmp_path: Path, seed: int) -> None:
    image = photo(seed)
    original = save(image, tmp_path / "original.jpg", quality=95)
    reencoded = save(Image.open(original), tmp_path / "q60.jpg", quality=60)
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    resized = save(half, tmp_path / "half.jpg", quality=95)
    brighter = save(ImageEnhance.Brightness(image).enhance(1.1), tmp_path / "bright.jpg")
    as_png = save(image, tmp_path / "lossless.png")
    copies = [reencoded, resized, brighter, as_png]

    hashes = hash_images([original, *copies])
    found = pairs_by_names(find_duplicates(hashes))
    for copy in copies:
        pair = found[frozenset(("original.jpg", copy.name))]
        assert pair.kind == "near" and pair.distance <= dupes.DEFAULT_MAX_DISTANCE, copy.name


def test_cmyk_jpeg_hashes_like_its_rgb_original(tmp_path: Path) -> None:
    image = photo(6)
    rgb = save(image, tmp_path / "rgb.png")
    cmyk = save(image.convert("CMYK"), tmp_path / "cmyk.jpg", quality=95)
    a, b = hash_images([rgb, cmyk])
    assert a.ok and b.ok and (a.phash ^ b.phash).bit_count() <= 4


def test_distinct_images_are_not_near_duplicates(tmp_path: Path) -> None:
    paths = [save(photo(100 + i), tmp_path / f"{i}.jpg", quality=90) for i in range(50)]
    hashes = hash_images(paths)
    assert find_duplicates(hashes) == []
    closest = min((x.phash ^ y.phash).bit_count() for x, y in combinations(hashes, 2))
    assert closest > 2 * dupes.DEFAULT_MAX_DISTANCE  # a margin, not just no pair


def test_leaks_between_sets_and_not_pairs_within_them(tmp_path: Path) -> None:
    train = [save(photo(200 + i), tmp_path / "train" / f"t{i}.jpg", quality=90) for i in range(12)]
    test = [save(photo(300 + i), tmp_path / "test" / f"v{i}.jpg", quality=90) for i in range(6)]
    shutil.copyfile(test[0], tmp_path / "train" / "leak_exact.jpg")
    save(Image.open(test[1]), tmp_path / "train" / "leak_near.jpg", quality=60)
    shutil.copyfile(train[0], tmp_path / "train" / "twin.jpg")  # within train only
    shutil.copyfile(test[2], tmp_path / "test" / "twin.jpg")  # within test only
    train_hashes = hash_images(sorted((tmp_path / "train").iterdir()))
    test_hashes = hash_images(sorted((tmp_path / "test").iterdir()))

    pairs = find_duplicates(train_hashes, test_hashes)
    assert [(p.a.name, p.b.name, p.kind) for p in pairs] == [
        ("leak_exact.jpg", "v0.jpg", "exact"),
        ("leak_near.jpg", "v1.jpg", "near"),
    ]
    assert pairs[0].distance == 0 and 0 <= pairs[1].distance <= 4
    within = find_duplicates(train_hashes)
    assert ("t0.jpg", "twin.jpg", "exact") in [(p.a.name, p.b.name, p.kind) for p in within]

    lines = summary_lines(
        pairs, train_hashes, test_hashes, root_a=tmp_path / "train", root_b=tmp_path / "test"
    )
    assert lines[0] == (
        "1 exact and 1 near-duplicate pairs between train (15 images) and test (7 images)"
    )
    assert lines[1] == "exact  leak_exact.jpg  ==  v0.jpg"
    assert lines[2] == f"near   leak_near.jpg  ~  v1.jpg  (distance {pairs[1].distance})"


def test_unreadable_files_are_recorded_not_raised(tmp_path: Path) -> None:
    good = save(photo(7), tmp_path / "good.jpg", quality=90)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    garbage_twin = tmp_path / "garbage_twin.jpg"
    shutil.copyfile(garbage, garbage_twin)
    empty = tmp_path / "empty.png"
    empty.touch()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    missing = tmp_path / "missing.jpg"

    paths = [good, garbage, garbage_twin, empty, truncated, missing]
    hashes = hash_images(paths, workers=2)
    assert [h.path for h in hashes] == paths
    errors = {h.path.name: h.error for h in hashes}
    assert errors["good.jpg"] is None
    assert errors["empty.png"] == "empty file (0 bytes)"
    assert errors["missing.jpg"] is not None and errors["missing.jpg"].startswith("cannot read")
    for name in ("garbage.jpg", "garbage_twin.jpg", "truncated.jpg"):
        assert errors[name], name
    assert find_duplicates(hashes) == []  # identical garbage is not reported as a duplicate

    lines = summary_lines([], hashes, root_a=tmp_path)
    assert lines[0] == "0 exact and 0 near-duplicate pairs among 6 images; 5 unreadable"
    assert "unreadable  empty.png: empty file (0 bytes)" in lines
    report = dupes_json([], hashes, root_a=tmp_path, max_distance=4)
    assert report["counts"]["unreadable"] == 5
    assert {"set": "a", "path": "empty.png", "error": "empty file (0 bytes)"} in report[
        "unreadable"
    ]


def clustered_hashes(seed: int, count: int = 300) -> list[int]:
    """Random 64-bit hashes, most of them a few bits away from one of a few dozen centres."""
    rng = np.random.default_rng(seed)
    centres = [int(v) for v in rng.integers(0, 2**64, 40, dtype=np.uint64, endpoint=False)]
    hashes = []
    for _ in range(count):
        if rng.random() < 0.2:
            hashes.append(int(rng.integers(0, 2**64, dtype=np.uint64, endpoint=False)))
            continue
        value = centres[int(rng.integers(len(centres)))]
        for bit in rng.choice(64, int(rng.integers(0, 18)), replace=False):
            value ^= 1 << int(bit)
        hashes.append(value)
    return hashes


def reference(
    a: list[ImageHash], b: list[ImageHash] | None, max_distance: int
) -> list[DuplicatePair]:
    """Every pair compared, in plain Python."""
    if b is None:
        candidates = [tuple(sorted(p, key=lambda h: h.path.as_posix())) for p in combinations(a, 2)]
    else:
        candidates = [(x, y) for x in a for y in b]
    found = []
    for x, y in candidates:
        distance = (x.phash ^ y.phash).bit_count()
        if x.sha256 == y.sha256:
            found.append(DuplicatePair(x.path, y.path, "exact", 0))
        elif distance <= max_distance:
            found.append(DuplicatePair(x.path, y.path, "near", distance))
    return sorted(found, key=lambda p: (p.kind != "exact", p.distance, str(p.a), str(p.b)))


def entries(prefix: str, hashes: list[int]) -> list[ImageHash]:
    made = [
        ImageHash(Path(f"{prefix}/{i:03d}.jpg"), f"{prefix}{i}", h) for i, h in enumerate(hashes)
    ]
    for i in range(0, len(made), 37):  # a few byte-identical copies of earlier entries
        made.append(ImageHash(Path(f"{prefix}/copy{i:03d}.jpg"), made[i].sha256, made[i].phash))
    return made


@pytest.mark.parametrize("block", [dupes._BLOCK_PAIRS, 50])
@pytest.mark.parametrize("max_distance", [0, 1, 2, 3, 4, 6, 8, 12, 16, 32])
def test_search_matches_brute_force(
    monkeypatch: pytest.MonkeyPatch, max_distance: int, block: int
) -> None:
    monkeypatch.setattr(dupes, "_BLOCK_PAIRS", block)  # small blocks: many blocks per search
    a = entries("a", clustered_hashes(max_distance))
    b = entries("b", clustered_hashes(max_distance + 100, 200))
    b.append(a[5])  # one entry in both sets
    within = find_duplicates(a, max_distance=max_distance)
    assert within == reference(a, None, max_distance)
    assert any(p.kind == "near" for p in within) and any(p.kind == "exact" for p in within)
    assert find_duplicates(a, b, max_distance) == reference(a, b, max_distance)


def test_hamming_pairs_with_buckets() -> None:
    rng = np.random.default_rng(9)
    hashes = rng.integers(0, 2**64, 400, dtype=np.uint64, endpoint=False)
    hashes[200:] = hashes[:200] ^ (np.uint64(1) << rng.integers(0, 64, 200).astype(np.uint64))
    assert dupes._BucketIndex(hashes, hashes, 3).total < hashes.size**2 // 2  # uses buckets
    assert dupes._BucketIndex(hashes, hashes, 16).total > hashes.size**2 // 2  # compares all
    rows, cols, distances = hamming_pairs(hashes, hashes, 3, within=True)
    expected = [
        (i, j, int(np.bitwise_count(hashes[i] ^ hashes[j])))
        for i, j in combinations(range(400), 2)
        if np.bitwise_count(hashes[i] ^ hashes[j]) <= 3
    ]
    assert list(zip(rows.tolist(), cols.tolist(), distances.tolist(), strict=True)) == expected
    assert len(expected) >= 200


def test_same_path_twice_is_not_a_pair() -> None:
    entry = ImageHash(Path("x.jpg"), "s", 123)
    assert find_duplicates([entry, entry]) == []
    assert find_duplicates([entry], [entry]) == [DuplicatePair(entry.path, entry.path, "exact", 0)]


@pytest.mark.parametrize("bad", [-1, 33, 100, 2.5, True, "4"])
def test_invalid_max_distance(bad: object) -> None:
    with pytest.raises(ValueError, match="max_distance must be an integer from 0 to 32"):
        find_duplicates([], max_distance=bad)  # type: ignore[arg-type]


def test_invalid_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        hash_images([Path("a.jpg")], workers=0)


def test_perceptual_hash_bits() -> None:
    value = perceptual_hash(photo(8))
    assert 0 <= value < 2**64
    assert value >> 63 == 1  # the DC bit
    assert value.bit_count() == 32  # above the median of 63 AC terms: 31, plus DC
    assert perceptual_hash(Image.new("RGB", (50, 50))) == 0


def test_groups_json_and_line_limit() -> None:
    pairs = [
        DuplicatePair(Path("r/a.jpg"), Path("r/b.jpg"), "exact", 0),
        DuplicatePair(Path("r/b.jpg"), Path("r/c.jpg"), "near", 2),
        DuplicatePair(Path("r/d.jpg"), Path("r/e.jpg"), "near", 3),
    ]
    names = ["a", "b", "c", "d", "e"]
    hashes = [ImageHash(Path(f"r/{n}.jpg"), n, 0) for n in names]
    assert group_pairs(pairs) == [
        [Path("r/a.jpg"), Path("r/b.jpg"), Path("r/c.jpg")],
        [Path("r/d.jpg"), Path("r/e.jpg")],
    ]
    lines = summary_lines(pairs, hashes, limit=1)
    assert lines == [
        "1 exact and 2 near-duplicate pairs among 5 images",
        "exact  r/a.jpg  ==  r/b.jpg",
        "... and 2 more",
    ]
    report = dupes_json(pairs, hashes, root_a=Path("r"))
    assert report["mode"] == "within"
    assert report["counts"] == {
        "images_a": 5,
        "images_b": None,
        "unreadable": 0,
        "exact_pairs": 1,
        "near_pairs": 2,
    }
    assert report["pairs"][1] == {"a": "b.jpg", "b": "c.jpg", "kind": "near", "distance": 2}
