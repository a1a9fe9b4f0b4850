"""Preprocessing equals the frameworks' official transforms on real image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit._frameworks import import_torch
from evalkit.data.decode import decode_image
from evalkit.models.torchvision import transform_of
from evalkit.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImageTransform


def torchvision_weights(name: str) -> object:
    import_torch()
    import torchvision

    model, tag = name.split(".")
    return torchvision.models.get_model_weights(model)[tag]


@pytest.mark.parametrize(
    "weights",
    [
        "resnet50.IMAGENET1K_V2",
        "resnet50.IMAGENET1K_V1",
        "efficientnet_b3.IMAGENET1K_V1",
        "vit_b_16.IMAGENET1K_V1",
        "inception_v3.IMAGENET1K_V1",
    ],
)
def test_transform_equals_torchvision_weights_transforms(
    weights: str, photo_files: list[Path]
) -> None:
    entry = torchvision_weights(weights)
    official = entry.transforms()  # type: ignore[attr-defined]
    ours = transform_of(entry)
    for path in photo_files:
        image = decode_image(path.read_bytes())
        expected = official(image).numpy()
        got = ours(image)
        assert got.shape == expected.shape and got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_resnet50_v2_and_v1_record_their_geometry() -> None:
    v2 = transform_of(torchvision_weights("resnet50.IMAGENET1K_V2")).describe()
    v1 = transform_of(torchvision_weights("resnet50.IMAGENET1K_V1")).describe()
    assert (v2["resize"], v2["crop"], v2["interpolation"]) == (232, 224, "bilinear")
    assert (v1["resize"], v1["crop"]) == (256, 224)
    assert v2["mean"] == pytest.approx((0.485, 0.456, 0.406))
    assert v2["std"] == pytest.approx((0.229, 0.224, 0.225))


def test_full_image_resize_and_channels_last() -> None:
    image = Image.new("RGB", (50, 20), (255, 0, 127))
    out = ImageTransform(crop=8, resize=None, layout="NHWC", mean=(0.5,) * 3, std=(0.5,) * 3)(image)
    assert out.shape == (8, 8, 3)
    assert out[0, 0].tolist() == pytest.approx([1.0, -1.0, 127 / 255 * 2 - 1], abs=1e-6)


def test_unknown_interpolation_is_refused() -> None:
    with pytest.raises(ValueError, match="interpolation"):
        ImageTransform(crop=8, interpolation="cubic-ish")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("channels", ["RGB", "BGR"])
@pytest.mark.parametrize(
    "scale",
    [
        (255.0, IMAGENET_MEAN, IMAGENET_STD),  # torchvision
        (127.5, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),  # Keras "tf"
        (1.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),  # Caffe
    ],
)
def test_8_bit_pixels_get_the_formulas_float32_values(
    layout: str, channels: str, scale: tuple[float, tuple[float, ...], tuple[float, ...]]
) -> None:
    # each of the 256 levels in each channel, in another order per channel: the table lookup
    # gives (x / divide_by - mean) / std in float32, bit for bit, in the model's layout
    rng = np.random.default_rng(0)
    levels = [rng.permutation(256).reshape(16, 16) for _ in range(3)]
    pixels = np.stack(levels, axis=-1).astype(np.uint8)
    divide_by, mean, std = scale
    transform = ImageTransform(
        crop=16, divide_by=divide_by, mean=mean, std=std, layout=layout, channels=channels
    )
    got = transform(Image.fromarray(pixels))
    x = pixels.astype(np.float32)[..., ::-1] if channels == "BGR" else pixels.astype(np.float32)
    expected = (x / np.float32(divide_by) - np.float32(mean)) / np.float32(std)
    expected = np.ascontiguousarray(expected.transpose(2, 0, 1) if layout == "NCHW" else expected)
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
