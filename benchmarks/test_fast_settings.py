"""The fast settings (measured defaults, accelerated runtimes) against fp32 eager at batch 32,
on your ImageNet validation images: the same predictions up to float rounding.

    pytest benchmarks/test_fast_settings.py --evalkit-data /data/imagenet/val --evalkit-per-class 10

Each case is skipped, with the reason, without data or when the model's weights are neither
cached nor downloadable (``--evalkit-weights ID=FILE``).
"""

from __future__ import annotations

from typing import Any

import pytest

from evalkit.errors import MissingWeightsError

# the defaults (batch size and layout chosen by a probe) and the accelerated runtimes against
# fp32 eager at batch 32 in the contiguous layout: the same predictions up to float rounding
AGREEMENT = [
    pytest.param("torchvision:resnet50", {}, id="resnet50-defaults"),
    pytest.param("torchvision:resnet50", {"runtime": "onnxruntime"}, id="resnet50-onnxruntime"),
    pytest.param("torchvision:resnet50", {"runtime": "openvino"}, id="resnet50-openvino"),
    pytest.param("keras:MobileNetV2", {}, id="mobilenetv2-defaults"),
    pytest.param("keras:MobileNetV2", {"runtime": "litert"}, id="mobilenetv2-litert"),
]


@pytest.mark.parametrize(("model", "options"), AGREEMENT)
def test_fast_settings_agree_with_fp32_eager_batch_32(
    evalkit: Any, model: str, options: dict[str, Any]
) -> None:
    if evalkit.data is None:
        pytest.skip("no ImageNet validation data: pass --evalkit-data PATH")
    try:
        reference = evalkit.evaluate(model, batch_size=32, channels_last=False)
        fast = evalkit.evaluate(model, **options)
    except MissingWeightsError as error:
        pytest.skip(str(error))
    same = (reference.predictions["top1"] == fast.predictions["top1"]).mean()
    assert same >= 0.999, f"{model} {options}: top-1 agrees on {100 * same:.2f}% of images"
    assert abs(reference.top1 - fast.top1) <= 0.001
