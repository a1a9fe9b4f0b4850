"""The 15 ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019), severities 1-5, in NumPy,
SciPy, Pillow and numba only (no OpenCV, scikit-image, Wand/ImageMagick or ``imagecorruptions``).

Protocol
--------
The reference resizes each validation image to 256 (shorter side), takes the 224x224 centre
crop, applies the corruption to that crop, and saves the result as a JPEG with Pillow
(``Image.fromarray(np.uint8(img)).save(path, quality=85, optimize=True)``); models then read
those JPEGs with their usual normalization. :func:`corrupt` is the corruption step (uint8 in,
uint8 out, same shape); :func:`jpeg_roundtrip` is the quality-85 JPEG step done in memory, so a
caller can reproduce the published files ("jpeg" protocol) or skip it ("memory" protocol); it
encodes without the reference's ``optimize=True``, which changes only the Huffman tables, not
the decoded pixels (tested).
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
  files; the distributions are the reference's. shot_noise draws its Poisson counts by
  inversion (one uniform per value against the CDF of its level's Poisson law, from
  ``scipy.special.pdtr``): exactly Poisson, about 3x faster than ``Generator.poisson``.
- frost: the reference overlays a random 224x224 crop of one of five photographs of frost
  (``frost1.png``-``frost5.jpg``, shipped in its repository; ``frost6.jpg`` is never drawn).
  They are not shipped here. Five procedural textures of twice the image's sides are used
  instead, drawn once per process from fixed seeds: needle-like ice crystals (sparse seeds
  smeared along random directions), fine grain and a plasma-fractal haze, tinted blue-white and
  scaled to the photographs' measured statistics (channel means about (146, 167, 179), standard
  deviation about 28 on 0-255); each copy takes a random crop of a random one, as the reference
  does. The blend weights are the reference's. This is the largest difference: frost errors
  are not comparable to published frost numbers.
- motion_blur and snow: ImageMagick's motion blur (through Wand, with a PNG round trip) is
  re-implemented with the same one-sided Gaussian line kernel and edge handling, summed in
  float32 and truncated to 8 bits; against ImageMagick 6.9.11 Q16 (``convert -motion-blur``)
  about 0.2% of the output values differ, by 1.
- glass_blur: the reference's per-pixel swap loop is kept exactly in meaning (same visiting
  order, same offsets in ``[-d, d-1]`` (dy and dx independent, drawn together as one of the
  (2d)^2 pairs), swaps applied in sequence, so a pixel can travel more than ``d``), but the
  swaps are run on the pixels' indices in a compiled loop and the pixels are then gathered once
  (about 2 ms instead of seconds).
- elastic_transform: OpenCV's ``getAffineTransform``/``warpAffine`` (fixed-point bilinear) is
  replaced by an exact affine solve and bilinear sampling with reflect-101 borders, computed as
  ``scipy.ndimage.map_coordinates(order=1)`` does (checked against it to 1e-12) for all
  channels at once, on float32 pixels; the displacement fields are smoothed by
  ``scipy.ndimage.gaussian_filter`` (``reflect``), or for the long kernels of severities 1 and 2
  by the same filter as (cached) matrices.
- brightness: scikit-image's HSV round trip with ``V += c`` is computed in closed form: each
  pixel's RGB is multiplied by ``min(V + c, 1) / V`` (a black pixel becomes grey ``c``), which
  is what the round trip does up to float round-off.
- zoom_blur: ``scipy.ndimage.zoom(order=1)`` is applied as separable linear interpolation (two
  taps gathered per output, only for the kept window) with the same coordinate mapping
  (``(n_in - 1) / (n_out - 1)``), in float32 like the reference's arrays.
- defocus_blur: OpenCV's ``filter2D`` is a float32 FFT convolution with the kernel's spectrum
  cached per severity.
- Float32: the blurs, snow, fog, contrast, brightness and the noises compute in float32 where
  the reference mostly uses float64; about 0.1% of output values (0.2% for glass_blur) differ
  from float64 results, by 1.
- Quantisation: like the reference's ``np.uint8(...)`` cast, float results are truncated to
  uint8 (with a guard against float round-off: 1e-6, or 1e-3 of a level for float32 results).
  The defocus kernel keeps the reference's small excess mass at radii 8 and 10 (sum 1.013 and
  1.011, from OpenCV's reflect-101 border when anti-aliasing the disk), i.e. severities 4 and 5
  brighten by about 1%, as published.

Speed: the inner loops of glass blur (both blurs and the swaps), zoom blur, motion blur, snow,
shot noise and the elastic transform's sampling are compiled with numba
(:mod:`evalkit.data._kernels`), doing the same float operations in the same order as the NumPy
and SciPy expressions they replace (bit-identical, tested against them) without whole-image
temporaries and without holding the GIL, since they run in the decode threads beside the model.

Not differences, but easy to get wrong: impulse_noise flips each channel value independently
(scikit-image works on the HxWx3 array), not whole pixels; zoom_blur uses the reference's float
``np.arange`` factor lists (12, 16, 11, 13 and 11 factors, e.g. 1.00-1.11 at severity 1);
jpeg_compression and pixelate are the reference's own Pillow calls (JPEG output can vary by a
level or so between libjpeg builds).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
from collections.abc import Callable
from types import ModuleType

import numpy as np
from PIL import Image
from scipy import fft, ndimage, special

from evalkit.corruption_spec import CORRUPTIONS, GROUPS, SEVERITIES, STOCHASTIC

__all__ = [
    "CORRUPTIONS",
    "GROUPS",
    "SEVERITIES",
    "STOCHASTIC",
    "corrupt",
    "disk_kernel",
    "jpeg_image",
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
# the guard of float32 results (blurs summed in float32), on the 0-255 scale: above their
# round-off (< 1e-4 measured), so a flat region (exact integer) stays its value
_EPS32 = 1e-3
_UNIT_LEVELS = (np.arange(256) / 255.0).astype(np.float32)  # each uint8 level's x / 255.
_UNIT_LEVELS.setflags(write=False)
_POISSON_GUIDE = 64  # guide-table cells per level for shot noise's Poisson inversion
_FROST_MEAN = np.array([146.0, 167.0, 179.0])  # measured on the reference's frost photographs
_FROST_STD = 28.0
FROST_TEXTURES = 5  # the reference draws one of its five photographs (np.random.randint(5))
FROST_SEED = 0x46524F5354  # the textures' fixed seed ("FROST")

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
    """The pixels of the image saved as a JPEG by Pillow at ``quality`` and decoded again: the
    "jpeg" protocol's last step, in memory. The reference saves with ``optimize=True``, which
    only chooses smaller Huffman tables (lossless entropy coding): the decoded pixels are the
    same, so the faster encoding without it is used (tested). When both sides are multiples
    of 16 (the 224 crop), the lossy steps run compiled without the entropy coding, which is
    lossless too: the same pixels as Pillow's (tested) in about half the time."""
    _check_image(image)
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    h, w = image.shape[:2]
    if h % 16 or w % 16:  # blocks beyond the edge: Pillow itself
        with Image.open(io.BytesIO(_jpeg_encode(image, int(quality)))) as decoded:
            return np.asarray(decoded.convert("RGB"), dtype=np.uint8).copy()
    out = np.empty_like(image)
    _compiled().jpeg_lossy(np.ascontiguousarray(image), _jpeg_tables(int(quality)), _LIMIT, out)
    return out


def jpeg_image(image: np.ndarray, quality: int = PROTOCOL_JPEG_QUALITY) -> Image.Image:
    """:func:`jpeg_roundtrip` as a Pillow image (what a model's transform takes)."""
    return Image.fromarray(jpeg_roundtrip(image, quality))


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


def _planes(image: np.ndarray) -> np.ndarray:
    """An HxWx3 image as contiguous channel planes (CxHxW): NumPy's inner loops then run along
    whole rows instead of the 3 channels of a pixel."""
    return np.ascontiguousarray(np.moveaxis(image, 2, 0))


def _unit_planes(image: np.ndarray) -> np.ndarray:
    """:func:`_planes` of the image on [0, 1] in float32: the reference's ``x / 255.`` in
    float64, rounded to float32 (one table value per level, written in one pass)."""
    out = np.empty((image.shape[2], *image.shape[:2]), dtype=np.float32)
    _compiled().level_planes(image, _UNIT_LEVELS, out)
    return out


def _unit_image(planes: np.ndarray) -> np.ndarray:
    """CxHxW planes on [0, 1] back to an HxWxC uint8 image, as :func:`_to_uint8` of the planes
    moved to the last axis (in one pass, without temporaries)."""
    out = np.empty((*planes.shape[1:], planes.shape[0]), dtype=np.uint8)
    kind = planes.dtype.type
    _compiled().planes_to_image(planes, kind(_EPS32 if kind is np.float32 else _EPS), out)
    return out


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 by truncation, as the reference's ``np.uint8(clip(x) * 255)``."""
    scaled = np.clip(x, 0.0, 1.0)
    scaled *= 255.0
    return _floor_uint8(scaled, clipped=True)


def _floor_uint8(x: np.ndarray, clipped: bool = False) -> np.ndarray:
    """0-255 floats to uint8 by truncation (with a round-off guard: 1e-6, or 1e-3 for float32
    results); ``clipped``: ``x`` is already in range and a temporary (changed in place). The
    cast truncates towards zero, which for these non-negative values is ``floor``."""
    values = x if clipped else np.clip(x, 0.0, 255.0)
    values += _EPS32 if values.dtype == np.float32 else _EPS
    return values.astype(np.uint8)


def _gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """OpenCV's ``getGaussianKernel(size, sigma)`` for sigma > 0."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(x**2) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def _planes_gaussian(planes: np.ndarray, sigma: float, image: bool = False) -> np.ndarray:
    """scikit-image's ``gaussian(x, sigma, multichannel=True)`` (``nearest`` borders, truncate
    4) of CxHxW uint8 planes on the same 0-255 scale, computed as SciPy's ``gaussian_filter``
    with float32 output does, truncated to uint8 (:func:`_floor_uint8`); as planes, or as an
    HxWxC image when ``image``."""
    channels, h, w = planes.shape
    out = np.empty((h, w, channels) if image else planes.shape, dtype=planes.dtype)
    written = np.moveaxis(out, 2, 0) if image else out
    _compiled().gaussian_nearest(planes, _gaussian_weights(sigma), written)
    return out


@functools.lru_cache(maxsize=32)
def _gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """SciPy's Gaussian kernel for ``sigma`` (radius ``int(truncate * sigma + 0.5)``, computed
    as ``scipy.ndimage.gaussian_filter1d`` does): the centre tap, then taps 1..radius."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return _frozen((phi / phi.sum())[radius:].copy())


@functools.lru_cache(maxsize=16)
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
    return _frozen(flat.reshape(n, n))


def _smooth_reflect(field: np.ndarray, sigma: float, truncate: float = 3.0) -> np.ndarray:
    """2-D ``gaussian_filter(field, sigma, mode="reflect", truncate=truncate)``: compiled with
    SciPy's own arithmetic for short kernels (the same bits), as (cached) matrix products for
    long ones (severities 1 and 2), which are faster there."""
    if int(truncate * sigma + 0.5) <= 12:
        smooth = np.empty_like(field)
        _compiled().gaussian_reflect(field, _gaussian_weights(sigma, truncate), smooth)
        return smooth
    rows = _reflect_gaussian_matrix(field.shape[0], sigma, truncate)
    cols = _reflect_gaussian_matrix(field.shape[1], sigma, truncate)
    result: np.ndarray = rows @ field @ cols.T
    return result


@functools.lru_cache(maxsize=256)
def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation from n_in to n_out samples in ``scipy.ndimage.zoom`` coordinates
    (``i * (n_in - 1) / (n_out - 1)``): each output's lower and upper input index and the
    upper one's weight."""
    coords: np.ndarray
    if n_out == 1 or n_in == 1:
        coords = np.zeros(n_out)
    else:
        coords = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
    low = np.clip(np.floor(coords).astype(np.int64), 0, n_in - 1)
    return _frozen(low), _frozen(np.minimum(low + 1, n_in - 1)), _frozen(coords - low)


def _compiled() -> ModuleType:
    """The compiled kernels (:mod:`evalkit.data._kernels`), imported on first use: numba takes
    a few tenths of a second to load, which a run without corruptions does not pay."""
    from evalkit.data import _kernels

    return _kernels


def _frozen(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only: a cached value is shared between calls and threads."""
    array.setflags(write=False)
    return array


Taps = tuple[np.ndarray, np.ndarray, np.ndarray]  # lower index, upper index, upper weight


def _resize_linear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Separable linear resize of an HxW array to height x width, in x's dtype."""
    rows, cols = _linear_taps(x.shape[0], height), _linear_taps(x.shape[1], width)
    return _interpolate(x, _typed(rows, x.dtype), _typed(cols, x.dtype))


def _typed(taps: Taps, dtype: np.dtype) -> Taps:
    """Taps with the weights in the interpolated array's dtype (``a + (b - a) * t`` in it)."""
    return taps[0], taps[1], taps[2].astype(dtype)


def _interpolate(
    x: np.ndarray, rows: Taps, cols: Taps, total: np.ndarray | None = None
) -> np.ndarray:
    """The last two axes of x (HxW or CxHxW) linearly interpolated at the given taps
    (increasing; weights in x's dtype), as ``a + (b - a) * t`` (a flat region stays exact):
    columns first, on the rows the row taps reach only, then rows; added to ``total`` when
    given (zoom blur's sum), which is returned."""
    planes = x.reshape(-1, *x.shape[-2:])
    shape = (*x.shape[:-2], rows[0].size, cols[0].size)
    if total is None:
        total = np.zeros(shape, dtype=x.dtype)
    _compiled().zoom_add(planes, total.reshape(planes.shape[0], *shape[-2:]), rows, cols)
    return total


@functools.lru_cache(maxsize=256)
def _zoom_taps(h: int, w: int, factor: float, dtype: str) -> tuple[Taps, Taps]:
    """The row and column taps of the reference's ``clipped_zoom`` of an HxW image by
    ``factor`` (>= 1): ``scipy.ndimage.zoom(order=1)`` of the centre ``1/factor`` crop (per
    axis, so non-square images work), trimmed to HxW; only the kept window is computed."""
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    zh, zw = round(ch * factor), round(cw * factor)
    trim_top, trim_left = (zh - h) // 2, (zw - w) // 2
    low, high, frac = _linear_taps(ch, zh)
    rows = slice(trim_top, trim_top + h)
    kept_rows = (low[rows] + top, high[rows] + top, frac[rows].astype(dtype))
    low, high, frac = _linear_taps(cw, zw)
    cols = slice(trim_left, trim_left + w)
    kept_cols = (low[cols] + left, high[cols] + left, frac[cols].astype(dtype))
    return _frozen_taps(kept_rows), _frozen_taps(kept_cols)


def _frozen_taps(taps: Taps) -> Taps:
    return _frozen(taps[0]), _frozen(taps[1]), _frozen(taps[2])


def _clipped_zoom(x: np.ndarray, factor: float, total: np.ndarray | None = None) -> np.ndarray:
    """Zoom the last two axes of x (HxW or CxHxW) into the centre by ``factor`` (>= 1), keeping
    the shape (reference ``clipped_zoom``, :func:`_zoom_taps`); added to ``total`` when given."""
    rows, cols = _zoom_taps(*x.shape[-2:], factor, x.dtype.str)
    return _interpolate(x, rows, cols, total)


def _apply_taps(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``sum_j w_j x[y + dy_j, x + dx_j]`` of an HxW or HxWxC image, in float32 (each product
    rounded, added in tap order); outside pixels are the edge pixels repeated (ImageMagick's
    default virtual pixels)."""
    h, w = x.shape[:2]
    rows = np.ascontiguousarray(x).reshape(h, -1)  # H x (W * channels)
    out = np.zeros(rows.shape, dtype=np.float32)
    dy, dx = taps[:, 0].astype(np.intp), taps[:, 1].astype(np.intp)
    _compiled().add_taps(rows, rows.shape[1] // w, (dy, dx, taps[:, 2].astype(np.float32)), out)
    return out.reshape(x.shape)


@functools.lru_cache(maxsize=32)
def _disk_spectrum(
    radius: float, alias: float, height: int, width: int
) -> tuple[np.ndarray, int, tuple[int, int]]:
    """The float32 spectrum of the flipped defocus disk on the FFT grid of a height x width
    image padded by the kernel's half-width, that half-width and the grid's shape."""
    kernel = disk_kernel(radius, alias)
    half = kernel.shape[0] // 2
    grid = (fft.next_fast_len(height + 2 * half, True), fft.next_fast_len(width + 2 * half, True))
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    return _frozen(fft.rfft2(flipped, s=grid)), half, grid


def _defocus(planes: np.ndarray, radius: float, alias: float) -> np.ndarray:
    """OpenCV ``filter2D`` of CxHxW float32 ``planes`` with :func:`disk_kernel` (correlation,
    reflect-101 borders), by FFT in float32 with the kernel's spectrum cached. The padded image
    fits the FFT grid, so the circular convolution's wrap-around misses the kept window."""
    h, w = planes.shape[1:]
    spectrum, half, grid = _disk_spectrum(radius, alias, h, w)
    padded = np.pad(planes, [(0, 0), (half, half), (half, half)], mode="reflect")
    full = fft.irfft2(fft.rfft2(padded, s=grid) * spectrum, s=grid)
    result: np.ndarray = full[:, 2 * half : 2 * half + h, 2 * half : 2 * half + w]
    return result


# the JPEG standard's example tables (Annex K), natural order, as libjpeg scales them by quality
_LUMA_QUANT = (
    (16, 11, 10, 16, 24, 40, 51, 61), (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56), (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77), (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101), (72, 92, 95, 98, 112, 100, 103, 99),
)  # fmt: skip
_CHROMA_QUANT = (
    (17, 18, 24, 47, 99, 99, 99, 99), (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99), (47, 66, 99, 99, 99, 99, 99, 99),
) + ((99,) * 8,) * 4  # fmt: skip


def _limit_table() -> np.ndarray:
    """libjpeg's range table after the IDCT, indexed by the value & 1023 (jdmaster.c): the
    value plus 128 clamped to 0-255 for -384..511, wrapping beyond as libjpeg's does."""
    index = np.arange(1024)
    table = np.select([index < 128, index < 512, index < 896], [index + 128, 255, 0], index - 896)
    return _frozen(table.astype(np.uint8))


_LIMIT = _limit_table()


@functools.lru_cache(maxsize=16)
def _jpeg_tables(quality: int) -> np.ndarray:
    """Per component (luma, chroma): libjpeg's quantization table for ``quality``
    (``jpeg_set_quality`` with baseline values, jcparam.c) and the reciprocal, correction and
    shift its quantization divides by (``compute_reciprocal``, jcdctmgr.c), as 2 x 4 x 64."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    tables = np.empty((2, 4, 64), dtype=np.int64)
    for component, base in enumerate((_LUMA_QUANT, _CHROMA_QUANT)):
        quant = np.clip((np.asarray(base).ravel() * scale + 50) // 100, 1, 255)
        tables[component, 0] = quant
        tables[component, 1:] = np.array([_reciprocal(int(q) << 3) for q in quant]).T
    return _frozen(tables)


def _reciprocal(divisor: int) -> tuple[int, int, int]:
    """libjpeg-turbo's ``compute_reciprocal`` for a 16-bit DCT value: (|v| + correction) *
    reciprocal >> shift is |v| / divisor rounded to nearest (divisor > 1)."""
    shift = 16 + divisor.bit_length() - 1
    reciprocal, remainder = divmod(1 << shift, divisor)
    correction = divisor // 2
    if remainder == 0:
        reciprocal, shift = reciprocal >> 1, shift - 1
    elif remainder <= divisor // 2:
        correction += 1
    else:
        reciprocal += 1
    return reciprocal, correction, shift


def _jpeg_encode(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# ---------------------------------------------------------------- noise


def _gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    noisy = rng.standard_normal(image.shape, dtype=np.float32)  # on the 0-255 scale
    noisy *= np.float32(255.0 * GAUSSIAN_STD[severity - 1])
    noisy += image
    return _floor_uint8(noisy)


def _shot_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    lam = SHOT_LAMBDA[severity - 1]
    return _count_levels(float(lam))[_poisson_counts(image, lam, rng)]


@functools.lru_cache(maxsize=8)
def _count_levels(lam: float) -> np.ndarray:
    """Shot noise's uint8 value of each Poisson count (all counts fit in 8 bits:
    :func:`_poisson_tables`), ``count * 255 / lam`` in float32, truncated."""
    counts = np.arange(256, dtype=np.float32)
    counts *= np.float32(255.0 / lam)
    return _frozen(_floor_uint8(counts))


@functools.lru_cache(maxsize=8)
def _poisson_tables(lam: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Inverse-CDF tables of Poisson(level / 255 * lam) for the 256 levels of a uint8 value:
    the CDFs (flat, 256 rows of ``width`` counts; a row's last entry is +inf, so the tail beyond
    lam + 12 sqrt(lam) + 30, of mass < 1e-15, ends there) and a guide table (per level and per
    1/64 of [0, 1), the first count whose CDF exceeds the cell's start), as flat indices."""
    means = np.arange(256) / 255.0 * lam
    width = int(lam + 12 * math.sqrt(lam) + 30) + 1
    assert width <= 256, "counts must fit in uint8"
    cdf = special.pdtr(np.arange(width, dtype=np.float64)[None, :], means[:, None])
    cdf[:, -1] = np.inf
    starts = np.arange(_POISSON_GUIDE) / _POISSON_GUIDE
    guide = np.stack([np.searchsorted(row, starts, side="right") for row in cdf])
    guide += np.arange(256)[:, None] * width
    return _frozen(cdf.ravel()), _frozen(guide.ravel()), width


def _poisson_counts(image: np.ndarray, lam: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson(value / 255 * lam) counts (uint8) for a uint8 image by inversion: one uniform u
    per value, the first count whose CDF exceeds u (found from the guide table, about one
    step). Exactly Poisson-distributed, like ``Generator.poisson`` but faster (another stream
    of numbers)."""
    cdf, guide, width = _poisson_tables(float(lam))
    u = rng.random(image.size)
    counts = np.empty(image.shape, dtype=np.uint8)
    tables = (cdf, guide, width, _POISSON_GUIDE)
    _compiled().poisson_counts(np.ascontiguousarray(image).ravel(), u, tables, counts.ravel())
    return counts


def _impulse_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    flipped = rng.random(image.shape) < IMPULSE_AMOUNT[severity - 1]
    salted = rng.random(image.shape) < 0.5
    out[flipped & salted] = 255
    out[flipped & ~salted] = 0
    return out


# ---------------------------------------------------------------- blur


def _defocus_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias = DEFOCUS[severity - 1]
    scale = _scale(image.shape)
    blurred = _defocus(_unit_planes(image), radius * scale, alias * scale)
    return _unit_image(blurred)


@functools.lru_cache(maxsize=8)
def _visits(h: int, w: int, delta: int) -> np.ndarray:
    """The reference swap loop's visiting order as flat indices."""
    rows = np.arange(h - delta, delta, -1, dtype=np.intp)
    cols = np.arange(w - delta, delta, -1, dtype=np.intp)
    return _frozen((rows[:, None] * w + cols[None, :]).ravel())


def _shuffle_order(
    h: int, w: int, delta: int, iterations: int, rng: np.random.Generator
) -> np.ndarray:
    """The pixel permutation of the reference's swap loop: for each iteration, visit (row, col)
    from (h - delta, w - delta) down to (delta + 1, delta + 1) in raster order and swap with
    (row + dy, col + dx), dy, dx independent and uniform in [-delta, delta - 1]. The swaps run
    in sequence (compiled), on the pixels' indices."""
    visit = _visits(h, w, delta)
    side = 2 * delta  # (dy, dx) drawn as one of side**2 equally likely pairs, dy = q // side
    steps = (np.arange(side) - delta)[:, None] * w + (np.arange(side) - delta)[None, :]
    order = np.arange(h * w, dtype=np.intp)
    for _ in range(iterations):
        pairs = rng.integers(side * side, size=visit.size, dtype=np.uint16)
        _compiled().swap_pixels(order, visit, steps.ravel(), pairs)
    return order


def _glass_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma, delta, iterations = GLASS[severity - 1]
    scale = _scale(image.shape)
    sigma *= scale
    delta = max(1, round(delta * scale))
    h, w = image.shape[:2]
    blurred = _planes_gaussian(_planes(image), sigma)  # 0-255, no scaling
    order = _shuffle_order(h, w, delta, iterations, rng)
    shuffled = np.take(blurred.reshape(3, h * w), order, axis=1).reshape(3, h, w)
    return _planes_gaussian(shuffled, sigma, image=True)


def _motion_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = MOTION[severity - 1]
    scale = _scale(image.shape)
    taps = motion_kernel(radius * scale, sigma * scale, rng.uniform(-45.0, 45.0))
    return _floor_uint8(_apply_taps(image, taps))


def _zoom_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    stop, step = ZOOM[severity - 1]
    factors = np.arange(1.0, stop, step)  # 12, 16, 11, 13, 11 factors (float arange, as reference)
    planes = _unit_planes(image)  # float32, as the reference
    total = planes.copy()
    for factor in factors.tolist():
        _clipped_zoom(planes, factor, total)
    total /= len(factors) + 1
    return _unit_image(total)


# ---------------------------------------------------------------- weather


def _snow(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    loc, spread, zoom, threshold, radius, sigma, weight = SNOW[severity - 1]
    scale = _scale(image.shape)
    flakes = rng.normal(loc, spread, size=image.shape[:2])
    flakes = _clipped_zoom(flakes, max(1.0, zoom * scale))
    flakes[flakes < threshold] = 0.0
    taps = motion_kernel(radius * scale, sigma * scale, rng.uniform(-135.0, -45.0))
    layer = _floor_uint8(_apply_taps(_to_uint8(flakes), taps))
    out = np.empty_like(image)  # the image lit by its grey, the layer and its 180 turn added
    weights = (np.float32(weight), np.float32(1.0 - weight))
    _compiled().snow_blend(image, _UNIT_LEVELS, layer, weights, out)
    return out


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


def _fog_map(
    h: int, w: int, decay: float, rng: np.random.Generator, scale: float | None = None
) -> np.ndarray:
    """The plasma fractal as the reference draws it for 224x224 (256 grid, top-left crop),
    cropped to the map's extent in reference pixels (``scale``: image pixels per reference
    pixel, by default the map's own size against 224) and resized to h x w."""
    scale = min(h, w) / REFERENCE_SIZE if scale is None else scale
    eh, ew = math.ceil(h / scale - _EPS), math.ceil(w / scale - _EPS)
    size = max(256, 1 << (max(eh, ew) - 1).bit_length())
    fractal = _plasma_fractal(size, decay, rng)[:eh, :ew]
    if (eh, ew) == (h, w):
        return fractal
    return np.clip(_resize_linear(fractal, h, w), 0.0, 1.0)


def _fog(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    weight, decay = FOG[severity - 1]
    peak = image.max() / 255.0
    fog = _fog_map(image.shape[0], image.shape[1], decay, rng).astype(np.float32)
    fog *= np.float32(255.0 * weight)
    foggy = image.astype(np.float32)
    foggy += fog[:, :, None]
    foggy *= np.float32(peak / (peak + weight))
    return _floor_uint8(foggy)


def _frost_texture(h: int, w: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A procedural stand-in for one of the reference's frost photographs (see module
    docstring): HxWx3 floats on 0-255 with the photographs' mean colour and contrast, features
    sized for images ``scale`` times the reference's. Ice needles are sparse seeds smeared along
    8 random directions (wrapping around the edges), denser where a low-frequency fractal is
    high; fine grain and a fractal haze are added."""
    clusters = _fog_map(h, w, 2.0, rng, scale)
    density = 0.002 + 0.03 * clusters**2
    crystals = np.zeros((h, w))
    for _ in range(8):
        crystals = np.maximum(crystals, _needles(density, scale, rng))
    crystals = ndimage.gaussian_filter(crystals, 0.5 * scale, mode="wrap")
    grain = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (h, w)), 0.8 * scale + 0.3, mode="wrap")
    level = crystals + 0.1 * grain + 0.6 * clusters + 0.4 * _fog_map(h, w, 1.6, rng, scale)
    level = (level - level.mean()) / (level.std() + _EPS)
    tint = _FROST_MEAN / _FROST_MEAN.mean()
    rgb = _FROST_MEAN[None, None, :] + _FROST_STD * level[:, :, None] * tint[None, None, :]
    return np.clip(rgb, 0.0, 255.0)


@functools.lru_cache(maxsize=4)
def _frost_textures(h: int, w: int) -> tuple[np.ndarray, ...]:
    """The frost "photographs" for HxW images: :data:`FROST_TEXTURES` textures of twice the
    image's height and width, drawn from fixed seeds (the same in every process), as float32."""
    scale = min(h, w) / REFERENCE_SIZE
    seeds = (np.random.default_rng([FROST_SEED, k]) for k in range(FROST_TEXTURES))
    return tuple(
        _frozen(_frost_texture(2 * h, 2 * w, scale, rng).astype(np.float32)) for rng in seeds
    )


def _needles(density: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """One direction of the frost's ice needles: seeds drawn with probability ``density`` per
    pixel, strength U(0.4, 1), each smeared into a line of 5-24 reference pixels that fades to
    0.3, wrapping around the edges; overlapping lines add. Only the seeds are visited."""
    h, w = density.shape
    seeds = np.flatnonzero(rng.random((h, w)) < density)
    strength = rng.uniform(0.4, 1.0, seeds.size)
    count = max(2, round(rng.uniform(5.0, 24.0) * scale))
    theta = rng.uniform(0.0, 2.0 * math.pi)
    j = np.arange(count, dtype=np.float64)
    dy, dx = np.rint(j * math.sin(theta)).astype(np.intp), np.rint(j * math.cos(theta))
    rows = (seeds[:, None] // w - dy) % h
    cols = (seeds[:, None] % w - dx.astype(np.intp)) % w
    weights = strength[:, None] * (1.0 - 0.7 * j / count)
    return np.bincount((rows * w + cols).ravel(), weights.ravel(), h * w).reshape(h, w)


def _frost(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    image_weight, frost_weight = FROST[severity - 1]
    h, w = image.shape[:2]
    textures = _frost_textures(h, w)
    texture = textures[rng.integers(len(textures))]  # as the reference picks a photograph
    top = rng.integers(texture.shape[0] - h)  # and a random crop of it
    left = rng.integers(texture.shape[1] - w)
    frost = texture[top : top + h, left : left + w] * np.float32(frost_weight)
    frost += image * np.float32(image_weight)
    return _floor_uint8(frost)


def _brightness(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    planes = _unit_planes(image)
    value = planes.max(axis=0)
    brighter = np.minimum(value + BRIGHTNESS[severity - 1], 1.0)
    lit = value > 0
    ratio = np.divide(brighter, value, out=np.zeros_like(value), where=lit)
    planes *= ratio
    planes += np.where(lit, np.float32(0.0), brighter)  # a black pixel becomes grey
    return _unit_image(planes)


# ---------------------------------------------------------------- digital


def _contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = CONTRAST[severity - 1]
    means = _channel_means(image)
    out = image.astype(np.float32)
    out *= np.float32(factor)
    out += (means * (1.0 - factor)).astype(np.float32)  # (x - mean) * c + mean
    return _floor_uint8(out)


def _channel_means(image: np.ndarray) -> np.ndarray:
    """``image.mean(axis=(0, 1))`` of a uint8 HxWx3 image, bit for bit: the integer sum of each
    plane (exact), divided by the pixel count, as NumPy's float64 mean of integers comes out.
    NumPy's strided mean over the two leading axes took 0.74 ms of contrast's 1.07 ms (224 crop);
    this takes 0.09."""
    sums = _planes(image).reshape(3, -1).sum(axis=1, dtype=np.int64)
    means: np.ndarray = sums / float(image.shape[0] * image.shape[1])
    return means


def _affine_warp(planes: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """The reference's random affine of CxHxW ``planes``: three points around the centre moved
    by U(-jitter, jitter), bilinear warp with reflect-101 borders (OpenCV ``warpAffine``)."""
    h, w = planes.shape[1:]
    cx, cy, side = float(w // 2), float(h // 2), float(max(1, min(h, w) // 3))
    src = np.array([[cx + side, cy + side], [cx + side, cy - side], [cx - side, cy - side]])
    dst = src + rng.uniform(-jitter, jitter, size=src.shape)
    forward = np.linalg.solve(np.hstack([src, np.ones((3, 1))]), dst).T  # 2x3, (x, y) order
    inverse = np.linalg.inv(np.vstack([forward, [0.0, 0.0, 1.0]]))
    out = np.empty_like(planes)  # sampled where the map sends each pixel, coordinates per pixel
    _compiled().affine_bilinear(np.ascontiguousarray(planes), inverse[:2].copy(), False, out)
    return out


def _sample(planes: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str) -> np.ndarray:
    """``scipy.ndimage.map_coordinates(order=1, mode=mode)`` of each of the CxHxW ``planes``
    at the float64 coordinates (rows, cols), in the planes' dtype: bilinear weights on the two
    neighbours per axis, an outside neighbour taken from the border extension (``reflect``:
    d c b a | a b c d, or ``mirror``: d c b | a b c d), which is what SciPy's coordinate folding
    amounts to. Returns planes."""
    out = np.empty((planes.shape[0], *rows.shape), dtype=planes.dtype)
    coords = (np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64))
    _compiled().bilinear(np.ascontiguousarray(planes), *coords, mode == "reflect", out)
    return out


def _elastic_transform(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    base = ELASTIC_BASE * _scale(image.shape)
    alpha, sigma, jitter = (base * v for v in ELASTIC[severity - 1])
    h, w = image.shape[:2]
    planes = _unit_planes(image)
    warped = _affine_warp(planes, jitter, rng)
    cols = _smooth_reflect(rng.uniform(-1.0, 1.0, (h, w)), sigma) * alpha  # dx
    rows = _smooth_reflect(rng.uniform(-1.0, 1.0, (h, w)), sigma) * alpha  # dy
    cols += np.arange(w, dtype=np.float64)[None, :]
    rows += np.arange(h, dtype=np.float64)[:, None]
    return _unit_image(_sample(warped, rows, cols, mode="reflect"))


def _pixelate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = PIXELATE[severity - 1]
    h, w = image.shape[:2]
    small = (max(1, int(w * factor)), max(1, int(h * factor)))
    pil = Image.fromarray(image).resize(small, Image.Resampling.BOX)
    return np.asarray(pil.resize((w, h), Image.Resampling.BOX), dtype=np.uint8).copy()


def _jpeg_compression(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return jpeg_roundtrip(image, JPEG_QUALITY[severity - 1])


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
