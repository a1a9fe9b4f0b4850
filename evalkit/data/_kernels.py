"""Compiled inner loops of the ImageNet-C corruptions (:mod:`evalkit.data.corruptions`).

Each kernel does the same float operations, in the same order, as the NumPy or SciPy expression
it replaces, so its output is bit-identical (tested against those expressions), but it walks the
image once, without whole-image temporaries, and without holding the GIL (the corruptions run in
the decode threads beside the model; glass blur's swap loop used to hold the GIL for about 5 ms
per copy). Compiled with numba on first use and cached on disk
(``cache=True``), so a later process loads them instead of compiling. Imported only when a
corruption runs, never by ``import evalkit``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(nogil=True, cache=True)


@_jit
def swap_pixels(order: np.ndarray, visit: np.ndarray, partners: np.ndarray) -> None:
    """Swap ``order[visit[k]]`` with ``order[partners[k]]`` for k = 0, 1, ... in sequence (glass
    blur's loop; a later swap sees the earlier ones)."""
    for k in range(visit.size):
        i, j = visit[k], partners[k]
        order[i], order[j] = order[j], order[i]


@_jit
def gaussian_nearest(planes: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
    """``scipy.ndimage.gaussian_filter(planes, (0, s, s), output=np.float32, mode="nearest")``
    of CxHxW uint8 ``planes`` (``weights``: the kernel's centre tap, then taps 1..r), truncated
    to uint8 into ``out`` as :func:`~evalkit.data.corruptions._floor_uint8` does. As SciPy's
    symmetric 1-D correlation: in float64, ``x[i] * w0``, then ``(x[i - j] + x[i + j]) * wj``
    added for j = r down to 1, along columns then along rows, each pass stored as float32."""
    h, w = planes.shape[1:]
    tall = np.empty((h, w), dtype=np.float32)
    line = np.empty(w, dtype=np.float64)
    padded = np.empty(w + 2 * (weights.size - 1), dtype=np.float64)
    for c in range(planes.shape[0]):
        _blur_columns(planes[c], weights, line, tall)
        _blur_rows(tall, weights, line, padded, out[c])


@_jit
def _blur_columns(
    plane: np.ndarray, weights: np.ndarray, line: np.ndarray, tall: np.ndarray
) -> None:
    """:func:`gaussian_nearest`'s first pass, down the columns, into float32 ``tall``."""
    h, w = plane.shape
    for y in range(h):
        for x in range(w):
            line[x] = np.float64(plane[y, x]) * weights[0]
        for j in range(weights.size - 1, 0, -1):
            above, below, weight = plane[max(y - j, 0)], plane[min(y + j, h - 1)], weights[j]
            for x in range(w):
                line[x] += (np.float64(above[x]) + np.float64(below[x])) * weight
        for x in range(w):
            tall[y, x] = np.float32(line[x])


@_jit
def _blur_rows(
    tall: np.ndarray, weights: np.ndarray, line: np.ndarray, padded: np.ndarray, out: np.ndarray
) -> None:
    """:func:`gaussian_nearest`'s second pass, along the rows, truncated to uint8 ``out``."""
    radius = weights.size - 1
    for y in range(tall.shape[0]):
        _pad_edges(tall[y], radius, padded)
        for x in range(line.size):
            line[x] = padded[radius + x] * weights[0]
        for j in range(radius, 0, -1):
            left, right, weight = padded[radius - j :], padded[radius + j :], weights[j]
            for x in range(line.size):
                line[x] += (left[x] + right[x]) * weight
        for x in range(line.size):
            out[y, x] = _floor_level(np.float32(line[x]))


@_jit
def _pad_edges(row: np.ndarray, radius: int, padded: np.ndarray) -> None:
    """``row`` in float64 with its edge values repeated ``radius`` times on each side."""
    w = row.size
    for x in range(radius):
        padded[x] = row[0]
        padded[radius + w + x] = row[w - 1]
    for x in range(w):
        padded[radius + x] = row[x]


@_jit
def _floor_level(value: np.float32) -> np.uint8:
    """A 0-255 float32 truncated to uint8 with the 1e-3 round-off guard (``_floor_uint8``)."""
    clipped = min(max(value, np.float32(0.0)), np.float32(255.0))
    return np.uint8(clipped + np.float32(1e-3))


@_jit
def zoom_add(
    planes: np.ndarray,
    total: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    cols: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """``total += `` the CxHxW ``planes`` linearly interpolated at the taps ``rows`` and ``cols``
    (each: lower index, upper index, upper weight in the planes' dtype; increasing), as
    ``a + (b - a) * t`` in that dtype: columns first, on the rows the row taps reach, then
    rows."""
    row_low, row_high, row_frac = rows
    col_low, col_high, col_frac = cols
    first = row_low[0]
    reached = np.empty((row_high[-1] + 1 - first, col_low.size), dtype=planes.dtype)
    for c in range(planes.shape[0]):
        for r in range(reached.shape[0]):
            source, target = planes[c, first + r], reached[r]
            for x in range(col_low.size):
                a = source[col_low[x]]
                target[x] = a + (source[col_high[x]] - a) * col_frac[x]
        for y in range(row_low.size):
            low, high, t = reached[row_low[y] - first], reached[row_high[y] - first], row_frac[y]
            target = total[c, y]
            for x in range(col_low.size):
                a = low[x]
                target[x] += a + (high[x] - a) * t


@_jit
def _fold(index: int, n: int, reflect: bool) -> int:
    """An index outside 0..n-1 folded back by the border (``reflect``: d c b a | a b c d, else
    ``mirror``: d c b | a b c d)."""
    if 0 <= index < n:
        return index
    if n == 1:
        return 0
    period = 2 * n if reflect else 2 * n - 2
    index %= period
    if index >= n:
        index = period - (1 if reflect else 0) - index
    return index


@_jit
def bilinear(
    planes: np.ndarray, rows: np.ndarray, cols: np.ndarray, reflect: bool, out: np.ndarray
) -> None:
    """``scipy.ndimage.map_coordinates(order=1)`` of each of the CxHxW ``planes`` at the float64
    coordinates (rows, cols) into ``out`` (C x rows.shape), in the planes' dtype: ``a + (b - a)
    * t`` along columns for the two rows, then between them; neighbours outside the image folded
    back by the border mode."""
    channels, h, w = planes.shape
    for y in range(rows.shape[0]):
        for x in range(rows.shape[1]):
            r, c = rows[y, x], cols[y, x]
            top, left = math.floor(r), math.floor(c)
            down, right = planes.dtype.type(r - top), planes.dtype.type(c - left)
            ra, rb = _fold(top, h, reflect), _fold(top + 1, h, reflect)
            ca, cb = _fold(left, w, reflect), _fold(left + 1, w, reflect)
            for k in range(channels):
                a = planes[k, ra, ca]
                upper = a + (planes[k, ra, cb] - a) * right
                a = planes[k, rb, ca]
                lower = a + (planes[k, rb, cb] - a) * right
                out[k, y, x] = upper + (lower - upper) * down


@_jit
def add_taps(
    image: np.ndarray,
    channels: int,
    taps: tuple[np.ndarray, np.ndarray, np.ndarray],
    out: np.ndarray,
) -> None:
    """``out += sum_k w_k * image[y + dy_k, x + dx_k]`` for an image of ``channels`` channels
    given as H x (W * channels) rows, into float32 ``out`` of the same shape, each product
    rounded to float32 and added in tap order (``taps``: dy, dx, float32 w); outside pixels
    are the edge pixels repeated."""
    h, w = image.shape[0], image.shape[1] // channels
    dy, dx, weights = taps
    for y in range(h):
        target = out[y]
        for k in range(weights.size):
            source, weight, shift = image[min(max(y + dy[k], 0), h - 1)], weights[k], dx[k]
            inside_from, inside_to = max(0, -shift), max(0, min(w, w - shift))
            for x in range(min(inside_from, w)):  # left of the image: its first pixel
                for c in range(channels):
                    target[x * channels + c] += np.float32(source[c]) * weight
            start, stop = inside_from * channels, inside_to * channels
            inside, shifted = target[start:stop], source[start + shift * channels :]
            for i in range(inside.size):  # (views: no negative index to wrap, so it vectorizes)
                inside[i] += np.float32(shifted[i]) * weight
            last = (w - 1) * channels
            for x in range(max(inside_to, inside_from), w):  # right of it: its last pixel
                for c in range(channels):
                    target[x * channels + c] += np.float32(source[last + c]) * weight


@_jit
def poisson_counts(
    image: np.ndarray,
    uniforms: np.ndarray,
    tables: tuple[np.ndarray, np.ndarray, int, int],
    out: np.ndarray,
) -> None:
    """Each value's Poisson count of a flat uint8 ``image`` into ``out``, by inversion: the
    first count whose CDF exceeds the value's uniform, searched from its guide-table cell
    (``tables``: flat CDFs, guide, row width, guide cells per level)."""
    cdf, guide, width, cells = tables
    for i in range(image.size):
        level, u = np.intp(image[i]), uniforms[i]
        at = guide[level * cells + np.intp(u * cells)]
        while cdf[at] <= u:
            at += 1
        out[i] = at - level * width
