"""The Keras-published ImageNet accuracies: keys are real ``keras.applications`` builders,
values are sane percentages, and spot rows equal the keras.io table."""

from __future__ import annotations

import pytest

from evalkit.models.keras_published import KERAS_PUBLISHED, keras_published


def test_keys_are_keras_applications_builders() -> None:
    keras = pytest.importorskip("keras")
    missing = sorted(name for name in KERAS_PUBLISHED if not hasattr(keras.applications, name))
    assert missing == []
    assert all(callable(getattr(keras.applications, name)) for name in KERAS_PUBLISHED)


def test_rows_are_percentages_with_top5_at_least_top1() -> None:
    assert len(KERAS_PUBLISHED) == 38
    for name, row in KERAS_PUBLISHED.items():
        assert set(row) == ({"acc@1"} if name.startswith("ConvNeXt") else {"acc@1", "acc@5"})
        assert 0.0 < row["acc@1"] <= 100.0, name
        assert row.get("acc@5", 100.0) >= row["acc@1"], name


@pytest.mark.parametrize(
    ("name", "top1", "top5"),
    [
        ("MobileNetV2", 71.3, 90.1),
        ("ResNet50", 74.9, 92.1),
        ("Xception", 79.0, 94.5),
        ("InceptionV3", 77.9, 93.7),
        ("VGG16", 71.3, 90.1),
        ("DenseNet121", 75.0, 92.3),
        ("NASNetMobile", 74.4, 91.9),
        ("EfficientNetB0", 77.1, 93.3),
        ("EfficientNetV2L", 85.7, 97.5),
    ],
)
def test_published_rows(name: str, top1: float, top5: float) -> None:
    assert keras_published(name) == {"acc@1": top1, "acc@5": top5}


def test_convnext_rows_carry_top1_only() -> None:
    # keras.io lists ConvNeXt with a Top-1 accuracy but "-" for Top-5.
    assert keras_published("ConvNeXtTiny") == {"acc@1": 81.3}
    assert keras_published("ConvNeXtXLarge") == {"acc@1": 86.7}


def test_unknown_name_gives_empty_dict() -> None:
    assert keras_published("NoSuchNet") == {}
    assert keras_published("mobilenetv2") == {}  # names are case-sensitive, as in keras


def test_returns_a_copy() -> None:
    row = keras_published("MobileNetV2")
    row["acc@1"] = 0.0
    assert KERAS_PUBLISHED["MobileNetV2"]["acc@1"] == 71.3
