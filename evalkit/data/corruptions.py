"""The 15 ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019), severities 1-5, in NumPy,
SciPy and Pillow only (no OpenCV, scikit-image, Wand/ImageMagick or ``imagecorruptions``).

Protocol
--------
The reference resizes each validation image to 256 (shorter side), takes the 224x224 centre
crop, applies the corruption to that crop, and saves the result as a JPEG with Pillow
(``Image.fromarray(np.uint8(img)).save(path, quality=85, optimize=True)``); models then read
those JPEGs with their usual normalization. :func:`corrupt` is the corruption step (uint8 in,
uint8 out, same shape); :func:`jpeg_roundtrip` is the quality-85 JPEG step done in memory, so a
caller can reproduce the published files ("jpeg" protocol) or skip it ("memory" protocol).
Randomness comes only from ``np.random.default_rng(seed)``; :func:`sample_seed` derives a stable
per-(sample, corruption, severity) seed from a run seed with SHA-256.

Parameter source
----------------
Every per-severity parameter below is taken from ``ImageNet-C/create_c/make_imagenet_c.py`` of
https://github.com/hendrycks/robustness, repository HEAD
``8190fe329f5f072a06e3a2aea02bb5dda69aed9f`` (the file last changed in
``e0377d46411fa30c01a9559017bdb6a5f78d4abf``, 2018-09-28). The code here is an independent
implementation; the third-party operations the reference calls were re-derived from their
sources: ImageMagick's ``MotionBlurImage`` (``MagickCore/effect.c``: a one-sided half-Gaussian
of ``2*ceil(radius)+1`` taps along the angle, edge pixels repeated), OpenCV's ``GaussianBlur``
/``filter2D``/``warpAffine`` (reflect-101 borders), scikit-image's ``gaussian`` (``nearest``
borders, truncate 4), ``random_noise(mode="s&p")`` (each array element flipped with
probability ``amount``, half salt and half pepper, scikit-image >= 0.13) and ``rgb2hsv``.

Other input sizes
-----------------
The reference parameters are for 224x224. For an HxW image, lengths in pixels are multiplied by
``scale = min(H, W) / 224`` (exactly 1 for the reference crop, so nothing changes there): the
defocus disk radius and its anti-alias sigma, the glass-blur sigma and shuffle distance (rounded,
at least 1), the motion-blur radius and sigma (motion blur and snow), the snow flake zoom (at
least 1), the frost texture's feature sizes, and the elastic transform's ``244``-pixel base
(displacement, smoothing sigma and affine jitter). The fog fractal is drawn on the reference's
256 grid (a larger power of two if needed), cropped to ``H/scale x W/scale`` and resized to HxW,
so the fog looks the same relative to the image. Intensities (noise levels, blend weights,
JPEG qualities) and relative factors (zoom factors, pixelate factors) are not scaled. Non-square
images are handled axis by axis (the reference assumes square crops).

Differences from the reference
------------------------------
- Random numbers: NumPy's ``Generator`` (PCG64) seeded per sample instead of the global legacy
  ``np.random`` state, so the corrupted pixels are not bit-identical to the published ImageNet-C
  files; the distributions are the reference's.
- frost: the reference overlays random 224x224 crops of five photographs of frost
  (``frost1.png``-``frost5.jpg``, shipped in its repository; ``frost6.jpg`` is never drawn).
  They are not shipped here. A procedural, seeded texture is used instead: needle-like ice
  crystals (sparse seeds smeared along random directions), fine grain and a plasma-fractal haze,
  tinted blue-white and scaled to the photographs' measured statistics (channel means about
  (146, 167, 179), standard deviation about 28 on 0-255). The blend weights are the reference's.
  This is the largest difference: frost errors are not comparable to published frost numbers.
- motion_blur and snow: ImageMagick's motion blur (through Wand, with a PNG round trip) is
  re-implemented with the same one-sided Gaussian line kernel and edge handling, in float64
  truncated to 8 bits; against ImageMagick 6.9.11 Q16 (``convert -motion-blur``) about 0.2% of
  the output values differ, by 1.
- glass_blur: the reference's per-pixel swap loop is kept exactly in meaning (same visiting
  order, same offsets in ``[-d, d-1]``, swaps applied in sequence, so a pixel can travel more
  than ``d``), but the swaps are run on a flat list of pixel indices and the pixels are then
  gathered once with NumPy (about 15 ms instead of seconds).
- elastic_transform: OpenCV's ``getAffineTransform``/``warpAffine`` (fixed-point bilinear) is
  replaced by an exact affine solve and ``scipy.ndimage.map_coordinates`` (bilinear, reflect-101
  borders); the large Gaussian smoothing of the displacement fields is applied as an exact
  matrix product (same weights and ``reflect`` borders as ``scipy.ndimage.gaussian_filter``).
- brightness: scikit-image's HSV round trip with ``V += c`` is computed in closed form: each
  pixel's RGB is multiplied by ``min(V + c, 1) / V`` (a black pixel becomes grey ``c``), which
  is what the round trip does up to float round-off.
- zoom_blur: ``scipy.ndimage.zoom(order=1)`` is applied as separable linear-interpolation
  matrices with the same coordinate mapping (``(n_in - 1) / (n_out - 1)``).
- Quantisation: like the reference's ``np.uint8(...)`` cast, float results are truncated to
  uint8 (with a 1e-6 guard against float round-off). The defocus kernel keeps the reference's
  small excess mass at radii 8 and 10 (sum 1.013 and 1.011, from OpenCV's reflect-101 border
  when anti-aliasing the disk), i.e. severities 4 and 5 brighten by about 1%, as published.

Not differences, but easy to get wrong: impulse_noise flips each channel value independently
(scikit-image works on the HxWx3 array), not whole pixels; zoom_blur uses the reference's float
``np.arange`` factor lists (12, 16, 11, 13 and 11 factors, e.g. 1.00-1.11 at severity 1);
jpeg_compression and pixelate are the reference's own Pillow calls (JPEG output can vary by a
level or so between libjpeg builds).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage, signal

from evalkit.corruption_spec import CORRUPTIONS, GROUPS, SEVERITIES, STOCHASTIC

__all__ = [
    "CORRUPTIONS",
    "GROUPS",
    "SEVERITIES",
    "STOCHASTIC",
    "corrupt",
    "disk_kernel",
    "jpeg_roundtrip",
    "motion_kernel",
    "sample_seed",
]

REFERENCE_SIZE = 224
PROTOCOL_JPEG_QUALITY = 85

# ---- per-severity parameters (index = severity - 1), from make_imagenet_c.py (see docstring) ----
GAUSSIAN_STD = (0.08, 0.12, 0.18, 0.26, 0.38)  # std on the [0, 1] scale
SHOT_LAMBDA = (60, 25, 12, 5, 3)  # x -> Poisson(lambda * x) / lambda
IMPULSE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)  # fraction of values set to 0 or 1
DEFOCUS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # disk radius, anti-alias sigma
GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # sigma, delta, iters
MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # ImageMagick radius, sigma
ZOOM = ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))  # arange(1, a, b)
SNOW = (  # loc, scale, zoom, threshold, blur radius, blur sigma, image weight
    (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
    (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
    (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
)
FROST = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))  # image, frost weights
FOG = ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4))  # fog weight, fractal wibble decay
BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)  # added to HSV value
CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)  # factor around the per-channel mean
ELASTIC_BASE = 244.0  # the reference's constant ("244 should have been 224")
ELASTIC = (  # displacement, smoothing sigma, affine jitter; each times ELASTIC_BASE
    (2, 0.7, 0.1),
    (2, 0.08, 0.2),
    (0.05, 0.01, 0.02),
    (0.07, 0.01, 0.02),
    (0.12, 0.01, 0.02),
)
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)  # box-downsample factor, then box-upsample back
JPEG_QUALITY = (25, 18, 15, 10, 7)

_EPS = 1e-6
_FROST_MEAN = np.array([146.0, 167.0, 179.0])  # measured on the reference's frost photographs
_FROST_STD = 28.0

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


# ---------------------------------------------------------------- public API


def corrupt(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1-5) to an HxWx3 uint8 RGB image.

    Returns a new HxWx3 uint8 array; the same (image, name, severity, seed) always gives the same
    bytes. Raises ValueError for an unknown name or severity or a malformed image.
    """
    _check_name_severity(name, severity)
    _check_image(image)
    rng = np.random.default_rng(seed)
    out = _REGISTRY[name](np.ascontiguousarray(image), severity, rng)
    return np.ascontiguousarray(out, dtype=np.uint8)


def sample_seed(run_seed: int, sample_id: str, name: str, severity: int) -> int:
    """A stable 64-bit seed for one (sample, corruption, severity) of a run (SHA-256 based)."""
    _check_name_severity(name, severity)
    key = f"evalkit.corruptions\x1f{int(run_seed)}\x1f{sample_id}\x1f{name}\x1f{severity}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def jpeg_roundtrip(image: np.ndarray, quality: int = PROTOCOL_JPEG_QUALITY) -> np.ndarray:
    """Encode as JPEG with Pillow (``quality``, ``optimize=True``, like the reference's save) and
    decode again: the "jpeg" protocol's last step, in memory."""
    _check_image(image)
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    return _jpeg_decode(_jpeg_encode(image, int(quality), optimize=True))


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The defocus kernel: a disk ``x^2 + y^2 <= radius^2`` normalised to sum 1, on a grid of
    half-width 8 (or ``ceil(radius)`` when larger), then anti-aliased by a 3-tap (5-tap when
    radius > 8) Gaussian of sigma ``alias_blur`` with reflect-101 borders (``alias_blur <= 0``
    returns the bare normalised disk)."""
    half = 8 if radius <= 8 else math.ceil(radius)
    grid = np.arange(-half, half + 1, dtype=np.float64)
    disk = (grid[:, None] ** 2 + grid[None, :] ** 2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    if alias_blur <= 0:
        return disk
    taps = _gaussian_taps(3 if radius <= 8 else 5, alias_blur)
    disk = ndimage.correlate1d(disk, taps, axis=0, mode="mirror")
    result: np.ndarray = ndimage.correlate1d(disk, taps, axis=1, mode="mirror")
    return result


def motion_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion-blur taps as rows ``(dy, dx, weight)``: ``2*ceil(radius)+1`` taps
    ``j = 0..``, weight ``exp(-j^2 / (2 sigma^2))`` normalised, at offset
    ``(round(j sin(angle)), round(j cos(angle)))`` (one-sided, angle in degrees)."""
    width = int(2 * math.ceil(radius) + 1) if radius > 0 else 3
    j = np.arange(width, dtype=np.float64)
    weights = np.exp(-(j**2) / (2.0 * sigma * sigma))
    weights /= weights.sum()
    point_x = width * math.sin(math.radians(angle))
    point_y = width * math.cos(math.radians(angle))
    length = math.hypot(point_x, point_y)
    dx = np.ceil(j * point_y / length - 0.5)
    dy = np.ceil(j * point_x / length - 0.5)
    return np.stack([dy, dx, weights], axis=1)


# ---------------------------------------------------------------- checks and small helpers


def _check_name_severity(name: str, severity: int) -> None:
    if name not in _REGISTRY:
        raise ValueError(f"unknown corruption {name!r}; valid names: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer):
        raise ValueError(f"severity must be an int in {SEVERITIES}, got {severity!r}")
    if int(severity) not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; valid severities: {SEVERITIES}")


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("image must be a numpy uint8 array")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be HxWx3 (RGB), got shape {image.shape}")


def _scale(shape: tuple[int, ...]) -> float:
    return min(shape[0], shape[1]) / REFERENCE_SIZE


def _unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 by truncation, as the reference's ``np.uint8(clip(x) * 255)``."""
    return np.floor(np.clip(x, 0.0, 1.0) * 255.0 + _EPS).astype(np.uint8)


def _floor_uint8(x: np.ndarray) -> np.ndarray:
    """0-255 floats to uint8 by truncation (with the same round-off guard)."""
    return np.floor(np.clip(x, 0.0, 255.0) + _EPS).astype(np.uint8)


def _gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """OpenCV's ``getGaussianKernel(size, sigma)`` for sigma > 0."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(x**2) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def _skimage_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image's ``gaussian(x, sigma, multichannel=True)``: per channel, ``nearest``."""
    result: np.ndarray = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="nearest", truncate=4.0)
    return result


def _reflect_gaussian_matrix(n: int, sigma: float, truncate: float) -> np.ndarray:
    """The n x n matrix of ``scipy.ndimage.gaussian_filter1d(mode="reflect")``, exact for any
    sigma (the reflected signal is periodic with period 2n, so taps fold onto indices)."""
    radius = int(truncate * sigma + 0.5)
    k = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (k / sigma) ** 2)
    weights /= weights.sum()
    index = (np.arange(n)[:, None] + k[None, :]) % (2 * n)
    index = np.where(index >= n, 2 * n - 1 - index, index)
    rows = np.repeat(np.arange(n), k.size)
    flat = np.bincount(rows * n + index.ravel(), np.tile(weights, n), minlength=n * n)
    return flat.reshape(n, n)


def _smooth_reflect(field: np.ndarray, sigma: float, truncate: float = 3.0) -> np.ndarray:
    """2-D ``gaussian_filter(field, sigma, mode="reflect", truncate=truncate)`` as matrices."""
    rows = _reflect_gaussian_matrix(field.shape[0], sigma, truncate)
    cols = _reflect_gaussian_matrix(field.shape[1], sigma, truncate)
    result: np.ndarray = rows @ field @ cols.T
    return result


def _linear_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear interpolation from n_in to n_out samples, ``scipy.ndimage.zoom`` coordinates."""
    coords: np.ndarray
    if n_out == 1 or n_in == 1:
        coords = np.zeros(n_out)
    else:
        coords = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
    low = np.clip(np.floor(coords).astype(np.int64), 0, n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    frac = coords - low
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix


def _resize_linear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Separable linear resize of an HxW(xC) array to height x width (x C), in x's dtype."""
    rows = _linear_resize_matrix(x.shape[0], height).astype(x.dtype)
    cols = _linear_resize_matrix(x.shape[1], width).astype(x.dtype)
    planes = np.moveaxis(x.reshape(x.shape[0], x.shape[1], -1), 2, 0)
    result: np.ndarray = np.moveaxis(rows @ planes @ cols.T, 0, 2)
    return result.reshape((height, width, *x.shape[2:]))


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre by ``factor`` (>= 1), keeping the shape (reference ``clipped_zoom``,
    per axis so non-square images work)."""
    h, w = x.shape[:2]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    zh, zw = round(ch * factor), round(cw * factor)
    zoomed = _resize_linear(x[top : top + ch, left : left + cw], zh, zw)
    trim_top, trim_left = (zh - h) // 2, (zw - w) // 2
    return zoomed[trim_top : trim_top + h, trim_left : trim_left + w]


def _apply_taps(x: np.ndarray, taps: np.ndarray, mode: str = "edge") -> np.ndarray:
    """``sum_j w_j x[y + dy_j, x + dx_j]``; outside pixels by ``np.pad`` mode (default: edge
    pixels repeated, ImageMagick's default virtual pixels)."""
    dy, dx = taps[:, 0].astype(np.int64), taps[:, 1].astype(np.int64)
    pad = int(max(np.abs(dy).max(), np.abs(dx).max()))
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (x.ndim - 2)
    padded = np.pad(x, widths, mode=mode)  # type: ignore[call-overload]
    h, w = x.shape[:2]
    out = np.zeros(x.shape, dtype=np.float64)
    for oy, ox, weight in zip(dy.tolist(), dx.tolist(), taps[:, 2].tolist(), strict=True):
        out += weight * padded[pad + oy : pad + oy + h, pad + ox : pad + ox + w]
    return out


def _filter2d(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """OpenCV ``filter2D`` (correlation, reflect-101 borders) per channel, via FFT."""
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(x, [(ry, ry), (rx, rx), (0, 0)], mode="reflect")
    flipped = kernel[::-1, ::-1][:, :, None]
    result: np.ndarray = signal.fftconvolve(padded, flipped, mode="valid", axes=(0, 1))
    return result


def _jpeg_encode(image: np.ndarray, quality: int, optimize: bool = False) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=optimize)
    return buffer.getvalue()


def _jpeg_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8).copy()


# ---------------------------------------------------------------- noise


def _gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    return _to_uint8(x + rng.normal(0.0, GAUSSIAN_STD[severity - 1], x.shape))


def _shot_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    lam = SHOT_LAMBDA[severity - 1]
    return _to_uint8(rng.poisson(_unit(image) * lam) / lam)


def _impulse_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    flipped = rng.random(x.shape) < IMPULSE_AMOUNT[severity - 1]
    salted = rng.random(x.shape) < 0.5
    x[flipped & salted] = 1.0
    x[flipped & ~salted] = 0.0
    return _to_uint8(x)


# ---------------------------------------------------------------- blur


def _defocus_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias = DEFOCUS[severity - 1]
    scale = _scale(image.shape)
    kernel = disk_kernel(radius * scale, alias * scale)
    return _to_uint8(_filter2d(_unit(image), kernel))


def _shuffle_order(
    h: int, w: int, delta: int, iterations: int, rng: np.random.Generator
) -> list[int]:
    """The pixel permutation of the reference's swap loop: for each iteration, visit (row, col)
    from (h - delta, w - delta) down to (delta + 1, delta + 1) in raster order and swap with
    (row + dy, col + dx), dy, dx uniform in [-delta, delta - 1]."""
    rows = np.arange(h - delta, delta, -1)
    cols = np.arange(w - delta, delta, -1)
    visit = (rows[:, None] * w + cols[None, :]).ravel()
    order = list(range(h * w))
    for _ in range(iterations):
        offsets = rng.integers(-delta, delta, size=(visit.size, 2))
        partner = visit + offsets[:, 0] * w + offsets[:, 1]
        for i, j in zip(visit.tolist(), partner.tolist(), strict=True):
            order[i], order[j] = order[j], order[i]
    return order


def _glass_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma, delta, iterations = GLASS[severity - 1]
    scale = _scale(image.shape)
    sigma *= scale
    delta = max(1, round(delta * scale))
    h, w = image.shape[:2]
    blurred = _to_uint8(_skimage_gaussian(_unit(image), sigma))
    order = np.asarray(_shuffle_order(h, w, delta, iterations, rng))
    shuffled = blurred.reshape(h * w, 3)[order].reshape(h, w, 3)
    return _to_uint8(_skimage_gaussian(_unit(shuffled), sigma))


def _motion_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = MOTION[severity - 1]
    scale = _scale(image.shape)
    taps = motion_kernel(radius * scale, sigma * scale, rng.uniform(-45.0, 45.0))
    return _floor_uint8(_apply_taps(image.astype(np.float64), taps))


def _zoom_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    stop, step = ZOOM[severity - 1]
    factors = np.arange(1.0, stop, step)  # 12, 16, 11, 13, 11 factors (float arange, as reference)
    x = _unit(image).astype(np.float32)  # float32, as the reference
    total = x.copy()
    for factor in factors.tolist():
        total += _clipped_zoom(x, factor)
    return _to_uint8(total / (len(factors) + 1))


# ---------------------------------------------------------------- weather


def _snow(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    loc, spread, zoom, threshold, radius, sigma, weight = SNOW[severity - 1]
    scale = _scale(image.shape)
    x = _unit(image)
    flakes = rng.normal(loc, spread, size=image.shape[:2])
    flakes = _clipped_zoom(flakes, max(1.0, zoom * scale))
    flakes[flakes < threshold] = 0.0
    flakes8 = _to_uint8(flakes).astype(np.float64)
    taps = motion_kernel(radius * scale, sigma * scale, rng.uniform(-135.0, -45.0))
    layer = _floor_uint8(_apply_taps(flakes8, taps))[:, :, None] / 255.0
    grey = x @ np.array([0.299, 0.587, 0.114])
    x = weight * x + (1.0 - weight) * np.maximum(x, grey[:, :, None] * 1.5 + 0.5)
    return _to_uint8(x + layer + np.rot90(layer, k=2))


def _plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square height map on a ``size`` x ``size`` torus (size a power of two), scaled to
    [0, 1]; each new point is the mean of its 4 neighbours plus ``wibble * U(-wibble, wibble)``,
    with ``wibble`` starting at 100 and divided by ``decay`` per level (as the reference)."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0

    def mean_plus_noise(neighbour_sum: np.ndarray) -> np.ndarray:
        noise = wibble * rng.uniform(-wibble, wibble, neighbour_sum.shape)
        result: np.ndarray = neighbour_sum / 4 + noise
        return result

    while step >= 2:
        half = step // 2
        corners = grid[0::step, 0::step]
        total = corners + np.roll(corners, -1, axis=0)
        grid[half::step, half::step] = mean_plus_noise(total + np.roll(total, -1, axis=1))
        centres = grid[half::step, half::step]
        across = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0::step, half::step] = mean_plus_noise(across)
        down = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half::step, 0::step] = mean_plus_noise(down)
        step, wibble = half, wibble / decay
    grid -= grid.min()
    result: np.ndarray = grid / grid.max()
    return result


def _fog_map(h: int, w: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """The plasma fractal as the reference draws it for 224x224 (256 grid, top-left crop),
    cropped to the image's extent in reference pixels and resized to h x w."""
    scale = min(h, w) / REFERENCE_SIZE
    eh, ew = math.ceil(h / scale - _EPS), math.ceil(w / scale - _EPS)
    size = max(256, 1 << (max(eh, ew) - 1).bit_length())
    fractal = _plasma_fractal(size, decay, rng)[:eh, :ew]
    if (eh, ew) == (h, w):
        return fractal
    return np.clip(_resize_linear(fractal, h, w), 0.0, 1.0)


def _fog(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    weight, decay = FOG[severity - 1]
    x = _unit(image)
    peak = x.max()
    x = x + weight * _fog_map(image.shape[0], image.shape[1], decay, rng)[:, :, None]
    return _to_uint8(x * peak / (peak + weight))


def _frost_texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A procedural stand-in for the reference's frost photographs (see module docstring):
    HxWx3 floats on 0-255 with the photographs' mean colour and contrast. Ice needles are sparse
    seeds smeared along 8 random directions (wrapping around the edges), denser where a
    low-frequency fractal is high; fine grain and a fractal haze are added."""
    scale = min(h, w) / REFERENCE_SIZE
    clusters = _fog_map(h, w, 2.0, rng)
    density = 0.002 + 0.03 * clusters**2
    crystals = np.zeros((h, w))
    for _ in range(8):
        seeds = (rng.random((h, w)) < density) * rng.uniform(0.4, 1.0, (h, w))
        count = max(2, round(rng.uniform(5.0, 24.0) * scale))
        theta = rng.uniform(0.0, 2.0 * math.pi)
        j = np.arange(count, dtype=np.float64)
        taps = np.stack(
            [np.rint(j * math.sin(theta)), np.rint(j * math.cos(theta)), 1.0 - 0.7 * j / count],
            axis=1,
        )
        crystals = np.maximum(crystals, _apply_taps(seeds, taps, mode="wrap"))
    crystals = ndimage.gaussian_filter(crystals, 0.5 * scale, mode="wrap")
    grain = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (h, w)), 0.8 * scale + 0.3, mode="wrap")
    level = crystals + 0.1 * grain + 0.6 * clusters + 0.4 * _fog_map(h, w, 1.6, rng)
    level = (level - level.mean()) / (level.std() + _EPS)
    tint = _FROST_MEAN / _FROST_MEAN.mean()
    rgb = _FROST_MEAN[None, None, :] + _FROST_STD * level[:, :, None] * tint[None, None, :]
    return np.clip(rgb, 0.0, 255.0)


def _frost(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    image_weight, frost_weight = FROST[severity - 1]
    texture = _frost_texture(image.shape[0], image.shape[1], rng)
    return _floor_uint8(image_weight * image.astype(np.float64) + frost_weight * texture)


def _brightness(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    value = x.max(axis=2, keepdims=True)
    brighter = np.minimum(value + BRIGHTNESS[severity - 1], 1.0)
    ratio = np.divide(brighter, value, out=np.zeros_like(value), where=value > 0)
    return _to_uint8(np.where(value > 0, x * ratio, brighter))


# ---------------------------------------------------------------- digital


def _contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    means = x.mean(axis=(0, 1), keepdims=True)
    return _to_uint8((x - means) * CONTRAST[severity - 1] + means)


def _affine_warp(x: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """The reference's random affine: three points around the centre moved by U(-jitter,
    jitter), bilinear warp with reflect-101 borders (OpenCV ``warpAffine``)."""
    h, w = x.shape[:2]
    cx, cy, side = float(w // 2), float(h // 2), float(max(1, min(h, w) // 3))
    src = np.array([[cx + side, cy + side], [cx + side, cy - side], [cx - side, cy - side]])
    dst = src + rng.uniform(-jitter, jitter, size=src.shape)
    forward = np.linalg.solve(np.hstack([src, np.ones((3, 1))]), dst).T  # 2x3, (x, y) order
    inverse = np.linalg.inv(np.vstack([forward, [0.0, 0.0, 1.0]]))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    return _sample(x, src_y, src_x, mode="mirror")


def _sample(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str) -> np.ndarray:
    channels = [
        ndimage.map_coordinates(x[:, :, c], [rows, cols], order=1, mode=mode)
        for c in range(x.shape[2])
    ]
    return np.stack(channels, axis=2)


def _elastic_transform(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    base = ELASTIC_BASE * _scale(image.shape)
    alpha, sigma, jitter = (base * v for v in ELASTIC[severity - 1])
    h, w = image.shape[:2]
    warped = _affine_warp(_unit(image), jitter, rng)
    dx = _smooth_reflect(rng.uniform(-1.0, 1.0, (h, w)), sigma) * alpha
    dy = _smooth_reflect(rng.uniform(-1.0, 1.0, (h, w)), sigma) * alpha
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return _to_uint8(_sample(warped, ys + dy, xs + dx, mode="reflect"))


def _pixelate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = PIXELATE[severity - 1]
    h, w = image.shape[:2]
    small = (max(1, int(w * factor)), max(1, int(h * factor)))
    pil = Image.fromarray(image).resize(small, Image.Resampling.BOX)
    return np.asarray(pil.resize((w, h), Image.Resampling.BOX), dtype=np.uint8).copy()


def _jpeg_compression(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return _jpeg_decode(_jpeg_encode(image, JPEG_QUALITY[severity - 1]))


_REGISTRY: dict[str, Corruption] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "defocus_blur": _defocus_blur,
    "glass_blur": _glass_blur,
    "motion_blur": _motion_blur,
    "zoom_blur": _zoom_blur,
    "snow": _snow,
    "frost": _frost,
    "fog": _fog,
    "brightness": _brightness,
    "contrast": _contrast,
    "elastic_transform": _elastic_transform,
    "pixelate": _pixelate,
    "jpeg_compression": _jpeg_compression,
}
