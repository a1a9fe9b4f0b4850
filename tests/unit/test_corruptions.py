"""ImageNet-C corruptions (evalkit.data.corruptions) and mCE (evalkit.analysis.robustness).

Expectations are computed independently of the implementation: published parameters written out
as literals, statistics of known distributions, Pillow and the JPEG standard's quantisation
tables, Python's ``colorsys`` for HSV, and hand-worked CE arithmetic.
"""

from __future__ import annotations

import colorsys
import io
import itertools
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from evalkit.analysis.robustness import (
    ALEXNET_CLEAN_ERROR,
    ALEXNET_ERRORS,
    corruption_errors,
    mce,
    relative_corruption_errors,
    relative_mce,
)
from evalkit.data import corruptions
from evalkit.data.corruptions import (
    CORRUPTIONS,
    GROUPS,
    SEVERITIES,
    STOCHASTIC,
    _apply_taps,
    _clipped_zoom,
    _frost_textures,
    _needles,
    _planes_gaussian,
    _poisson_counts,
    _sample,
    _shuffle_order,
    _smooth_reflect,
    corrupt,
    disk_kernel,
    jpeg_roundtrip,
    motion_kernel,
    sample_seed,
)


def scene(h: int = 224, w: int = 224) -> np.ndarray:
    """A deterministic test image: colour gradients, a checkerboard and fine texture."""
    yy, xx = np.mgrid[0:h, 0:w] / 224.0
    img = np.stack([40 + 150 * xx, 60 + 120 * yy, 90 + 80 * np.sin(6 * xx + 4 * yy) ** 2], axis=2)
    checker = ((xx * 14).astype(int) + (yy * 14).astype(int)) % 2 == 1
    img[checker] *= 0.55
    img += np.random.default_rng(0).normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def flat(level: int, size: int = 256) -> np.ndarray:
    return np.full((size, size, 3), level, dtype=np.uint8)


IMAGE = scene()


# ---------------------------------------------------------------- API shape


def test_names_groups_and_severities() -> None:
    assert CORRUPTIONS == (
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "defocus_blur",
        "glass_blur",
        "motion_blur",
        "zoom_blur",
        "snow",
        "frost",
        "fog",
        "brightness",
        "contrast",
        "elastic_transform",
        "pixelate",
        "jpeg_compression",
    )
    assert list(GROUPS) == ["noise", "blur", "weather", "digital"]
    assert tuple(name for group in GROUPS.values() for name in group) == CORRUPTIONS
    assert SEVERITIES == (1, 2, 3, 4, 5)
    assert set(CORRUPTIONS) >= STOCHASTIC


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_shape_dtype_and_determinism(name: str, severity: int) -> None:
    before = IMAGE.copy()
    out = corrupt(IMAGE, name, severity, seed=11)
    assert out.shape == IMAGE.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(IMAGE, before)  # input untouched
    assert corrupt(IMAGE, name, severity, seed=11).tobytes() == out.tobytes()
    other = corrupt(IMAGE, name, severity, seed=12)
    assert (other.tobytes() != out.tobytes()) == (name in STOCHASTIC)
    assert not np.array_equal(out, IMAGE)


@pytest.mark.parametrize("shape", [(299, 299, 3), (96, 96, 3), (120, 160, 3)])
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_other_sizes(name: str, shape: tuple[int, int, int]) -> None:
    image = scene(shape[0], shape[1])
    for severity in (1, 5):
        out = corrupt(image, name, severity, seed=3)
        assert out.shape == shape and out.dtype == np.uint8


def test_tiny_images_do_not_fail() -> None:
    for shape in [(1, 1, 3), (5, 7, 3)]:
        image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        for name in CORRUPTIONS:
            assert corrupt(image, name, 5, seed=1).shape == shape


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match=r"unknown corruption 'speckle_noise'.*gaussian_noise"):
        corrupt(IMAGE, "speckle_noise", 1, seed=0)
    for severity in (0, 6, 2.0, True, "3"):
        with pytest.raises(ValueError, match=r"severit"):
            corrupt(IMAGE, "fog", severity, seed=0)  # type: ignore[arg-type]
    for bad in (IMAGE.astype(np.float32), IMAGE[:, :, :2], IMAGE[:, :, 0]):
        with pytest.raises(ValueError, match="image"):
            corrupt(bad, "fog", 1, seed=0)
    with pytest.raises(ValueError, match="unknown corruption"):
        sample_seed(0, "a", "nope", 1)
    with pytest.raises(ValueError, match="quality"):
        jpeg_roundtrip(IMAGE, quality=0)


def test_sample_seed_is_stable_and_distinct() -> None:
    seed = sample_seed(0, "n01440764/ILSVRC2012_val_00000293.JPEG", "fog", 3)
    assert isinstance(seed, int) and 0 <= seed < 2**64
    assert seed == sample_seed(0, "n01440764/ILSVRC2012_val_00000293.JPEG", "fog", 3)
    variants = {
        sample_seed(1, "n01440764/ILSVRC2012_val_00000293.JPEG", "fog", 3),
        sample_seed(0, "n01440764/ILSVRC2012_val_00000294.JPEG", "fog", 3),
        sample_seed(0, "n01440764/ILSVRC2012_val_00000293.JPEG", "snow", 3),
        sample_seed(0, "n01440764/ILSVRC2012_val_00000293.JPEG", "fog", 4),
    }
    assert seed not in variants and len(variants) == 4
    # pinned: a change here changes every corrupted image of every stored run
    assert sample_seed(7, "img-1", "gaussian_noise", 1) == 0x1865C06F1A8F9FDA


# ---------------------------------------------------------------- severity ordering


@pytest.mark.parametrize(
    "name",
    [
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "defocus_blur",
        "glass_blur",
        "motion_blur",
        "zoom_blur",
        "brightness",
        "contrast",
        "jpeg_compression",
    ],
)
def test_change_grows_with_severity(name: str) -> None:
    change = [
        np.abs(corrupt(IMAGE, name, s, seed=5) - IMAGE.astype(float)).mean() for s in SEVERITIES
    ]
    assert all(b > a for a, b in itertools.pairwise(change)), change


# ---------------------------------------------------------------- noise: known distributions


@pytest.mark.parametrize(
    ("severity", "std"), [(1, 0.08), (2, 0.12), (3, 0.18), (4, 0.26), (5, 0.38)]
)
def test_gaussian_noise_std(severity: int, std: float) -> None:
    # mid-grey; the interquartile range (1.349 std for a normal) is unaffected by the clipping
    # at 0 and 1 even at std 0.38; truncation to 1/255 steps moves each quartile by < 1/255
    out = corrupt(flat(128), "gaussian_noise", severity, seed=severity).astype(float) / 255
    q1, q3 = np.percentile(out, [25, 75])
    assert (q3 - q1) / 1.349 == pytest.approx(std, abs=1.5 / 255 + 0.01 * std)
    assert np.median(out) == pytest.approx(128 / 255, abs=1.5 / 255)


@pytest.mark.parametrize(("severity", "lam"), [(1, 60), (2, 25), (3, 12), (4, 5), (5, 3)])
def test_shot_noise_is_poisson(severity: int, lam: int) -> None:
    level = 51 / 255  # 0.2: Poisson(0.2 * lam) / lam, clipped at 1 (counts >= lam)
    out = corrupt(flat(51), "shot_noise", severity, seed=severity).astype(int).ravel()
    n, mean = out.size, level * lam
    counts = np.round(out[out < 255] * lam / 255).astype(int)
    pmf = [math.exp(-mean) * mean**k / math.factorial(k) for k in range(lam)]
    for k in range(min(lam, 8)):
        tolerance = 5 * math.sqrt(pmf[k] * (1 - pmf[k]) / n) + 1e-4
        assert np.sum(counts == k) / n == pytest.approx(pmf[k], abs=tolerance), k
    clipped = 1 - sum(pmf)  # P(count >= lam)
    tolerance = 5 * math.sqrt(clipped * (1 - clipped) / n) + 1e-4
    assert np.mean(out == 255) == pytest.approx(clipped, abs=tolerance)
    if severity <= 3:  # no clipping in practice: variance of the output is level / lam
        variance = np.var(out / 255.0)
        assert variance == pytest.approx(level / lam, rel=0.03)


@pytest.mark.parametrize(
    ("severity", "amount"), [(1, 0.03), (2, 0.06), (3, 0.09), (4, 0.17), (5, 0.27)]
)
def test_impulse_noise_fraction(severity: int, amount: float) -> None:
    out = corrupt(flat(128), "impulse_noise", severity, seed=severity)
    n = out.size
    tolerance = 5 * math.sqrt(amount * (1 - amount) / n)
    assert np.mean((out == 0) | (out == 255)) == pytest.approx(amount, abs=tolerance)
    assert np.mean(out == 255) == pytest.approx(amount / 2, abs=tolerance)
    assert set(np.unique(out).tolist()) == {0, 128, 255}


# ---------------------------------------------------------------- blur


@pytest.mark.parametrize(("radius", "points"), [(3, 29), (4, 49), (6, 113), (8, 197), (10, 317)])
def test_defocus_kernel_is_a_normalised_disk(radius: int, points: int) -> None:
    # lattice points with x^2 + y^2 <= r^2 (Gauss circle problem): 29, 49, 113, 197, 317
    bare = disk_kernel(radius, 0.0)
    assert np.count_nonzero(bare) == points
    assert np.allclose(bare[bare > 0], 1 / points) and bare.sum() == pytest.approx(1.0)
    half = bare.shape[0] // 2
    y, x = np.nonzero(bare)
    assert np.max((y - half) ** 2 + (x - half) ** 2) <= radius**2
    smooth = disk_kernel(radius, 0.5)
    assert smooth.shape == bare.shape and np.allclose(smooth, smooth.T)
    assert np.allclose(smooth, smooth[::-1, ::-1])
    # the reference's anti-aliasing (OpenCV, reflect-101 border) adds ~1% mass when the disk
    # touches the grid edge (radius 8 and 10); otherwise the kernel stays normalised
    assert smooth.sum() == pytest.approx(1.0, abs=1e-12 if radius < 8 else 0.015)
    yy, xx = np.mgrid[: bare.shape[0], : bare.shape[1]] - half
    assert smooth[(yy**2 + xx**2) > (radius + 3) ** 2].sum() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("severity", "radius", "alias"), [(1, 3, 0.1), (3, 6, 0.5), (5, 10, 0.5)])
def test_defocus_blur_applies_the_published_disk(severity: int, radius: int, alias: float) -> None:
    image = np.zeros((224, 224, 3), dtype=np.uint8)  # the reference size: radius not rescaled
    image[112, 112] = 255
    out = corrupt(image, "defocus_blur", severity, seed=0).astype(int)
    kernel = disk_kernel(radius, alias)
    half = kernel.shape[0] // 2
    expected = np.floor(kernel * 255 + 1e-6).astype(int)
    window = out[112 - half : 112 + half + 1, 112 - half : 112 + half + 1]
    assert np.abs(window - expected[:, :, None]).max() <= 1
    assert out.sum() == window.sum()  # nothing outside the kernel's support


@pytest.mark.parametrize(
    ("severity", "radius", "sigma", "taps"),
    [(1, 10, 3, 21), (2, 15, 5, 31), (3, 15, 8, 31), (4, 15, 12, 31), (5, 20, 15, 41)],
)
def test_motion_kernel_is_imagemagicks(severity: int, radius: int, sigma: int, taps: int) -> None:
    # 2 * ceil(radius) + 1 taps j = 0, 1, ...: half-Gaussian weights, offsets on the ray at 20
    # degrees (no rounding ties at this angle): (dy, dx) = round(j sin 20), round(j cos 20)
    kernel = motion_kernel(radius, sigma, 20.0)
    assert kernel.shape == (taps, 3)
    j = np.arange(taps)
    weights = np.exp(-(j**2) / (2 * sigma**2))
    np.testing.assert_allclose(kernel[:, 2], weights / weights.sum())
    np.testing.assert_array_equal(kernel[:, 0], np.round(j * 0.3420201433256687))
    np.testing.assert_array_equal(kernel[:, 1], np.round(j * 0.9396926207859084))


def test_motion_blur_of_a_flat_image_is_flat() -> None:
    for severity in SEVERITIES:
        out = corrupt(flat(200, 64), "motion_blur", severity, seed=1)
        assert np.all(out >= 199) and np.all(out <= 200)


# ---------------------------------------------------------------- weather and digital by hand


def test_brightness_by_hand() -> None:
    image = np.array([[[100, 50, 0], [0, 0, 0]], [[255, 255, 255], [200, 100, 40]]], np.uint8)
    out = corrupt(image, "brightness", 1, seed=0)  # HSV value + 0.1
    # (100, 50, 0): V = 100/255 -> V + 0.1 = 125.5/255, every channel scaled by 1.255
    # -> (125.5, 62.75, 0) -> truncated (125, 62, 0); black -> grey 25.5 -> 25; white stays
    # (200, 100, 40): V + 0.1 = 225.5/255, scale 1.1275 -> (225.5, 112.75, 45.1) -> (225, 112, 45)
    expected = [[[125, 62, 0], [25, 25, 25]], [[255, 255, 255], [225, 112, 45]]]
    np.testing.assert_array_equal(out, np.array(expected, np.uint8))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_brightness_matches_colorsys(severity: int) -> None:
    c = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    image = np.random.default_rng(severity).integers(0, 256, (9, 9, 3), dtype=np.uint8)
    out = corrupt(image, "brightness", severity, seed=0)
    for (i, j), _ in np.ndenumerate(image[:, :, 0]):
        h, s, v = colorsys.rgb_to_hsv(*(image[i, j] / 255.0))
        rgb = np.array(colorsys.hsv_to_rgb(h, s, min(v + c, 1.0)))
        np.testing.assert_array_equal(out[i, j], np.floor(rgb * 255 + 1e-6).astype(np.uint8))


def test_contrast_by_hand() -> None:
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[:, :, 0] = [[0, 100], [200, 100]]  # mean 100
    image[:, :, 1] = [[10, 20], [30, 40]]  # mean 25
    image[:, :, 2] = 77  # flat: unchanged
    out = corrupt(image, "contrast", 1, seed=0)  # (x - mean) * 0.4 + mean
    np.testing.assert_array_equal(out[:, :, 0], [[60, 100], [140, 100]])
    # 25 + 0.4 * (-15, -5, 5, 15) = 19, 23, 27, 31
    np.testing.assert_array_equal(out[:, :, 1], [[19, 23], [27, 31]])
    np.testing.assert_array_equal(out[:, :, 2], 77)
    out5 = corrupt(image, "contrast", 5, seed=0)  # factor 0.05: 100 + 0.05 * (-100) = 95
    np.testing.assert_array_equal(out5[:, :, 0], [[95, 100], [105, 100]])


def test_contrast_channel_means_are_numpys_mean_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    for shape in ((1, 1, 3), (224, 224, 3), (375, 500, 3), (1200, 1600, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = image.mean(axis=(0, 1))
        np.testing.assert_array_equal(corruptions._channel_means(image), expected)
    bright = np.full((4096, 4097, 3), 255, dtype=np.uint8)  # sums above 2**32
    np.testing.assert_array_equal(corruptions._channel_means(bright), [255.0, 255.0, 255.0])


def test_fog_range_on_a_flat_image() -> None:
    # x = 0.6 everywhere, fog weight 1.5: out = (0.6 + 1.5 f) * 0.6 / 2.1 with the fractal f
    # spanning exactly [0, 1]: minimum 0.36 / 2.1 * 255 = 43.71 -> 43, maximum 0.6 * 255 = 153
    out = corrupt(flat(153, 224), "fog", 1, seed=4)
    assert out.min() == 43 and out.max() == 153
    assert np.all(out[:, :, 0] == out[:, :, 1]) and np.all(out[:, :, 1] == out[:, :, 2])


def test_frost_texture_statistics() -> None:
    # the five textures have the mean colour and contrast of the reference's frost photographs,
    # about (146, 167, 179) and 28; on black, frost at severity 1 is 0.4 * a crop of one
    textures = _frost_textures(224, 224)
    assert len(textures) == 5 and all(t.shape == (448, 448, 3) for t in textures)
    for texture in textures:
        np.testing.assert_allclose(texture.mean(axis=(0, 1)), [146, 167, 179], atol=1)
        assert 20 < texture.std(axis=(0, 1)).mean() < 35
    black = np.zeros((224, 224, 3), np.uint8)
    means = [corrupt(black, "frost", 1, seed).mean(axis=(0, 1)) / 0.4 for seed in range(40)]
    np.testing.assert_allclose(np.mean(means, axis=0), [146, 167, 179], atol=8)


def test_frost_is_a_random_crop_of_a_random_texture() -> None:
    # as the reference: one of the five "photographs" (randint(5)), a random 224 crop of it
    # (randint(0, size - 224) per axis), blended with the image's weights
    image = np.random.default_rng(3).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    for seed in range(4):
        replay = np.random.default_rng(seed)
        texture = _frost_textures(224, 224)[replay.integers(5)]
        top, left = replay.integers(224), replay.integers(224)
        crop = texture[top : top + 224, left : left + 224].astype(np.float64)
        expected = np.floor(np.clip(0.8 * image + 0.6 * crop, 0, 255))
        out = corrupt(image, "frost", 2, seed).astype(np.float64)
        assert np.abs(out - expected).max() <= 1
        assert np.mean(out != expected) < 1e-3  # float32 round-off at a level's edge
    assert _frost_textures(224, 224) is _frost_textures(224, 224)  # drawn once per process
    assert not any(t.flags.writeable for t in _frost_textures(224, 224))  # shared: read-only


@pytest.mark.parametrize(("severity", "small"), [(1, 134), (2, 112), (3, 89), (4, 67), (5, 56)])
def test_pixelate_factor(severity: int, small: int) -> None:
    # int(224 * factor) for factors 0.6, 0.5, 0.4, 0.3, 0.25, box down then box up
    pil = Image.fromarray(IMAGE)
    down = pil.resize((small, small), Image.Resampling.BOX)
    expected = np.asarray(down.resize((224, 224), Image.Resampling.BOX))
    np.testing.assert_array_equal(corrupt(IMAGE, "pixelate", severity, seed=0), expected)
    near = pil.resize((small + 1, small + 1), Image.Resampling.BOX)
    other = np.asarray(near.resize((224, 224), Image.Resampling.BOX))
    assert not np.array_equal(corrupt(IMAGE, "pixelate", severity, seed=0), other)


LUMINANCE = [  # JPEG standard (ITU T.81 Annex K.1) luminance table, natural order
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
]


def jpeg(image: np.ndarray, quality: int, optimize: bool = False) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=optimize)
    return buffer.getvalue()


@pytest.mark.parametrize(("severity", "quality"), [(1, 25), (2, 18), (3, 15), (4, 10), (5, 7)])
def test_jpeg_compression_quality(severity: int, quality: int) -> None:
    out = corrupt(IMAGE, "jpeg_compression", severity, seed=0)
    decoded = np.asarray(Image.open(io.BytesIO(jpeg(IMAGE, quality))).convert("RGB"))
    np.testing.assert_array_equal(out, decoded)
    for wrong in (quality - 1, quality + 1):
        wrong_decoded = np.asarray(Image.open(io.BytesIO(jpeg(IMAGE, wrong))).convert("RGB"))
        assert not np.array_equal(out, wrong_decoded)
    # and Pillow's quality is the IJG one: tables scaled by 5000 // quality (quality < 50)
    scale = 5000 // quality
    expected = [min(255, max(1, (v * scale + 50) // 100)) for row in LUMINANCE for v in row]
    with Image.open(io.BytesIO(jpeg(IMAGE, quality))) as encoded:
        assert list(encoded.quantization[0]) == expected  # type: ignore[attr-defined]


def test_jpeg_roundtrip_is_the_reference_save() -> None:
    # the reference saves with optimize=True; evalkit encodes without (faster): Huffman table
    # optimisation is lossless, so the decoded pixels must be the same, on any image
    noise = np.random.default_rng(3).integers(0, 256, (61, 93, 3), dtype=np.uint8)
    for image in (IMAGE, noise, scene(17, 300)):
        out = jpeg_roundtrip(image)
        saved = jpeg(image, 85, optimize=True)
        expected = np.asarray(Image.open(io.BytesIO(saved)).convert("RGB"))
        np.testing.assert_array_equal(out, expected)
        assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(jpeg_roundtrip(IMAGE, quality=50), jpeg_roundtrip(IMAGE))


def test_jpeg_quantization_reciprocal_rounds_to_nearest() -> None:
    # libjpeg-turbo divides by a reciprocal; for every DCT magnitude a 16-bit value can have
    # and every divisor (table value times 8) it is the division rounded half up
    values = np.arange(1 << 15, dtype=np.int64)
    for divisor in range(8, 8 * 256, 8):
        reciprocal, correction, shift = corruptions._reciprocal(divisor)
        quotient = ((values + correction) * reciprocal) >> shift
        np.testing.assert_array_equal(quotient, (values + divisor // 2) // divisor)


@pytest.mark.parametrize("quality", [85, 100, 50, 25, 7, 1])
def test_compiled_jpeg_steps_are_pillows_round_trip(quality: int) -> None:
    # sides that are multiples of 16 (the 224 crop) take the compiled lossy steps without the
    # entropy coding: the pixels must be Pillow's save and load, bit for bit, on smooth, noisy,
    # flat, saturated and corrupted images (the noise reaches every colour, the range limits
    # and large coefficients)
    rng = np.random.default_rng(quality)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 0, 0]])
    images = [
        IMAGE,
        rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        rng.integers(0, 2, (64, 48, 3), dtype=np.uint8) * np.uint8(255),
        colours[rng.integers(0, 5, (32, 96))].astype(np.uint8),
        flat(0, 16),
        flat(255, 32),
        corrupt(IMAGE, "gaussian_noise", 5, seed=1),
        corrupt(IMAGE, "snow", 3, seed=2),
    ]
    for image in images:
        expected = np.asarray(Image.open(io.BytesIO(jpeg(image, quality))).convert("RGB"))
        np.testing.assert_array_equal(jpeg_roundtrip(image, quality), expected)


# ---------------------------------------------------------------- fast paths against oracles
# The corruptions use faster equivalents of the operations the reference calls; each is checked
# here against the straightforward computation (SciPy's own functions, the reference's loop).


@pytest.mark.parametrize("mode", ["reflect", "mirror"])
@pytest.mark.parametrize("shape", [(224, 224), (7, 5), (1, 4), (30, 1)])
def test_bilinear_sampling_is_scipys_map_coordinates(mode: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    planes = rng.random((3, *shape))
    h, w = shape
    rows = rng.uniform(-3 * h, 4 * h, (40, 50))
    cols = rng.uniform(-3 * w, 4 * w, (40, 50))
    rows[0, :5], cols[0, :5] = [-0.5, -1.0, 0.0, h - 1, h - 0.5], [w - 1, -0.3, w, 0.0, -1e-9]
    expected = [
        ndimage.map_coordinates(plane, [rows, cols], order=1, mode=mode) for plane in planes
    ]
    np.testing.assert_allclose(_sample(planes, rows, cols, mode), expected, rtol=0, atol=1e-12)


def test_clipped_zoom_is_scipys_zoom() -> None:
    # the reference: scipy.ndimage.zoom(order=1) of the centre 1/factor crop, then trimmed
    planes = np.random.default_rng(1).random((3, 224, 201)).astype(np.float32)
    for factor in np.arange(1.0, 1.31, 0.01).tolist():
        ch, cw = math.ceil(224 / factor), math.ceil(201 / factor)
        top, left = (224 - ch) // 2, (201 - cw) // 2
        crop = planes[:, top : top + ch, left : left + cw].astype(np.float64)
        zoomed = ndimage.zoom(crop, (1, factor, factor), order=1)
        trim_top, trim_left = (zoomed.shape[1] - 224) // 2, (zoomed.shape[2] - 201) // 2
        expected = zoomed[:, trim_top : trim_top + 224, trim_left : trim_left + 201]
        np.testing.assert_allclose(_clipped_zoom(planes, factor), expected, atol=1e-6)


def test_clipped_zoom_adds_to_a_total() -> None:
    # zoom blur sums its zooms in place: the same values as adding the zoom
    planes = np.random.default_rng(3).random((3, 50, 61)).astype(np.float32)
    total = planes.copy()
    assert _clipped_zoom(planes, 1.17, total) is total
    np.testing.assert_array_equal(total, planes + _clipped_zoom(planes, 1.17))


@pytest.mark.parametrize("sigma", [0.7, 1.5, 2.3])  # glass blur's (and larger images')
@pytest.mark.parametrize("shape", [(3, 224, 224), (3, 41, 57), (3, 2, 5), (1, 1, 9)])
def test_glass_gaussian_is_scipys_gaussian_filter(sigma: float, shape: tuple[int, ...]) -> None:
    # scikit-image's gaussian as the reference calls it: SciPy, nearest borders, truncate 4,
    # float32 output, then truncated to uint8 with the 1e-3 guard
    planes = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    planes[0, :1] = 255  # a flat edge must stay exactly 255
    blurred = ndimage.gaussian_filter(
        planes, (0, sigma, sigma), output=np.float32, mode="nearest", truncate=4.0
    )
    expected = (np.clip(blurred, 0, 255) + np.float32(1e-3)).astype(np.uint8)
    np.testing.assert_array_equal(_planes_gaussian(planes, sigma), expected)
    as_image = _planes_gaussian(planes, sigma, image=True)  # glass blur's last pass
    np.testing.assert_array_equal(as_image, np.moveaxis(expected, 0, 2))


@pytest.mark.parametrize("shape", [(224, 224, 3), (30, 7, 3), (9, 12)])
def test_motion_taps_are_the_shifted_sum(shape: tuple[int, ...]) -> None:
    # the straightforward computation: edge-padded image, one float32 product per tap, added
    # in tap order; offsets beyond the image's size repeat its edge
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    taps = np.vstack([motion_kernel(15, 8, 30.0), [[-40, 25, 0.125], [3, -50, 0.25]]])
    pad = 50
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image.astype(np.float32), widths, mode="edge")
    h, w = shape[:2]
    expected = np.zeros(shape, dtype=np.float32)
    for dy, dx, weight in taps:
        y, x = pad + int(dy), pad + int(dx)
        expected += padded[y : y + h, x : x + w] * np.float32(weight)
    np.testing.assert_array_equal(_apply_taps(image, taps), expected)


@pytest.mark.parametrize("sigma", [0.01 * 244, 0.08 * 244, 0.7 * 244])  # elastic's smoothings
@pytest.mark.parametrize("shape", [(224, 160), (9, 4), (1, 6)])
def test_displacement_smoothing_is_scipys_gaussian_filter(
    sigma: float, shape: tuple[int, int]
) -> None:
    field = np.random.default_rng(2).uniform(-1, 1, shape)
    expected = ndimage.gaussian_filter(field, sigma, mode="reflect", truncate=3.0)
    smooth = _smooth_reflect(field, sigma)
    if int(3.0 * sigma + 0.5) <= 12:  # the compiled filter: SciPy's arithmetic, bit for bit
        np.testing.assert_array_equal(smooth, expected)
    else:  # matrix products: another order of the same sums
        np.testing.assert_allclose(smooth, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(224, 224), (13, 7), (1, 5)])
def test_affine_sampling_is_sampling_at_the_broadcast_coordinates(shape: tuple[int, int]) -> None:
    # elastic's affine warp computes each pixel's source inside the compiled loop; the same
    # bits as NumPy's broadcast of the map followed by the bilinear sampling
    rng = np.random.default_rng(4)
    planes = rng.random((3, *shape)).astype(np.float32)
    inverse = np.array([[0.98, 0.07, -1.3], [-0.05, 1.02, 2.6]])
    h, w = shape
    xs, ys = np.arange(w, dtype=np.float64)[None, :], np.arange(h, dtype=np.float64)[:, None]
    cols = inverse[0, 0] * xs + (inverse[0, 1] * ys + inverse[0, 2])
    rows = inverse[1, 0] * xs + (inverse[1, 1] * ys + inverse[1, 2])
    out = np.empty_like(planes)
    corruptions._compiled().affine_bilinear(planes, inverse, False, out)
    np.testing.assert_array_equal(out, _sample(planes, rows, cols, mode="mirror"))


def test_unit_planes_and_back_are_the_numpy_expressions() -> None:
    # x / 255. in float64 rounded to float32, and _to_uint8 of the planes moved to the last axis
    image = np.random.default_rng(8).integers(0, 256, (37, 23, 3), dtype=np.uint8)
    image[0, 0] = [0, 128, 255]
    planes = corruptions._unit_planes(image)
    expected = (np.moveaxis(image, 2, 0) / 255.0).astype(np.float32)
    assert planes.dtype == np.float32
    np.testing.assert_array_equal(planes, expected)
    for dtype in (np.float32, np.float64):
        values = (planes * 1.3 - 0.15).astype(dtype)  # some below 0 and above 1
        back = corruptions._unit_image(values)
        np.testing.assert_array_equal(back, corruptions._to_uint8(np.moveaxis(values, 0, 2)))
    np.testing.assert_array_equal(corruptions._unit_image(planes), image)


def test_snow_blend_is_the_numpy_expression() -> None:
    # snow's last step as NumPy computes it, in float32, against the compiled loop
    rng = np.random.default_rng(10)
    image = rng.integers(0, 256, (31, 17, 3), dtype=np.uint8)
    layer = rng.integers(0, 256, (31, 17), dtype=np.uint8)
    weight = 0.65
    planes = (np.moveaxis(image, 2, 0) / 255.0).astype(np.float32)
    r, g, b = planes
    lifted = r * np.float32(0.299 * 1.5)
    lifted += g * np.float32(0.587 * 1.5)
    lifted += b * np.float32(0.114 * 1.5)
    lifted += np.float32(0.5)
    snowy = np.maximum(planes, lifted) * np.float32(1.0 - weight)
    planes *= np.float32(weight)
    planes += snowy
    planes *= np.float32(255.0)
    planes += layer.astype(np.float32) + np.rot90(layer, k=2).astype(np.float32)
    expected = (np.clip(np.moveaxis(planes, 0, 2), 0, 255) + np.float32(1e-3)).astype(np.uint8)
    out = np.empty_like(image)
    weights = (np.float32(weight), np.float32(1.0 - weight))
    corruptions._compiled().snow_blend(image, corruptions._UNIT_LEVELS, layer, weights, out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("delta", "iterations"), [(1, 2), (2, 1), (4, 2)])
def test_glass_shuffle_is_the_reference_loop(delta: int, iterations: int) -> None:
    # the reference's loop, written out: for each iteration, rows h - d down to d + 1, columns
    # w - d down to d + 1, swap pixel (y, x) with (y + dy, x + dx), dy and dx in [-d, d - 1]
    h, w = 23, 31
    rng = np.random.default_rng(9)
    pixels = np.arange(h * w).reshape(h, w)
    for _ in range(iterations):
        # one draw per visit picks (dy, dx) among the (2d)^2 pairs, dy = q // 2d - d
        pairs = rng.integers(4 * delta**2, size=(h - 2 * delta) * (w - 2 * delta), dtype=np.uint16)
        q = pairs.astype(int)
        offsets = iter(np.stack([q // (2 * delta), q % (2 * delta)], axis=1) - delta)
        for y in range(h - delta, delta, -1):
            for x in range(w - delta, delta, -1):
                dy, dx = next(offsets)
                a, b = pixels[y, x], pixels[y + dy, x + dx]
                pixels[y, x], pixels[y + dy, x + dx] = b, a
    order = _shuffle_order(h, w, delta, iterations, np.random.default_rng(9))
    np.testing.assert_array_equal(np.asarray(order).reshape(h, w), pixels)


def test_shot_noise_counts_are_poisson_at_every_level() -> None:
    # inversion sampling: for a few levels, the counts' frequencies against scipy's pmf
    levels = np.repeat(np.array([0, 1, 51, 128, 254, 255], dtype=np.uint8), 40000)
    image = np.stack([levels] * 3, axis=1).reshape(-1, 1, 3)
    for lam in (60, 3):
        counts = _poisson_counts(image, lam, np.random.default_rng(lam)).reshape(6, -1)
        for level, drawn in zip([0, 1, 51, 128, 254, 255], counts, strict=True):
            mean = level / 255 * lam
            assert drawn.mean() == pytest.approx(mean, abs=5 * math.sqrt(mean / drawn.size))
            for k in range(int(mean) - 2, int(mean) + 3):
                p = stats.poisson.pmf(k, mean)
                tolerance = 5 * math.sqrt(p * (1 - p) / drawn.size) + 1e-12
                assert np.mean(drawn == k) == pytest.approx(p, abs=tolerance), (lam, level, k)


def test_frost_needle_is_a_fading_line() -> None:
    # one seed: a line of `count` pixels along the drawn direction (wrapping at the edges),
    # weights strength * (1 - 0.7 j / count)
    density = np.zeros((40, 50))
    density[5, 48] = 1.0
    rng = np.random.default_rng(4)
    line = _needles(density, 1.0, rng)
    replay = np.random.default_rng(4)
    replay.random((40, 50))
    strength = replay.uniform(0.4, 1.0, 1)[0]
    count = max(2, round(replay.uniform(5.0, 24.0)))
    theta = replay.uniform(0.0, 2.0 * math.pi)
    expected = np.zeros((40, 50))
    for j in range(count):
        y = (5 - round(j * math.sin(theta))) % 40
        x = (48 - round(j * math.cos(theta))) % 50
        expected[y, x] += strength * (1 - 0.7 * j / count)
    np.testing.assert_allclose(line, expected, rtol=1e-12)


# ---------------------------------------------------------------- mCE


def test_alexnet_table_matches_the_published_averages() -> None:
    averages = {  # the "Average" column of the same README table (and AugMix's ALEXNET_ERR)
        "gaussian_noise": 0.886428,
        "shot_noise": 0.894468,
        "impulse_noise": 0.922640,
        "defocus_blur": 0.819880,
        "glass_blur": 0.826268,
        "motion_blur": 0.785948,
        "zoom_blur": 0.798360,
        "snow": 0.866816,
        "frost": 0.826572,
        "fog": 0.819324,
        "brightness": 0.564592,
        "contrast": 0.853204,
        "elastic_transform": 0.646056,
        "pixelate": 0.717840,
        "jpeg_compression": 0.606500,
    }
    assert tuple(ALEXNET_ERRORS) == CORRUPTIONS
    for name, row in ALEXNET_ERRORS.items():
        assert len(row) == 5
        assert sum(row) / 5 == pytest.approx(averages[name], abs=1e-9)
    assert round(ALEXNET_CLEAN_ERROR, 4) == 0.4348


MODEL = {
    "gaussian_noise": (0.5, 0.6, 0.7, 0.8, 0.9),
    "brightness": (0.3, 0.3, 0.35, 0.4, 0.5),
}


def test_mce_by_hand() -> None:
    # AlexNet sums: gaussian 0.69528 + 0.82542 + 0.93554 + 0.98138 + 0.99452 = 4.43214,
    # brightness 0.4514 + 0.48502 + 0.54048 + 0.62166 + 0.7244 = 2.82296
    # model sums: 3.5 and 1.85
    ce = corruption_errors(MODEL)
    assert ce["gaussian_noise"] == pytest.approx(3.5 / 4.43214, rel=1e-12)
    assert ce["brightness"] == pytest.approx(1.85 / 2.82296, rel=1e-12)
    assert mce(MODEL) == pytest.approx((3.5 / 4.43214 + 1.85 / 2.82296) / 2, rel=1e-12)
    assert mce(MODEL) == pytest.approx(0.722513, abs=1e-6)


def test_relative_mce_by_hand() -> None:
    # clean error 0.25: model sums 3.5 - 5 * 0.25 = 2.25 and 1.85 - 1.25 = 0.6;
    # AlexNet (clean 0.43478): 4.43214 - 2.1739 = 2.25824 and 2.82296 - 2.1739 = 0.64906
    rel = relative_corruption_errors(MODEL, clean_error=0.25)
    assert rel["gaussian_noise"] == pytest.approx(2.25 / 2.25824, rel=1e-12)
    assert rel["brightness"] == pytest.approx(0.6 / 0.64906, rel=1e-12)
    expected = (2.25 / 2.25824 + 0.6 / 0.64906) / 2
    assert relative_mce(MODEL, clean_error=0.25) == pytest.approx(expected, rel=1e-12)
    assert relative_mce(MODEL, clean_error=0.25) == pytest.approx(0.960382, abs=1e-6)


def test_subset_of_severities_by_hand() -> None:
    # severities 1, 3, 5 only: AlexNet gaussian 0.69528 + 0.93554 + 0.99452 = 2.62534
    errors = {"gaussian_noise": (0.5, 0.7, 0.9)}
    assert mce(errors, severities=(1, 3, 5)) == pytest.approx(2.1 / 2.62534, rel=1e-12)
    # relative, clean 0.2: (2.1 - 0.6) / (2.62534 - 3 * 0.43478) = 1.5 / 1.32100
    value = relative_mce(errors, clean_error=0.2, severities=(1, 3, 5))
    assert value == pytest.approx(1.5 / 1.321, rel=1e-12)


def test_alexnet_scores_one() -> None:
    assert mce(ALEXNET_ERRORS) == pytest.approx(1.0, rel=1e-12)
    assert relative_mce(ALEXNET_ERRORS, ALEXNET_CLEAN_ERROR) == pytest.approx(1.0, rel=1e-12)


def test_mce_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"unknown corruption 'speckle_noise'"):
        mce({"speckle_noise": (0.5,) * 5})
    with pytest.raises(ValueError, match="severities"):
        mce({"fog": (0.5,) * 5}, severities=(1, 2))
    with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
        mce({"fog": (50.0,) * 5})
    with pytest.raises(ValueError, match="severities"):
        mce({"fog": (0.5,)}, severities=(6,))
    with pytest.raises(ValueError, match="no corruption"):
        mce({})
    with pytest.raises(ValueError, match="clean_error"):
        relative_mce({"fog": (0.5,) * 5}, clean_error=float("nan"))
