"""Published ImageNet-1k accuracy of the seed models, reproduced on your validation images.

    pytest benchmarks/test_pretrained_imagenet.py --evalkit-data /data/imagenet/val
    pytest benchmarks/test_pretrained_imagenet.py --evalkit-data /data/ILSVRC2012_img_val \\
        --evalkit-per-class 10 --evalkit-weights torchvision:resnet50=resnet50.pth

``--evalkit-data`` is an ImageFolder of wnid folders, or the flat folder of
``ILSVRC2012_val_*.JPEG`` files (labels: bundled, or ``--evalkit-labels FILE``). Each case is
skipped, with the reason, when no data is given or its weights are neither cached nor
downloadable (pass ``--evalkit-weights ID=FILE``).

The tolerance is derived from the subset size: three binomial standard errors of a random subset
of the 50,000 images (with the finite-population correction, so zero on the full set) plus a
per-model slack for decoder and resize differences between libraries.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from evalkit.errors import MissingWeightsError

VALIDATION_IMAGES = 50_000

# model id, published top-1, published top-5, slack (fraction)
PUBLISHED = [
    # torchvision's weights tables (weights.meta["_metrics"]["ImageNet-1K"])
    pytest.param("torchvision:resnet50@IMAGENET1K_V2", 0.80858, 0.95434, 0.003, id="resnet50-v2"),
    pytest.param("torchvision:resnet50@IMAGENET1K_V1", 0.76130, 0.92862, 0.003, id="resnet50-v1"),
    # keras.io/api/applications: reported to one decimal, evaluation pipeline not published
    pytest.param("keras:MobileNetV2", 0.713, 0.901, 0.010, id="mobilenetv2"),
]


def tolerance(published: float, n: int, slack: float) -> float:
    """Largest |measured - published| that is expected by chance on a subset of ``n`` images."""
    fpc = max(0.0, 1 - n / VALIDATION_IMAGES)
    return 3 * math.sqrt(published * (1 - published) / n * fpc) + slack


@pytest.mark.parametrize(("model", "top1", "top5", "slack"), PUBLISHED)
def test_reproduces_published_accuracy(
    evalkit: Any, model: str, top1: float, top5: float, slack: float
) -> None:
    if evalkit.data is None:
        pytest.skip("no ImageNet validation data: pass --evalkit-data PATH")
    try:
        result = evalkit.evaluate(model)
    except MissingWeightsError as error:
        pytest.skip(str(error))
    n = result.metrics.top1.n
    for name, measured, published in (("top-1", result.top1, top1), ("top-5", result.top5, top5)):
        allowed = tolerance(published, n, slack)
        assert abs(measured - published) <= allowed, (
            f"{model} {name} {100 * measured:.2f}% vs published {100 * published:.2f}% "
            f"(allowed ±{100 * allowed:.2f} points on n={n})"
        )
