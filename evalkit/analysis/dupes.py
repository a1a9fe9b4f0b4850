"""Exact and near-duplicate images within one image set, or between two (train/test leakage).

Every image gets two fingerprints (:func:`hash_images`):

* ``sha256`` of the file's bytes: equal digests are *exact* duplicates (byte-identical files);
* a 64-bit DCT perceptual hash (pHash): the image, decoded by evalkit's own decoder, is turned
  to 8-bit gray, resized to 32x32 with a Lanczos filter and transformed with a 2-D DCT-II; the
  8x8 lowest frequencies (DC included) give one bit each, set where the coefficient is above the
  median of the 63 AC coefficients. The DC term (mean brightness) is left out of the median so a
  brightness change does not move the threshold; its bit is therefore always set (for any image
  that is not all black), so in effect 63 bits carry information. Re-encoding (another JPEG
  quality, PNG), resizing and small brightness or contrast changes flip few bits; crops,
  rotations, flips and EXIF orientation flags are not compensated for.

:func:`find_duplicates` reports pairs whose hashes differ in at most ``max_distance`` bits
(Hamming distance) as *near* duplicates, without comparing every pair: by the pigeonhole
principle, two 64-bit hashes within distance ``d`` agree exactly on at least one of ``d + 1``
disjoint bit chunks, so only hashes sharing a (chunk, value) bucket are compared (with numpy).
When the buckets would hold more candidates than there are pairs (large ``max_distance``), all
pairs are compared in vectorised blocks instead; both give the same answer.

Very flat images (blank frames, solid colours) have almost no low-frequency structure, so their
hashes are near each other whatever their colour; such pairs are reported as near duplicates.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.fft import dctn

from evalkit.data.decode import DecodeError, decode_image, read_image_file

HASH_BITS = 64
HASH_SIZE = 8  # the 8x8 lowest DCT frequencies give the 64 bits
DCT_SIZE = 32  # the gray image is resized to 32x32 before the DCT
DEFAULT_MAX_DISTANCE = 4
MAX_DISTANCE_LIMIT = 32
_DRAFT_SIZE = (2 * DCT_SIZE, 2 * DCT_SIZE)  # JPEGs decode at 1/2..1/8 scale, never below this
_JPEG_MAGIC = b"\xff\xd8\xff"
_BLOCK_PAIRS = 2_000_000  # candidate pairs held in memory at once by the search
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

EXACT = "exact"
NEAR = "near"


@dataclass(frozen=True)
class ImageHash:
    """One file's fingerprints; ``error`` is the reason it could not be hashed (then ``phash``
    is 0, and ``sha256`` is empty when the file could not be read either)."""

    path: Path
    sha256: str
    phash: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DuplicatePair:
    """Two files that are the same image: ``a`` is from the first set, ``b`` from the second
    (or, within one set, the two paths in sorted order)."""

    a: Path
    b: Path
    kind: str  # "exact" (same bytes) or "near" (perceptual hashes within max_distance)
    distance: int  # Hamming distance of the perceptual hashes (0 for exact)


@dataclass(frozen=True)
class DupesSummary:
    """Counts for one search; ``images_b`` is None for a search within one set."""

    images_a: int
    images_b: int | None
    unreadable_a: int
    unreadable_b: int
    exact_pairs: int
    near_pairs: int

    @property
    def unreadable(self) -> int:
        return self.unreadable_a + self.unreadable_b


# -- hashing -----------------------------------------------------------------------------------


def hash_images(paths: Sequence[Path], workers: int | None = None) -> list[ImageHash]:
    """Fingerprints of ``paths``, in their order, hashed on a pool of ``workers`` threads
    (default: one per CPU; Pillow, hashlib and numpy release the GIL for the heavy parts).

    A file that cannot be read or decoded is returned with ``error`` set; nothing raises.
    """
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    paths = [Path(path) for path in paths]
    if workers == 1 or len(paths) <= 1:
        return [hash_image(path) for path in paths]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evalkit-dupes") as pool:
        return list(pool.map(hash_image, paths))


def hash_image(path: Path) -> ImageHash:
    """One file's fingerprints (see :func:`hash_images`)."""
    try:
        data = read_image_file(path)
    except OSError as error:
        return ImageHash(path, "", 0, f"cannot read: {error.strerror or error}")
    except DecodeError as error:
        return ImageHash(path, "", 0, str(error))
    digest = hashlib.sha256(data).hexdigest()
    try:
        phash = perceptual_hash(_gray_image(data))
    except DecodeError as error:
        return ImageHash(path, digest, 0, str(error))
    return ImageHash(path, digest, phash)


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash of a Pillow image (any mode; see the module's docs).

    Bit 63 (the most significant) is the DC coefficient, then row by row of the 8x8 block.
    """
    gray = image if image.mode == "L" else image.convert("RGB").convert("L")
    small = gray.resize((DCT_SIZE, DCT_SIZE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(small, dtype=np.float64)
    low = dctn(pixels, type=2, norm="ortho")[:HASH_SIZE, :HASH_SIZE].ravel()
    ac = low[1:]
    median = np.partition(ac, ac.size // 2)[ac.size // 2]  # of 63 values: the 32nd smallest
    bits = low > median
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _gray_image(data: bytes) -> Image.Image:
    """Decode for hashing. JPEGs are decoded at 1/2 to 1/8 scale straight to gray (``draft``:
    about a third less time, the entropy decoding being the same); any failure there is left to
    evalkit's decoder, which decodes everything else (same formats, limits and reasons)."""
    if data.startswith(_JPEG_MAGIC):
        try:
            return _draft_jpeg(data)
        except Exception:  # the decoder below gives the reason, or decodes what this could not
            pass
    return decode_image(data).convert("L")


def _draft_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=("JPEG",))
    image.draft("L", _DRAFT_SIZE)
    image.load()
    return image if image.mode == "L" else image.convert("RGB").convert("L")


# -- searching ---------------------------------------------------------------------------------


def find_duplicates(
    a: Sequence[ImageHash],
    b: Sequence[ImageHash] | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
) -> list[DuplicatePair]:
    """Duplicate pairs within ``a`` (``b`` None: each unordered pair once, never an entry with
    itself or with another entry of the same path) or between ``a`` and ``b`` (``a`` side
    first). Exact: same sha256. Near: perceptual hashes at most ``max_distance`` bits apart
    and not exact. Unhashable entries are skipped. Sorted: exact first, then by distance,
    then by path.
    """
    _check_max_distance(max_distance)
    left = [h for h in a if h.ok]
    right = left if b is None else [h for h in b if h.ok]
    within = b is None
    pairs = _exact_pairs(left, right, within) + _near_pairs(left, right, within, max_distance)
    pairs.sort(key=_pair_order)
    return pairs


def _check_max_distance(max_distance: int) -> None:
    valid = isinstance(max_distance, int) and not isinstance(max_distance, bool)
    if not valid or not 0 <= max_distance <= MAX_DISTANCE_LIMIT:
        raise ValueError(
            f"max_distance must be an integer from 0 to {MAX_DISTANCE_LIMIT} (bits of the "
            f"{HASH_BITS}-bit perceptual hash that may differ), got {max_distance!r}"
        )


def _pair_order(pair: DuplicatePair) -> tuple[int, int, str, str]:
    return (pair.kind != EXACT, pair.distance, pair.a.as_posix(), pair.b.as_posix())


def _make_pair(x: ImageHash, y: ImageHash, kind: str, distance: int, within: bool) -> DuplicatePair:
    if within and y.path.as_posix() < x.path.as_posix():
        x, y = y, x
    return DuplicatePair(x.path, y.path, kind, distance)


def _exact_pairs(
    left: Sequence[ImageHash], right: Sequence[ImageHash], within: bool
) -> list[DuplicatePair]:
    groups: dict[str, list[ImageHash]] = defaultdict(list)
    for entry in right:
        groups[entry.sha256].append(entry)
    if within:
        found = (pair for group in groups.values() for pair in combinations(group, 2))
    else:
        found = ((x, y) for x in left for y in groups.get(x.sha256, ()))
    return [
        _make_pair(x, y, EXACT, 0, within) for x, y in found if not (within and x.path == y.path)
    ]


def _near_pairs(
    left: Sequence[ImageHash], right: Sequence[ImageHash], within: bool, max_distance: int
) -> list[DuplicatePair]:
    if not left or not right:
        return []
    hashes_a = np.array([h.phash for h in left], dtype=np.uint64)
    hashes_b = hashes_a if within else np.array([h.phash for h in right], dtype=np.uint64)
    rows, cols, distances = hamming_pairs(hashes_a, hashes_b, max_distance, within)
    found = []
    for i, j, distance in zip(rows.tolist(), cols.tolist(), distances.tolist(), strict=True):
        x, y = left[i], right[j]
        if x.sha256 != y.sha256 and not (within and x.path == y.path):
            found.append(_make_pair(x, y, NEAR, distance, within))
    return found


def hamming_pairs(
    hashes_a: np.ndarray, hashes_b: np.ndarray, max_distance: int, within: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every index pair (i, j) with ``popcount(hashes_a[i] ^ hashes_b[j]) <= max_distance``
    (``i < j`` only when ``within``, where ``hashes_b`` is ``hashes_a``), as three arrays
    (rows, columns, distances) sorted by row then column. Hashes are unsigned 64-bit."""
    _check_max_distance(max_distance)
    hashes_a = np.ascontiguousarray(hashes_a, dtype=np.uint64)
    hashes_b = np.ascontiguousarray(hashes_b, dtype=np.uint64)
    if not hashes_a.size or not hashes_b.size:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    index = _BucketIndex(hashes_a, hashes_b, max_distance)
    if index.total > hashes_a.size * hashes_b.size // 2:  # buckets no better than all pairs
        blocks = _all_pairs(hashes_a, hashes_b, max_distance)
    else:
        blocks = index.candidates()
    found = [_verify(hashes_a, hashes_b, rows, cols, max_distance, within) for rows, cols in blocks]
    rows = np.concatenate([f[0] for f in found])
    cols = np.concatenate([f[1] for f in found])
    return rows, cols, _popcount(hashes_a[rows] ^ hashes_b[cols]).astype(np.int64)


def _verify(
    hashes_a: np.ndarray,
    hashes_b: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    max_distance: int,
    within: bool,
) -> tuple[np.ndarray, np.ndarray]:
    keep = _popcount(hashes_a[rows] ^ hashes_b[cols]) <= max_distance
    if within:
        keep &= rows < cols
    keys = np.unique(rows[keep] * np.int64(hashes_b.size) + cols[keep])  # one per pair, sorted
    return keys // hashes_b.size, keys % hashes_b.size


class _BucketIndex:
    """Pigeonhole buckets: ``max_distance + 1`` disjoint bit chunks; for each chunk, the rows of
    ``hashes_a`` and the (sorted) columns of ``hashes_b`` that share the chunk's value."""

    def __init__(self, hashes_a: np.ndarray, hashes_b: np.ndarray, max_distance: int) -> None:
        chunks = max_distance + 1
        widths = [HASH_BITS // chunks + (1 if c < HASH_BITS % chunks else 0) for c in range(chunks)]
        shifts = np.cumsum([0, *widths[:-1]])
        self.orders: list[np.ndarray] = []
        starts, counts = [], []
        for shift, width in zip(shifts.tolist(), widths, strict=True):
            mask = np.uint64((1 << width) - 1)
            keys_a = (hashes_a >> np.uint64(shift)) & mask
            keys_b = (hashes_b >> np.uint64(shift)) & mask
            order = np.argsort(keys_b, kind="stable")
            sorted_b = keys_b[order]
            low = np.searchsorted(sorted_b, keys_a, side="left")
            high = np.searchsorted(sorted_b, keys_a, side="right")
            self.orders.append(order)
            starts.append(low)
            counts.append(high - low)
        self.starts = np.stack(starts).astype(np.int64)  # (chunks, rows)
        self.counts = np.stack(counts).astype(np.int64)
        self.total = int(self.counts.sum())

    def candidates(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, columns) of candidate pairs, in blocks of rows of about ``_BLOCK_PAIRS``."""
        per_row = self.counts.sum(axis=0)
        ends = np.cumsum(per_row)
        start, n_rows = 0, per_row.size
        while start < n_rows:
            before = int(ends[start] - per_row[start])
            stop = int(np.searchsorted(ends, before + _BLOCK_PAIRS, side="right"))
            stop = min(max(stop, start + 1), n_rows)
            yield self._block(start, stop)
            start = stop

    def _block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for chunk, order in enumerate(self.orders):
            counts = self.counts[chunk, start:stop]
            total = int(counts.sum())
            if not total:
                continue
            first = np.cumsum(counts) - counts
            offsets = np.arange(total, dtype=np.int64) - np.repeat(first, counts)
            rows.append(np.repeat(np.arange(start, stop, dtype=np.int64), counts))
            cols.append(order[np.repeat(self.starts[chunk, start:stop], counts) + offsets])
        return np.concatenate(rows), np.concatenate(cols).astype(np.int64)


def _all_pairs(
    hashes_a: np.ndarray, hashes_b: np.ndarray, max_distance: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The (row, column) pairs within ``max_distance``, comparing every pair, in blocks of
    rows of about ``_BLOCK_PAIRS`` pairs."""
    step = max(1, _BLOCK_PAIRS // hashes_b.size)
    for start in range(0, hashes_a.size, step):
        stop = min(start + step, hashes_a.size)
        near = _popcount(hashes_a[start:stop, None] ^ hashes_b[None, :]) <= max_distance
        rows, cols = np.nonzero(near)
        yield rows.astype(np.int64) + start, cols.astype(np.int64)


def _popcount(values: np.ndarray) -> np.ndarray:
    bitwise_count = getattr(np, "bitwise_count", None)  # numpy >= 2.0
    if bitwise_count is not None:
        return np.asarray(bitwise_count(values))
    as_bytes = np.ascontiguousarray(values, dtype=np.uint64).view(np.uint8)
    return _BYTE_POPCOUNT[as_bytes.reshape(*values.shape, 8)].sum(axis=-1, dtype=np.uint8)


# -- grouping and reporting --------------------------------------------------------------------


def group_pairs(pairs: Sequence[DuplicatePair]) -> list[list[Path]]:
    """Connected groups of duplicates (a ~ b and b ~ c put a, b, c in one group), each sorted
    by path; the biggest groups first."""
    parent: dict[Path, Path] = {}

    def root(path: Path) -> Path:
        parent.setdefault(path, path)
        while parent[path] != path:
            parent[path] = parent[parent[path]]
            path = parent[path]
        return path

    for pair in pairs:
        parent[root(pair.a)] = root(pair.b)
    groups: dict[Path, list[Path]] = defaultdict(list)
    for path in list(parent):
        groups[root(path)].append(path)
    members = [sorted(group, key=Path.as_posix) for group in groups.values()]
    return sorted(members, key=lambda group: (-len(group), group[0].as_posix()))


def summarize(
    pairs: Sequence[DuplicatePair],
    hashes_a: Sequence[ImageHash],
    hashes_b: Sequence[ImageHash] | None = None,
) -> DupesSummary:
    exact = sum(1 for pair in pairs if pair.kind == EXACT)
    return DupesSummary(
        images_a=len(hashes_a),
        images_b=None if hashes_b is None else len(hashes_b),
        unreadable_a=sum(1 for h in hashes_a if not h.ok),
        unreadable_b=0 if hashes_b is None else sum(1 for h in hashes_b if not h.ok),
        exact_pairs=exact,
        near_pairs=len(pairs) - exact,
    )


def summary_lines(
    pairs: Sequence[DuplicatePair],
    hashes_a: Sequence[ImageHash],
    hashes_b: Sequence[ImageHash] | None = None,
    limit: int = 20,
    *,
    root_a: Path | None = None,
    root_b: Path | None = None,
    name_a: str = "train",
    name_b: str = "test",
) -> list[str]:
    """Human-readable report: a summary line, then up to ``limit`` pairs and up to ``limit``
    unreadable files. Paths are shown relative to ``root_a`` / ``root_b`` when under them
    (within one set, both sides relative to ``root_a``)."""
    summary = summarize(pairs, hashes_a, hashes_b)
    found = f"{summary.exact_pairs:,} exact and {summary.near_pairs:,} near-duplicate "
    found += "pair" if len(pairs) == 1 else "pairs"
    if summary.images_b is None:
        found += f" among {_images(summary.images_a)}"
    else:
        found += f" between {name_a} ({_images(summary.images_a)})"
        found += f" and {name_b} ({_images(summary.images_b)})"
    if summary.unreadable:
        found += f"; {summary.unreadable:,} unreadable"
    lines = [found]
    other_root = root_a if hashes_b is None else root_b
    for pair in pairs[:limit]:
        x, y = _shown(pair.a, root_a), _shown(pair.b, other_root)
        if pair.kind == EXACT:
            lines.append(f"exact  {x}  ==  {y}")
        else:
            lines.append(f"near   {x}  ~  {y}  (distance {pair.distance})")
    if len(pairs) > limit:
        lines.append(f"... and {len(pairs) - limit:,} more")
    bad = list(_unreadable(hashes_a, hashes_b, root_a, root_b))
    lines += [f"unreadable  {_shown(h.path, r)}: {h.error}" for _, h, r in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"... and {len(bad) - limit:,} more unreadable")
    return lines


def dupes_json(
    pairs: Sequence[DuplicatePair],
    hashes_a: Sequence[ImageHash],
    hashes_b: Sequence[ImageHash] | None = None,
    *,
    root_a: Path | None = None,
    root_b: Path | None = None,
    max_distance: int | None = None,
) -> dict[str, Any]:
    """The search as JSON-ready data: mode, counts, every pair and every unreadable file
    (paths as in :func:`summary_lines`; ``set`` says which set an unreadable file is in)."""
    summary = summarize(pairs, hashes_a, hashes_b)
    other_root = root_a if hashes_b is None else root_b
    return {
        "mode": "within" if hashes_b is None else "between",
        "max_distance": max_distance,
        "counts": {
            "images_a": summary.images_a,
            "images_b": summary.images_b,
            "unreadable": summary.unreadable,
            "exact_pairs": summary.exact_pairs,
            "near_pairs": summary.near_pairs,
        },
        "pairs": [
            {
                "a": _shown(pair.a, root_a),
                "b": _shown(pair.b, other_root),
                "kind": pair.kind,
                "distance": pair.distance,
            }
            for pair in pairs
        ],
        "unreadable": [
            {"set": side, "path": _shown(h.path, root), "error": h.error}
            for side, h, root in _unreadable(hashes_a, hashes_b, root_a, root_b)
        ],
    }


def _unreadable(
    hashes_a: Sequence[ImageHash],
    hashes_b: Sequence[ImageHash] | None,
    root_a: Path | None,
    root_b: Path | None,
) -> Iterator[tuple[str, ImageHash, Path | None]]:
    """(set, entry, root) of each unhashable entry: set "a" or "b"."""
    yield from (("a", h, root_a) for h in hashes_a if not h.ok)
    yield from (("b", h, root_b) for h in hashes_b or () if not h.ok)


def _shown(path: Path, root: Path | None) -> str:
    if root is not None and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return path.as_posix()


def _images(count: int) -> str:
    return f"{count:,} image" + ("" if count == 1 else "s")
