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
def swap_pixels(order: np.ndarray, visit: np.ndarray, steps: np.ndarray, draws: np.ndarray) -> None:
    """Swap ``order[visit[k]]`` with ``order[visit[k] + steps[draws[k]]]`` for k = 0, 1, ... in
    sequence (glass blur's loop; a later swap sees the earlier ones)."""
    for k in range(visit.size):
        i = visit[k]
        j = i + steps[draws[k]]
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
    for y in range(rows.shape[0]):
        _bilinear_row(planes, rows[y], cols[y], reflect, out, y)


@_jit
def affine_bilinear(
    planes: np.ndarray, inverse: np.ndarray, reflect: bool, out: np.ndarray
) -> None:
    """:func:`bilinear` at the coordinates of an affine map, computed row by row as the NumPy
    broadcast does: column ``inverse[0, 0] * x + (inverse[0, 1] * y + inverse[0, 2])`` and
    row ``inverse[1, 0] * x + (inverse[1, 1] * y + inverse[1, 2])`` (float64; ``inverse``: the
    2x3 map from output (x, y) to input)."""
    width = out.shape[2]
    rows, cols = np.empty(width, dtype=np.float64), np.empty(width, dtype=np.float64)
    for y in range(out.shape[1]):
        fy = np.float64(y)
        col_y, row_y = inverse[0, 1] * fy + inverse[0, 2], inverse[1, 1] * fy + inverse[1, 2]
        for x in range(width):
            fx = np.float64(x)
            cols[x], rows[x] = inverse[0, 0] * fx + col_y, inverse[1, 0] * fx + row_y
        _bilinear_row(planes, rows, cols, reflect, out, y)


@_jit
def _bilinear_row(
    planes: np.ndarray, rows: np.ndarray, cols: np.ndarray, reflect: bool, out: np.ndarray, y: int
) -> None:
    """:func:`bilinear`'s output row ``y``, sampled at (rows[x], cols[x])."""
    channels, h, w = planes.shape
    for x in range(rows.size):
        r, c = rows[x], cols[x]
        top, left = math.floor(r), math.floor(c)
        down, right = planes.dtype.type(r - top), planes.dtype.type(c - left)
        if 0 <= top < h - 1 and 0 <= left < w - 1:  # inside: no folding (most pixels)
            ra, rb, ca, cb = top, top + 1, left, left + 1
        else:
            ra, rb = _fold(top, h, reflect), _fold(top + 1, h, reflect)
            ca, cb = _fold(left, w, reflect), _fold(left + 1, w, reflect)
        # unsigned indices: numba then skips the wrap-around check of a negative index
        ra, rb, ca, cb = np.uintp(ra), np.uintp(rb), np.uintp(ca), np.uintp(cb)
        for k in range(channels):
            plane = planes[k]
            a = plane[ra, ca]
            upper = a + (plane[ra, cb] - a) * right
            a = plane[rb, ca]
            lower = a + (plane[rb, cb] - a) * right
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


@_jit
def level_planes(image: np.ndarray, levels: np.ndarray, out: np.ndarray) -> None:
    """``out[c, y, x] = levels[image[y, x, c]]``: an HxWxC uint8 image as CxHxW planes of its
    levels' values (``levels``: one value per level, such as ``x / 255`` rounded to float32)."""
    h, w, channels = image.shape
    for y in range(h):
        for x in range(w):
            for c in range(channels):
                out[c, y, x] = levels[image[y, x, c]]


@_jit
def planes_to_image(planes: np.ndarray, eps: float, out: np.ndarray) -> None:
    """CxHxW float ``planes`` on [0, 1] to an HxWxC uint8 image ``out`` as
    :func:`~evalkit.data.corruptions._to_uint8` of the planes moved to the last axis:
    ``clip(v, 0, 1) * 255 + eps`` truncated, each step in the planes' dtype (``eps`` too)."""
    channels, h, w = planes.shape
    kind = planes.dtype.type
    zero, one, scale = kind(0.0), kind(1.0), kind(255.0)
    for y in range(h):
        for x in range(w):
            for c in range(channels):
                value = min(max(planes[c, y, x], zero), one) * scale
                out[y, x, c] = np.uint8(value + eps)


@_jit
def snow_blend(
    image: np.ndarray,
    levels: np.ndarray,
    layer: np.ndarray,
    weights: tuple[np.float32, np.float32],
    out: np.ndarray,
) -> None:
    """Snow's last step on an HxWx3 uint8 ``image`` into ``out``, per value ``p`` (the level's
    float32 ``x / 255``) and in float32 as the NumPy expression it replaces: the pixel's grey
    lifted (``0.299 r * 1.5 + 0.587 g * 1.5 + 0.114 b * 1.5 + 0.5``, added in that order),
    ``(p * weight + max(p, lifted) * (1 - weight)) * 255`` plus the snow layer (uint8 HxW)
    and the layer turned 180 degrees, truncated as ``_floor_uint8`` does."""
    h, w = layer.shape
    kept, snowy = weights
    red, green, blue = np.float32(0.299 * 1.5), np.float32(0.587 * 1.5), np.float32(0.114 * 1.5)
    for y in range(h):
        for x in range(w):
            r, g, b = levels[image[y, x, 0]], levels[image[y, x, 1]], levels[image[y, x, 2]]
            lifted = r * red
            lifted += g * green
            lifted += b * blue
            lifted += np.float32(0.5)
            flakes = np.float32(layer[y, x]) + np.float32(layer[h - 1 - y, w - 1 - x])
            for c in range(3):
                p = levels[image[y, x, c]]
                value = (p * kept + max(p, lifted) * snowy) * np.float32(255.0) + flakes
                out[y, x, c] = _floor_level(value)


@_jit
def gaussian_reflect(field: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
    """``scipy.ndimage.gaussian_filter(field, s, mode="reflect")`` of an HxW float64 ``field``
    into ``out`` (``weights``: the kernel's centre tap, then taps 1..r): SciPy's symmetric 1-D
    correlation in float64 (``x[i] * w0``, then ``(x[i - j] + x[i + j]) * wj`` added for j = r
    down to 1), down the columns and then along the rows, neighbours outside the field folded
    back (d c b a | a b c d)."""
    h, w = field.shape
    radius = weights.size - 1
    tall = np.empty((h, w), dtype=np.float64)
    for y in range(h):
        line = tall[y]
        for x in range(w):
            line[x] = field[y, x] * weights[0]
        for j in range(radius, 0, -1):
            above, below = field[_fold(y - j, h, True)], field[_fold(y + j, h, True)]
            weight = weights[j]
            for x in range(w):
                line[x] += (above[x] + below[x]) * weight
    padded = np.empty(w + 2 * radius, dtype=np.float64)
    for y in range(h):
        for x in range(w + 2 * radius):
            padded[x] = tall[y, _fold(x - radius, w, True)]
        line = out[y]
        for x in range(w):
            line[x] = padded[radius + x] * weights[0]
        for j in range(radius, 0, -1):
            left, right, weight = padded[radius - j :], padded[radius + j :], weights[j]
            for x in range(w):
                line[x] += (left[x] + right[x]) * weight


# ---------------------------------------------------------------- the JPEG step
# Pillow's JPEG save (libjpeg-turbo: 4:2:0, islow DCT) and load (islow IDCT, fancy upsampling)
# without the entropy coding, which is lossless: the same integer arithmetic as libjpeg's C code
# (jccolor, jcsample, jfdctint, jcdctmgr's quantization by reciprocal, jidctint, jdsample,
# jdcolor), whose SIMD versions give the same bits. Tested against Pillow's own round trip.

_CONST_BITS, _PASS1_BITS = 13, 2
_F0298, _F0390, _F0541, _F0765 = 2446, 3196, 4433, 6270  # FIX(0.298631336) ... (13 bits)
_F0899, _F1175, _F1501, _F1847 = 7373, 9633, 12299, 15137
_F1961, _F2053, _F2562, _F3072 = 16069, 16819, 20995, 25172


def _fix16(x: float) -> float:
    """libjpeg's colour constant ``FIX(x)`` (16 fraction bits), as a float (exact)."""
    return float(int(x * 65536 + 0.5))


# RGB -> YCbCr (jccolor.c): Y = (FIX(.299) R + FIX(.587) G + FIX(.114) B + 1/2) >> 16 ...
_Y = (_fix16(0.299), _fix16(0.587), _fix16(0.114))
_CB = (-_fix16(0.16874), -_fix16(0.33126), _fix16(0.5))
_CR = (_fix16(0.5), -_fix16(0.41869), -_fix16(0.08131))
_HALF = float(1 << 15)
_CHROMA_OFFSET = float((128 << 16) + (1 << 15) - 1)
# YCbCr -> RGB (jdcolor.c)
_R_CR, _B_CB, _G_CR, _G_CB = _fix16(1.402), _fix16(1.772), -_fix16(0.71414), -_fix16(0.34414)
_UNIT = 1.0 / 65536.0


@_jit
def jpeg_lossy(image: np.ndarray, tables: np.ndarray, limit: np.ndarray, out: np.ndarray) -> None:
    """The pixels of an HxWx3 uint8 ``image`` (H and W multiples of 16) saved as a 4:2:0 JPEG
    and decoded, into ``out``. ``tables``: per component (luma, chroma), the quantization
    table and its reciprocal, correction and shift (4 x 64, natural order); ``limit``: the
    decoder's 1024-entry range table after the IDCT."""
    h, w = image.shape[:2]
    luma = np.empty((h, w), dtype=np.uint8)
    chroma = np.empty((2, h, w), dtype=np.uint8)
    _ycc(image, luma, chroma)
    small = np.empty((2, h // 2, w // 2), dtype=np.uint8)
    _downsample(chroma, small)
    _lossy_plane(luma, tables[0], limit)
    for k in range(2):
        _lossy_plane(small[k], tables[1], limit)
    _upsample(small, chroma)
    _rgb(luma, chroma, out)


@_jit
def _ycc(image: np.ndarray, luma: np.ndarray, chroma: np.ndarray) -> None:
    """jccolor.c's RGB to YCbCr, in float64: every term is an integer below 2**25, so the
    sums are exact and the scaling by 2**-16 then truncation is libjpeg's shift (and faster)."""
    h, w = luma.shape
    y_r, y_g, y_b = _Y
    cb_r, cb_g, cb_b = _CB
    cr_r, cr_g, cr_b = _CR
    half, offset, unit = _HALF, _CHROMA_OFFSET, _UNIT
    pixels = image.reshape(h, w * 3)
    for y in range(h):
        source, lumas, blues, reds = pixels[y], luma[y], chroma[0, y], chroma[1, y]
        for x in range(w):
            r = np.float64(source[3 * x])
            g = np.float64(source[3 * x + 1])
            b = np.float64(source[3 * x + 2])
            lumas[x] = np.int32((y_r * r + y_g * g + y_b * b + half) * unit)
            blues[x] = np.int32((cb_r * r + cb_g * g + cb_b * b + offset) * unit)
            reds[x] = np.int32((cr_r * r + cr_g * g + cr_b * b + offset) * unit)


@_jit
def _downsample(chroma: np.ndarray, small: np.ndarray) -> None:
    """jcsample.c's h2v2: the mean of each 2x2, rounded with a bias of 1, 2, 1, 2, ..."""
    for k in range(2):
        for y in range(small.shape[1]):
            upper, lower, target = chroma[k, 2 * y], chroma[k, 2 * y + 1], small[k, y]
            for x in range(small.shape[2]):
                total = np.int32(upper[2 * x]) + upper[2 * x + 1] + lower[2 * x] + lower[2 * x + 1]
                target[x] = (total + 1 + (x & 1)) >> 2


@_jit
def _lossy_plane(plane: np.ndarray, table: np.ndarray, limit: np.ndarray) -> None:
    """One component through the forward DCT, quantization, dequantization and inverse DCT,
    in place. The blocks are laid out as 64 rows of one value per block, so each 1-D pass
    runs across all blocks at once (vectorized)."""
    h, w = plane.shape
    blocks = np.empty((64, (h // 8) * (w // 8)), dtype=np.int32)
    _blocks(plane, blocks, True)
    _fdct_pass(blocks, 1, 8, True)  # rows (line k: values k*8 + j)
    _fdct_pass(blocks, 8, 1, False)  # columns
    _quantized(blocks, table)
    _idct_pass(blocks, 8, 1, True, limit)  # columns
    _idct_pass(blocks, 1, 8, False, limit)  # rows, to samples
    _blocks(plane, blocks, False)


@_jit
def _blocks(plane: np.ndarray, blocks: np.ndarray, into: bool) -> None:
    """The plane's 8x8 blocks as 64 rows of one value per block, centred on 0 (``into``), or
    the blocks' samples back into the plane."""
    per_row = plane.shape[1] // 8
    for y in range(plane.shape[0]):
        first, r, row = (y // 8) * per_row, (y % 8) * 8, plane[y]
        for bx in range(per_row):
            for c in range(8):
                if into:
                    blocks[r + c, first + bx] = np.int32(row[8 * bx + c]) - 128
                else:
                    row[8 * bx + c] = blocks[r + c, first + bx]


@_jit
def _descale(value: int | np.int64, bits: int) -> int | np.int64:
    return (value + (1 << (bits - 1))) >> bits


@_jit
def _lines(blocks: np.ndarray, k: int, stride: int, step: int) -> tuple[np.ndarray, ...]:
    """Line k of every block as 8 rows of ``blocks`` (value j at row k * step + j * stride)."""
    a = k * step
    return (
        blocks[a],
        blocks[a + stride],
        blocks[a + 2 * stride],
        blocks[a + 3 * stride],
        blocks[a + 4 * stride],
        blocks[a + 5 * stride],
        blocks[a + 6 * stride],
        blocks[a + 7 * stride],
    )


@_jit
def _even_rotation(a: np.int64, b: np.int64) -> tuple[np.int64, np.int64]:
    """The even part's rotator (sqrt(2) c6) shared by the forward and inverse DCT."""
    z1 = (a + b) * _F0541
    return z1 + a * _F0765, z1 - b * _F1847


@_jit
def _odd_part(
    i0: np.int64, i1: np.int64, i2: np.int64, i3: np.int64
) -> tuple[np.int64, np.int64, np.int64, np.int64]:
    """The odd part (LL&M figure 8) shared by the forward DCT (i0..i3 = tmp4..tmp7) and the
    inverse (the coefficients 7, 5, 3, 1): its four outputs before descaling."""
    z1, z2, z3, z4 = i0 + i3, i1 + i2, i0 + i2, i1 + i3
    z5 = (z3 + z4) * _F1175
    z1, z2 = z1 * -_F0899, z2 * -_F2562
    z3, z4 = z3 * -_F1961 + z5, z4 * -_F0390 + z5
    return (
        i0 * _F0298 + z1 + z3,
        i1 * _F2053 + z2 + z4,
        i2 * _F3072 + z2 + z3,
        i3 * _F1501 + z1 + z4,
    )


@_jit
def _fdct_pass(blocks: np.ndarray, stride: int, step: int, first: bool) -> None:
    """One pass of jfdctint.c's islow forward DCT over every block, on the 8 lines of
    :func:`_lines`; the first pass scales by 2**PASS1_BITS."""
    bits = _CONST_BITS - _PASS1_BITS if first else _CONST_BITS + _PASS1_BITS
    for k in range(8):
        v0, v1, v2, v3, v4, v5, v6, v7 = _lines(blocks, k, stride, step)
        for b in range(blocks.shape[1]):
            tmp0, tmp7 = np.int64(v0[b]) + v7[b], np.int64(v0[b]) - v7[b]
            tmp1, tmp6 = np.int64(v1[b]) + v6[b], np.int64(v1[b]) - v6[b]
            tmp2, tmp5 = np.int64(v2[b]) + v5[b], np.int64(v2[b]) - v5[b]
            tmp3, tmp4 = np.int64(v3[b]) + v4[b], np.int64(v3[b]) - v4[b]
            tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
            if first:
                out0, out4 = (tmp10 + tmp11) << _PASS1_BITS, (tmp10 - tmp11) << _PASS1_BITS
            else:
                out0 = _descale(tmp10 + tmp11, _PASS1_BITS)
                out4 = _descale(tmp10 - tmp11, _PASS1_BITS)
            out2, out6 = _even_rotation(tmp13, tmp12)
            out7, out5, out3, out1 = _odd_part(tmp4, tmp5, tmp6, tmp7)
            v0[b], v4[b] = out0, out4
            v2[b], v6[b] = _descale(out2, bits), _descale(out6, bits)
            v7[b], v5[b] = _descale(out7, bits), _descale(out5, bits)
            v3[b], v1[b] = _descale(out3, bits), _descale(out1, bits)


@_jit
def _quantized(blocks: np.ndarray, table: np.ndarray) -> None:
    """jcdctmgr.c's quantization (magnitude ``((|v| + corr) * recip) >> shift``, the sign put
    back), then the decoder's dequantization (times the table's value)."""
    quant, reciprocal, correction, shift = table[0], table[1], table[2], table[3]
    for p in range(64):
        row, recip, corr, bits, step = blocks[p], reciprocal[p], correction[p], shift[p], quant[p]
        for b in range(row.size):
            value = np.int64(row[b])
            level = ((abs(value) + corr) * recip) >> bits
            row[b] = (-level if value < 0 else level) * step


@_jit
def _idct_pass(blocks: np.ndarray, stride: int, step: int, first: bool, limit: np.ndarray) -> None:
    """One pass of jidctint.c's islow inverse DCT over every block (lines as in
    :func:`_fdct_pass`); the second gives the samples through the range table."""
    bits = _CONST_BITS - _PASS1_BITS if first else _CONST_BITS + _PASS1_BITS + 3
    for k in range(8):
        v0, v1, v2, v3, v4, v5, v6, v7 = _lines(blocks, k, stride, step)
        for b in range(blocks.shape[1]):
            tmp3, tmp2 = _even_rotation(np.int64(v2[b]), np.int64(v6[b]))
            tmp0 = (np.int64(v0[b]) + v4[b]) << _CONST_BITS
            tmp1 = (np.int64(v0[b]) - v4[b]) << _CONST_BITS
            tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
            tmp0, tmp1, tmp2, tmp3 = _odd_part(
                np.int64(v7[b]), np.int64(v5[b]), np.int64(v3[b]), np.int64(v1[b])
            )
            outs = (
                _descale(tmp10 + tmp3, bits),
                _descale(tmp11 + tmp2, bits),
                _descale(tmp12 + tmp1, bits),
                _descale(tmp13 + tmp0, bits),
                _descale(tmp13 - tmp0, bits),
                _descale(tmp12 - tmp1, bits),
                _descale(tmp11 - tmp2, bits),
                _descale(tmp10 - tmp3, bits),
            )
            if first:
                v0[b], v1[b], v2[b], v3[b], v4[b], v5[b], v6[b], v7[b] = outs
            else:
                v0[b], v1[b] = limit[outs[0] & 1023], limit[outs[1] & 1023]
                v2[b], v3[b] = limit[outs[2] & 1023], limit[outs[3] & 1023]
                v4[b], v5[b] = limit[outs[4] & 1023], limit[outs[5] & 1023]
                v6[b], v7[b] = limit[outs[6] & 1023], limit[outs[7] & 1023]


@_jit
def _upsample(small: np.ndarray, chroma: np.ndarray) -> None:
    """jdsample.c's h2v2 fancy upsampling: 3/4 of the nearer and 1/4 of the further sample in
    each direction (the edge rows and columns repeated), rounded 8, 7, 8, 7, ..."""
    rows, cols = small.shape[1:]
    sums = np.empty(cols + 2, dtype=np.int32)  # a row's column sums, its edges repeated
    for k in range(2):
        for y in range(rows):
            for below in range(2):
                near = small[k, y]
                far = small[k, min(y + 1, rows - 1)] if below else small[k, max(y - 1, 0)]
                for x in range(cols):
                    sums[x + 1] = np.int32(near[x]) * 3 + far[x]
                sums[0], sums[cols + 1] = sums[1], sums[cols]
                target = chroma[k, 2 * y + below]
                for x in range(cols):
                    nearer = sums[x + 1] * 3
                    target[2 * x] = (nearer + sums[x] + 8) >> 4
                    target[2 * x + 1] = (nearer + sums[x + 2] + 7) >> 4


@_jit
def _rgb(luma: np.ndarray, chroma: np.ndarray, out: np.ndarray) -> None:
    """jdcolor.c's YCbCr to RGB (its tables' values computed in place), clamped to 0-255."""
    h, w = luma.shape
    r_cr, b_cb, g_cr, g_cb = int(_R_CR), int(_B_CB), int(_G_CR), int(_G_CB)
    half = int(_HALF)
    pixels = out.reshape(h, w * 3)
    for y in range(h):
        lumas, blues, reds, target = luma[y], chroma[0, y], chroma[1, y], pixels[y]
        for x in range(w):
            level = np.int64(lumas[x])
            blue, red = np.int64(blues[x]) - 128, np.int64(reds[x]) - 128
            target[3 * x] = min(max(level + ((r_cr * red + half) >> 16), 0), 255)
            target[3 * x + 1] = min(max(level + ((g_cb * blue + half + g_cr * red) >> 16), 0), 255)
            target[3 * x + 2] = min(max(level + ((b_cb * blue + half) >> 16), 0), 255)
