"""Model files as model ids: the demo models exported through ``evalkit export`` (ONNX,
OpenVINO IR, TFLite float and int8) reproduce their source, carry their card in their own
metadata, and files without one need ``--preprocess``; TorchScript archives likewise."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.api import evaluate
from evalkit.export import ExportResult, export_model
from evalkit.models import tflite_metadata
from evalkit.models.cards import METADATA_KEY
from evalkit.options import EvalOptions
from helpers import assert_user_error, run_cli

# documented in docs/runtimes.md
FLOAT_MAX_ABS_DP = 1e-4
INT8_MIN_AGREEMENT = 0.98
INT8_MAX_ABS_DP = 0.15


@pytest.fixture(scope="module")
def exported(
    demo: tuple[dict[str, str], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ExportResult]:
    models, data = demo
    folder = tmp_path_factory.mktemp("exported")
    train = data.parent / "train"
    return {
        "onnx": export_model(models["torch"], "onnx", folder / "digits.onnx"),
        "openvino": export_model(models["torch"], "openvino", folder / "digits.xml"),
        "tflite": export_model(models["keras"], "tflite", folder / "digits.tflite"),
        "int8": export_model(
            models["keras"], "tflite", folder / "digits-int8.tflite", int8=True, calibrate=train
        ),
        "onnx-int8": export_model(
            models["torch"], "onnx", folder / "digits-int8.onnx", int8=True, calibrate=train
        ),
    }


def _options(tmp_path: Path) -> EvalOptions:
    return EvalOptions(cache=False, cache_dir=tmp_path / "cache", batch_size=64)


@pytest.mark.parametrize(
    ("kind", "source"), [("onnx", "torch"), ("openvino", "torch"), ("tflite", "keras")]
)
def test_exported_file_reproduces_its_source(
    kind: str,
    source: str,
    exported: dict[str, ExportResult],
    demo: tuple[dict[str, str], Path],
    tmp_path: Path,
) -> None:
    models, data = demo
    result = exported[kind]
    assert result.agreement["top1"] == 1.0
    assert result.agreement["max_abs_dp"] <= FLOAT_MAX_ABS_DP
    original = evaluate(models[source], data, _options(tmp_path))
    copy = evaluate(result.model_id, data, _options(tmp_path))
    same = (original.predictions["top1"] == copy.predictions["top1"]).mean()
    assert same >= 0.999, same
    dp = np.abs(original.predictions["prob1"] - copy.predictions["prob1"]).max()
    assert dp <= FLOAT_MAX_ABS_DP, dp
    # the card travelled inside the file: the same preprocessing, read from its metadata
    before, after = original.model.preprocessing, copy.model.preprocessing
    assert before.comparable() == after.comparable()
    assert "metadata" in str(after.source) and str(result.path) in str(after.source)
    assert copy.model.label_space == original.model.label_space


def test_openvino_reads_an_onnx_file_and_its_card(
    exported: dict[str, ExportResult], demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    _, data = demo
    onnx_file = exported["onnx"].path
    via_ort = evaluate(f"onnx:{onnx_file}", data, _options(tmp_path))
    via_openvino = evaluate(f"openvino:{onnx_file}", data, _options(tmp_path))
    assert (via_ort.predictions["top1"] == via_openvino.predictions["top1"]).all()
    assert "metadata" in str(via_openvino.model.preprocessing.source)
    assert via_openvino.environment.runtime.fields()["inference_precision"] == "f32"


def test_int8_onnx_is_within_its_documented_agreement(
    exported: dict[str, ExportResult], demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    original = evaluate(models["torch"], data, _options(tmp_path))
    quantized = evaluate(exported["onnx-int8"].model_id, data, _options(tmp_path))
    same = (original.predictions["top1"] == quantized.predictions["top1"]).mean()
    assert same >= INT8_MIN_AGREEMENT, same
    dp = np.abs(original.predictions["prob1"] - quantized.predictions["prob1"]).max()
    assert 0 < dp <= INT8_MAX_ABS_DP, dp
    import onnx

    ops = {node.op_type for node in onnx.load(str(exported["onnx-int8"].path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # really quantized
    assert "metadata" in str(quantized.model.preprocessing.source)


def test_int8_tflite_is_within_its_documented_agreement(
    exported: dict[str, ExportResult], demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    result = exported["int8"]
    assert result.int8 and result.calibration_images == 200
    original = evaluate(models["keras"], data, _options(tmp_path))
    quantized = evaluate(result.model_id, data, _options(tmp_path))
    same = (original.predictions["top1"] == quantized.predictions["top1"]).mean()
    assert same >= INT8_MIN_AGREEMENT, same
    dp = np.abs(original.predictions["prob1"] - quantized.predictions["prob1"]).max()
    assert 0 < dp <= INT8_MAX_ABS_DP, dp  # quantized: close, never identical
    runtime = quantized.environment.runtime.fields()
    assert runtime["input_dtype"] == runtime["output_dtype"] == "int8"
    assert set(runtime["input_quantization"]) == {"scale", "zero_point"}


def test_int8_accuracy_equals_the_interpreters_own_loop(
    exported: dict[str, ExportResult], demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    """The quantized model run image by image by the LiteRT interpreter, with preprocessing
    and quantization written out here: evalkit gets exactly its predictions."""
    from ai_edge_litert.interpreter import Interpreter

    _, data = demo
    path = exported["int8"].path
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    given, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = given["quantization"]
    expected = {}
    for image_path in sorted(data.rglob("*.png")):
        image = Image.open(image_path).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
        pixels = (np.asarray(image, dtype=np.float32) / 255.0 - 0.5) / 0.5
        quantized = np.clip(np.rint(pixels.astype(np.float64) / scale + zero_point), -128, 127)
        interpreter.set_tensor(given["index"], quantized.astype(np.int8)[None])
        interpreter.invoke()
        expected[image_path.relative_to(data).as_posix()] = int(
            np.argmax(interpreter.get_tensor(out["index"])[0])
        )
    run = evaluate(f"tflite:{path}", data, _options(tmp_path))
    got = dict(zip(run.predictions["path"], run.predictions["top1"], strict=True))
    assert got == expected
    truth = {p.relative_to(data).as_posix(): p.parent.name for p in data.rglob("*.png")}
    accuracy = np.mean([str(expected[p]) == truth[p] for p in expected])
    assert run.metrics.top1.value == pytest.approx(accuracy, abs=1e-12)


def test_exported_files_carry_their_card(exported: dict[str, ExportResult]) -> None:
    import onnx

    proto = onnx.load(str(exported["onnx"].path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props[METADATA_KEY]) == exported["onnx"].card
    entries = tflite_metadata.read_entries(exported["tflite"].path.read_bytes())
    assert json.loads(entries[METADATA_KEY]) == exported["tflite"].card
    # TFLite Support's standard metadata: (pixel - 127.5) / 127.5, 32x32
    standard = entries[tflite_metadata.STANDARD]
    assert tflite_metadata.standard_preprocessing(standard) == {
        "divide_by": 1.0,
        "mean": [127.5] * 3,
        "std": [127.5] * 3,
    }
    assert tflite_metadata.image_size(standard) == 32
    assert exported["openvino"].path.with_suffix(".bin").is_file()


def test_standard_tflite_metadata_and_packed_labels_are_read(
    exported: dict[str, ExportResult], demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    """A TFLite file as published models come: TFLite Support metadata (normalisation) and a
    label file packed in a zip after the flatbuffer; no evalkit card."""
    _, data = demo
    bare = tmp_path / "bare.tflite"
    source = exported["tflite"].path.read_bytes()
    entries = tflite_metadata.read_entries(source)
    standard = tflite_metadata.standard_metadata("digits", [127.5], [127.5], 32)
    tree_without_card = _without_entries(source, entries)
    bare.write_bytes(tflite_metadata.add_entries(tree_without_card, {"TFLITE_METADATA": standard}))
    with zipfile.ZipFile(bare, "a") as archive:
        archive.writestr("labels.txt", "\n".join(str(d) for d in range(10)))
    run = evaluate(f"tflite:{bare}", data, _options(tmp_path))
    recorded = run.model.preprocessing
    assert "TFLite metadata" in str(recorded.source)
    assert recorded.mean == [127.5] * 3 and recorded.crop == 32
    assert run.model.label_space.names == [str(d) for d in range(10)]
    assert run.metrics.top1.value > 0.9  # same model, ImageNet-convention geometry


def _without_entries(model: bytes, entries: dict[str, bytes]) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    tree.metadata = [m for m in tree.metadata if m.name.decode() not in entries]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


@pytest.fixture(scope="module")
def bare_onnx(exported: dict[str, ExportResult], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exported ONNX file with its card removed (as a third-party export comes)."""
    import onnx

    proto = onnx.load(str(exported["onnx"].path))
    del proto.metadata_props[:]
    path = tmp_path_factory.mktemp("bare") / "bare.onnx"
    onnx.save(proto, str(path))
    return path


def test_a_file_without_preprocessing_needs_preprocess(
    bare_onnx: Path, demo: tuple[dict[str, str], Path]
) -> None:
    _, data = demo
    done = run_cli("run", "--model", f"onnx:{bare_onnx}", "--data", data, "--no-cache")
    assert_user_error(done, "says nothing about its preprocessing", "torchvision", "keras-tf")


def test_preprocess_json_file_reproduces_the_carded_file(
    bare_onnx: Path,
    exported: dict[str, ExportResult],
    demo: tuple[dict[str, str], Path],
    tmp_path: Path,
) -> None:
    _, data = demo
    spec = tmp_path / "digits.json"
    spec.write_text(json.dumps(exported["onnx"].card))
    carded = evaluate(exported["onnx"].model_id, data, _options(tmp_path))
    bare = evaluate(f"onnx:{bare_onnx}", data, _options(tmp_path), preprocess=str(spec))
    assert (carded.predictions["top1"] == bare.predictions["top1"]).all()
    assert bare.model.preprocessing.source == str(spec)
    assert bare.options["preprocess"] == {"*": str(spec)}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"crop": 64, "resize": None}, "crops 64 px but the model takes 32 px"),
        ({"crop": 32, "resize": None, "layout": "NHWC"}, "gives NHWC but the model takes NCHW"),
        ({"crop": 32, "interpolation": "cubic"}, "unknown interpolation"),
        ({"crop": 32, "sharpen": 1}, "unknown preprocessing fields ['sharpen']"),
        ({"crop": 32, "mean": [1, 2]}, "mean needs 1 or 3 values"),
    ],
)
def test_a_preprocessing_that_does_not_fit_the_file_is_refused(
    spec: dict[str, object],
    message: str,
    bare_onnx: Path,
    demo: tuple[dict[str, str], Path],
    tmp_path: Path,
) -> None:
    _, data = demo
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"classes": [str(d) for d in range(10)], "preprocessing": spec}))
    done = run_cli(
        "run", "--model", f"onnx:{bare_onnx}", "--data", data, "--preprocess", path, "--no-cache"
    )
    assert_user_error(done, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to", "onnx", "--out", "m.onnx"), "it exports to tflite"),
        (("--to", "tflite", "--out", "m.onnx"), "writes a .tflite file"),
        (("--to", "tflite", "--out", "m.tflite", "--int8"), "--int8 needs --calibrate DATA"),
        (("--to", "openvino", "--out", "m.xml", "--int8"), "OpenVINO int8 (NNCF) is not"),
    ],
)
def test_export_refusals_are_one_line(
    args: tuple[str, ...], message: str, demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, _ = demo
    out = [str(tmp_path / a) if a.startswith("m.") else a for a in args]
    done = run_cli("export", models["keras"], *out)
    assert_user_error(done, message)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_export_command_prints_the_check_and_the_next_command(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, _ = demo
    out = tmp_path / "digits.onnx"
    done = run_cli("export", models["torch"], "--to", "onnx", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "top-1 agreement 100.00%" in done.stdout
    assert f"evalkit run --model onnx:{out}" in done.stdout


def test_torchscript_archive_with_its_card_inside(
    demo: tuple[dict[str, str], Path], exported: dict[str, ExportResult], tmp_path: Path
) -> None:
    import torch

    from evalkit.preprocess import transform_from_spec

    _, data = demo
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    ).eval()
    path = tmp_path / "digits.pt"
    card = exported["onnx"].card
    with warnings.catch_warnings():  # torch.jit is deprecated; users still have such files
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(module), str(path), {METADATA_KEY: json.dumps(card)})
    transform = transform_from_spec(card["preprocessing"], None, "NCHW")
    run = evaluate(f"torchscript:{path}", data, _options(tmp_path))
    assert METADATA_KEY in str(run.model.preprocessing.source)
    with torch.no_grad():
        for row in run.predictions.head(20).itertuples():
            image = Image.open(data / row.path).convert("RGB")
            scores = module(torch.from_numpy(transform(image))[None])
            assert int(scores.argmax()) == row.top1
