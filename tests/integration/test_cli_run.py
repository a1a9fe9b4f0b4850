"""``evalkit run`` end to end, in fresh processes, with locally saved weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from helpers import WNIDS, assert_user_error, run_cli, run_with_weights


def test_seed_models_on_an_imagefolder(
    imagenet_folder: Path, weight_files: dict[str, Path], tmp_path: Path
) -> None:
    (imagenet_folder / WNIDS[0] / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (imagenet_folder / WNIDS[1] / "empty.png").write_bytes(b"")
    out = tmp_path / "r1"
    # Keras first, then torch: the order that crashes if TensorFlow is imported before torch
    done = run_cli(
        "run",
        "--model",
        "keras:MobileNetV2",
        "--model",
        "torchvision:resnet50",
        "--data",
        imagenet_folder,
        "--batch-size",
        "4",
        "--out",
        out,
        "--weights",
        f"keras:MobileNetV2={weight_files['mobilenet_v2']}",
        "--weights",
        f"torchvision:resnet50={weight_files['resnet50']}",
    )
    assert done.returncode == 0, done.stderr
    assert "keras:MobileNetV2" in done.stdout and "torchvision:resnet50" in done.stdout
    assert "skipped n01440764/broken.jpg" in done.stderr  # notes on stderr, results on stdout
    assert "skipped" not in done.stdout
    document = json.loads((out / "results.json").read_text())
    keras_run, torch_run = document["runs"]
    for run in document["runs"]:
        assert set(run) >= {"model", "dataset", "metrics", "timing", "failures", "environment"}
        assert run["dataset"]["n"] == 8 and run["dataset"]["evaluated"] == 6
        assert run["dataset"]["fingerprint"].startswith("sha256:")
        assert sorted(f["file"] for f in run["failures"]) == [
            "n01440764/broken.jpg",
            "n01443537/empty.png",
        ]
        assert 0.0 <= run["metrics"]["top1"]["value"] <= run["metrics"]["top5"]["value"]
        assert run["metrics"]["confusion_matrix"]["shape"] == [3, 4]  # 3 classes and "other"
        assert run["timing"]["batch_latency_ms"]["p50"] > 0
        assert len(run["model"]["weights"]["sha256"]) == 64
        predictions = pd.read_csv(out / run["predictions_file"])
        assert len(predictions) == 6 and list(predictions.columns[:4]) == [
            "path",
            "label",
            "target",
            "predicted",
        ]
    assert torch_run["model"]["preprocessing"]["resize"] == 232
    assert torch_run["model"]["weights"]["name"] == "ResNet50_Weights.IMAGENET1K_V2"
    assert keras_run["model"]["preprocessing"]["then"].endswith("mobilenet_v2.preprocess_input")
    assert keras_run["dataset"]["fingerprint"] == torch_run["dataset"]["fingerprint"]
    assert torch_run["environment"]["packages"]["torch"]


def test_strict_turns_unreadable_images_into_a_failure(
    imagenet_folder: Path, weight_files: dict[str, Path], tmp_path: Path
) -> None:
    (imagenet_folder / WNIDS[0] / "zero.jpg").write_bytes(b"")
    out = tmp_path / "strict"
    done = run_with_weights(
        "torchvision:resnet18", imagenet_folder, weight_files["resnet18"], "--strict", "--out", out
    )
    assert_user_error(done, "1 of 7 images failed", "zero.jpg", "empty file")
    assert not out.exists()


def test_a_dataset_whose_images_all_fail_is_one_user_error(
    imagenet_folder: Path, weight_files: dict[str, Path], tmp_path: Path
) -> None:
    """Every image unreadable: one line saying so, with and without corruptions (an internal
    error before 0.6.6: no row was left to score)."""
    files = sorted(p for p in imagenet_folder.rglob("*") if p.is_file())
    for path in files:
        path.write_bytes(b"")
    weights = weight_files["resnet18"]
    for extra in ((), ("--corruptions", "fog:1")):
        done = run_with_weights("torchvision:resnet18", imagenet_folder, weights, *extra)
        assert_user_error(done, f"{len(files)} of {len(files)} images failed", "no image could")


def _torch_model_after_tensorflow(prelude: str, folder: Path, weights: Path) -> str:
    """Run ``prelude`` (which imports TensorFlow), then a torch model; print the output."""
    code = f"""{prelude}
import evalkit
try:
    evalkit.evaluate("torchvision:resnet18", {str(folder)!r},
                     weights={{"torchvision:resnet18": {str(weights)!r}}})
except evalkit.EvalkitError as error:
    print("refused:", error)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_tensorflow_imported_first_is_refused_not_a_crash(
    imagenet_folder: Path, weight_files: dict[str, Path]
) -> None:
    stdout = _torch_model_after_tensorflow(
        "import tensorflow", imagenet_folder, weight_files["resnet18"]
    )
    assert "refused: tensorflow was imported before torch" in stdout


def test_a_keras_only_process_skips_torch_and_still_refuses_it_safely(
    imagenet_folder: Path, weight_files: dict[str, Path]
) -> None:
    prelude = """
import sys
from evalkit._frameworks import expect_frameworks, import_tensorflow
expect_frameworks({"keras"})  # what `evalkit run` declares for Keras-only model lists
import_tensorflow()
print("torch imported:", "torch" in sys.modules)"""
    stdout = _torch_model_after_tensorflow(prelude, imagenet_folder, weight_files["resnet18"])
    assert "torch imported: False" in stdout
    assert "refused: tensorflow was imported before torch" in stdout
