"""A real quantized ImageNet classifier: Keras MobileNetV2 exported by ``evalkit export`` as a
full-integer int8 TFLite model, evaluated through ``tflite:``, reproduces the LiteRT
interpreter's own predictions and accuracy exactly, and stays close to the float model.

    pytest benchmarks/test_quantized_imagenet.py --evalkit-data /data/imagenet/val \
        --evalkit-per-class 2

Skipped without data, or when MobileNetV2's ImageNet weights are neither cached nor
downloadable (``--evalkit-weights keras:MobileNetV2=FILE``). The calibration images are drawn
from the same data (a reproduction check, not an accuracy estimate).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from evalkit.errors import MissingWeightsError

MODEL = "keras:MobileNetV2"


def test_int8_mobilenetv2_reproduces_its_interpreter(evalkit: Any, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from evalkit.export import export_model
    from evalkit.labels import LabelSpace
    from evalkit.models import tflite_metadata
    from evalkit.preprocess import transform_from_spec

    if evalkit.data is None:
        pytest.skip("no ImageNet validation data: pass --evalkit-data PATH")
    out = tmp_path / "mnv2_int8.tflite"
    try:
        float_run = evalkit.evaluate(MODEL)
        export_model(
            MODEL,
            "tflite",
            out,
            options=evalkit.options,
            int8=True,
            calibrate=evalkit.data,
            calibration_images=100,
        )
    except MissingWeightsError as error:
        pytest.skip(str(error))
    run = evalkit.evaluate(f"tflite:{out}")
    card = json.loads(tflite_metadata.read_entries(out.read_bytes())["evalkit.card"])
    transform = transform_from_spec(card["preprocessing"], 224, "NHWC")
    interpreter = Interpreter(model_path=str(out))
    interpreter.allocate_tensors()
    given, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = given["quantization"]
    space, root = LabelSpace.imagenet1k(), Path(evalkit.data)
    expected, correct = [], 0
    for row in run.predictions.itertuples():
        image = Image.open(root / row.path).convert("RGB")
        x = np.rint(transform(image).astype(np.float64) / scale + zero_point)
        interpreter.set_tensor(given["index"], np.clip(x, -128, 127).astype(np.int8)[None])
        interpreter.invoke()
        top1 = int(np.argmax(interpreter.get_tensor(output["index"])[0]))
        expected.append(top1)
        correct += top1 == space.resolve(row.label)
    assert run.predictions["top1"].tolist() == expected
    assert run.top1 == pytest.approx(correct / len(expected), abs=1e-12)
    same = (float_run.predictions["top1"] == run.predictions["top1"]).mean()
    assert same >= 0.9, f"int8 agrees with float on {100 * same:.1f}% of images"
