"""Cards and presets for model files, TFLite metadata, quantized inputs, and the Keras
preprocess_input → card translation that ``evalkit export`` writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.errors import EvalkitError
from evalkit.models import tflite_metadata
from evalkit.models.cards import ModelInput, explicit_card, parse_card, resolve_card
from evalkit.models.files import detect_outputs
from evalkit.options import EvalOptions, preprocess_pair
from evalkit.preprocess import PRESETS, ImageTransform, preset_transform, transform_from_spec


def test_presets_follow_the_model_input(photos: list[Image.Image]) -> None:
    torchvision = preset_transform("torchvision", 224, "NCHW")
    assert (torchvision.resize, torchvision.crop) == (256, 224)
    inception = preset_transform("keras-inception", 299, "NHWC")
    assert (inception.resize, inception.crop, inception.layout) == (342, 299, "NHWC")
    array = inception(photos[0])
    assert array.shape == (299, 299, 3) and array.min() >= -1.0 and array.max() <= 1.0


def test_caffe_preset_equals_keras_caffe_preprocess_input(photos: list[Image.Image]) -> None:
    from keras.applications import resnet50

    transform = preset_transform("caffe", 224, "NHWC")
    geometry = ImageTransform(crop=224, resize=256, divide_by=1.0, layout="NHWC")
    for photo in photos:
        expected = resnet50.preprocess_input(geometry(photo))
        np.testing.assert_allclose(transform(photo), expected, atol=1e-4)


@pytest.mark.parametrize(
    ("module", "preset"),
    [("mobilenet_v2", "keras-tf"), ("resnet50", "caffe"), ("densenet", "torchvision")],
)
def test_keras_preprocess_input_becomes_a_preset(module: str, preset: str) -> None:
    import importlib

    from evalkit.export import keras_equivalent

    geometry = ImageTransform(crop=224, resize=256, divide_by=1.0, layout="NHWC")
    found = keras_equivalent(
        geometry, importlib.import_module(f"keras.applications.{module}").preprocess_input
    )
    assert found == preset_transform(preset, 224, "NHWC")


def test_an_unknown_affine_map_is_measured(photos: list[Image.Image]) -> None:
    from evalkit.export import keras_equivalent

    geometry = ImageTransform(crop=64, resize=None, divide_by=1.0, layout="NHWC")
    odd = lambda x: (x - 10.0) / 50.0  # noqa: E731
    found = keras_equivalent(geometry, odd)
    np.testing.assert_allclose(found(photos[0]), odd(geometry(photos[0])), atol=1e-5)


def test_spec_defaults_and_errors() -> None:
    transform = transform_from_spec({"divide_by": 127.5, "mean": 1}, 160, "NHWC")
    assert (transform.crop, transform.resize, transform.mean) == (160, 183, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="'crop' is needed"):
        transform_from_spec({}, None, "NCHW")
    with pytest.raises(ValueError, match="channels must be RGB or BGR"):
        transform_from_spec({"channels": "GBR"}, 32, "NCHW")
    with pytest.raises(ValueError, match="at most resize"):
        transform_from_spec({"crop": 64, "resize": 32}, None, "NCHW")


def test_cards_and_their_sources(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    found = ModelInput("NCHW", 32, 10)
    with pytest.raises(EvalkitError, match=r"says nothing about its preprocessing.*presets: "):
        resolve_card(model, found)
    card = {"classes": [str(d) for d in range(10)], "preprocessing": {"resize": None}}
    (tmp_path / "m.evalkit.json").write_text(json.dumps(card))
    beside = resolve_card(model, found)
    assert beside.transform.crop == 32 and beside.outputs == "auto"
    assert beside.source.endswith("m.evalkit.json")
    embedded = resolve_card(model, found, embedded=json.dumps({"crop": 32, "resize": 36}))
    assert embedded.transform.resize == 36 and "metadata" in embedded.source
    explicit = resolve_card(model, found, explicit="unit", embedded=json.dumps(card))
    assert explicit.transform.divide_by == 255.0 and explicit.source.startswith("--preprocess")
    with pytest.raises(EvalkitError, match="not a preset nor a JSON file"):
        explicit_card("tochvision", found)
    with pytest.raises(EvalkitError, match="lists no classes"):
        parse_card({"crop": 32}, found, "x").label_space(10)
    assert parse_card({"crop": 8}, found, "x").label_space(1001).offset == 1
    with pytest.raises(EvalkitError, match="outputs must be one of"):
        parse_card({"outputs": "scores", "preprocessing": {}}, found, "x")


def test_outputs_are_detected() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 10)).astype(np.float32)
    assert detect_outputs(logits) == "logits"
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert detect_outputs(probabilities) == "probabilities"
    assert detect_outputs(np.round(probabilities * 256) / 256) == "probabilities"  # int8


def test_tflite_standard_metadata_round_trip() -> None:
    data = tflite_metadata.standard_metadata(
        "m", [123.675, 116.28, 103.53], [58.4, 57.1, 57.4], 224
    )
    assert tflite_metadata.standard_preprocessing(data) == {
        "divide_by": 1.0,
        "mean": pytest.approx([123.675, 116.28, 103.53]),
        "std": pytest.approx([58.4, 57.1, 57.4]),
    }
    assert tflite_metadata.image_size(data) == 224
    assert tflite_metadata.standard_preprocessing(b"not metadata") is None


def test_quantized_inputs_and_outputs() -> None:
    from evalkit.models.sessions import LiteRTRunner

    runner = LiteRTRunner.__new__(LiteRTRunner)
    runner.input_details = {"dtype": np.uint8}
    runner.input_quantization = (1 / 128, 128)
    runner.output_quantization = (1 / 256, 0)
    floats = np.array([-1.0, -0.5, 0.0, 0.99, 1.5])
    assert runner.quantize(floats).tolist() == [0, 64, 128, 255, 255]  # clipped to uint8
    assert runner.dequantize(np.array([0, 128, 255], np.uint8)).tolist() == [
        0.0,
        0.5,
        pytest.approx(255 / 256),
    ]


def test_preprocess_option() -> None:
    assert preprocess_pair("torchvision") == ("*", "torchvision")
    assert preprocess_pair("onnx:m.onnx=caffe") == ("onnx:m.onnx", "caffe")
    options = EvalOptions(preprocess={"onnx:m.onnx": "caffe"})
    assert options.preprocess_specs == {"onnx:m.onnx": "caffe"}
    assert options.replace(preprocess="unit").preprocess_specs == {"*": "unit"}
    assert options.key() != EvalOptions().key()  # it decides the predictions


def test_a_zoo_model_refuses_preprocess() -> None:
    from evalkit.registry import load_model

    with pytest.raises(EvalkitError, match="use their own canonical preprocessing"):
        load_model("torchvision:resnet18", preprocess={"torchvision:resnet18": "caffe"})


def test_every_preset_is_documented() -> None:
    text = (Path(__file__).parents[2] / "docs" / "runtimes.md").read_text()
    for name in PRESETS:
        assert f"`{name}`" in text
