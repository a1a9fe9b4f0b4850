"""Top-1 / top-5 ImageNet accuracies that the Keras documentation publishes for
``keras.applications`` models.

Source: the "Available models" table of the "Keras Applications" page,
https://keras.io/api/applications/ (columns Model, Size (MB), Top-1 Accuracy,
Top-5 Accuracy, Parameters, Depth, Time (ms) per inference step (CPU/GPU)).

Two versions of that table were read, and they agree on every row kept here:

* the page source in the keras-io repository, ``keras-team/keras-io``,
  ``templates/api/applications/index.md`` at commit
  ``e7be306b7cad4726760a753c5bed90824e096b81`` (33 models, Xception to EfficientNetV2L,
  every one with both accuracies);
* the newer rendered page https://keras.io/api/applications/ as published on
  Wed, 21 Jan 2026 (the page's "Published Time"), which adds five ConvNeXt rows
  (ConvNeXtTiny/Small/Base/Large/XLarge). This newest version is the one used.

The ConvNeXt rows publish a Top-1 accuracy but "-" for Top-5: they carry ``acc@1`` only
(all the published-accuracy guard reads). Models without a row (MobileNetV3Small,
MobileNetV3Large) are absent. An older
revision of the same file (commit ``01b6d6c4c4ef2c7975be4c42ac148db57352d978``)
gave the accuracies as fractions (0.713, ...) with "-" for EfficientNetB0-B7; the
values it does give equal the percentages below.

Values are percentages (71.3 means 71.3 %), keyed ``"acc@1"`` / ``"acc@5"`` like
torchvision's ``weights.meta["_metrics"]["ImageNet-1K"]``, on the ImageNet-1k
(ILSVRC2012) validation set of 50,000 images, as Keras reports them for each model's
ImageNet weights used with that model's own ``preprocess_input``. The page itself says
only that they are "the model's performance on the ImageNet validation dataset"; it
does not state the resize/crop protocol, so small differences from an evalkit run are
expected.

Keys are the builder names exactly as spelled in ``keras.applications`` (the table's
row names already match them).
"""

from __future__ import annotations

__all__ = ["KERAS_PUBLISHED", "SOURCE_URL", "keras_published"]

SOURCE_URL = "https://keras.io/api/applications/"

KERAS_PUBLISHED: dict[str, dict[str, float]] = {
    "Xception": {"acc@1": 79.0, "acc@5": 94.5},
    "VGG16": {"acc@1": 71.3, "acc@5": 90.1},
    "VGG19": {"acc@1": 71.3, "acc@5": 90.0},
    "ResNet50": {"acc@1": 74.9, "acc@5": 92.1},
    "ResNet50V2": {"acc@1": 76.0, "acc@5": 93.0},
    "ResNet101": {"acc@1": 76.4, "acc@5": 92.8},
    "ResNet101V2": {"acc@1": 77.2, "acc@5": 93.8},
    "ResNet152": {"acc@1": 76.6, "acc@5": 93.1},
    "ResNet152V2": {"acc@1": 78.0, "acc@5": 94.2},
    "InceptionV3": {"acc@1": 77.9, "acc@5": 93.7},
    "InceptionResNetV2": {"acc@1": 80.3, "acc@5": 95.3},
    "MobileNet": {"acc@1": 70.4, "acc@5": 89.5},
    "MobileNetV2": {"acc@1": 71.3, "acc@5": 90.1},
    "DenseNet121": {"acc@1": 75.0, "acc@5": 92.3},
    "DenseNet169": {"acc@1": 76.2, "acc@5": 93.2},
    "DenseNet201": {"acc@1": 77.3, "acc@5": 93.6},
    "NASNetMobile": {"acc@1": 74.4, "acc@5": 91.9},
    "NASNetLarge": {"acc@1": 82.5, "acc@5": 96.0},
    "EfficientNetB0": {"acc@1": 77.1, "acc@5": 93.3},
    "EfficientNetB1": {"acc@1": 79.1, "acc@5": 94.4},
    "EfficientNetB2": {"acc@1": 80.1, "acc@5": 94.9},
    "EfficientNetB3": {"acc@1": 81.6, "acc@5": 95.7},
    "EfficientNetB4": {"acc@1": 82.9, "acc@5": 96.4},
    "EfficientNetB5": {"acc@1": 83.6, "acc@5": 96.7},
    "EfficientNetB6": {"acc@1": 84.0, "acc@5": 96.8},
    "EfficientNetB7": {"acc@1": 84.3, "acc@5": 97.0},
    "EfficientNetV2B0": {"acc@1": 78.7, "acc@5": 94.3},
    "EfficientNetV2B1": {"acc@1": 79.8, "acc@5": 95.0},
    "EfficientNetV2B2": {"acc@1": 80.5, "acc@5": 95.1},
    "EfficientNetV2B3": {"acc@1": 82.0, "acc@5": 95.8},
    "EfficientNetV2S": {"acc@1": 83.9, "acc@5": 96.7},
    "EfficientNetV2M": {"acc@1": 85.3, "acc@5": 97.4},
    "EfficientNetV2L": {"acc@1": 85.7, "acc@5": 97.5},
    # top-1 only: the table gives "-" for their top-5
    "ConvNeXtTiny": {"acc@1": 81.3},
    "ConvNeXtSmall": {"acc@1": 82.3},
    "ConvNeXtBase": {"acc@1": 85.3},
    "ConvNeXtLarge": {"acc@1": 86.3},
    "ConvNeXtXLarge": {"acc@1": 86.7},
}


def keras_published(name: str) -> dict[str, float]:
    """The published ``{"acc@1": ..., "acc@5": ...}`` (percent; ConvNeXt: top-1 only) for a
    ``keras.applications`` builder name, as a fresh copy; ``{}`` when the table has no row."""
    return dict(KERAS_PUBLISHED.get(name, {}))
