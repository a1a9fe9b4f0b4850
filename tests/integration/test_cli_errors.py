"""Bad input: one clear line on stderr, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import assert_user_error, run_cli, run_with_weights


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["--data", "{tmp}/missing"], ["data path not found", "missing"]),
        (["--data", "{tmp}/empty"], ["no images found"]),
        (["--data", "{tmp}/noimages"], ["class folder", "cat has no images"]),
        (["--data", "{val}", "--batch-size", "0"], ["batch size must be a positive number"]),
        (["--data", "{val}", "--per-class", "-1"], ["--per-class must be a positive number"]),
        (
            ["--data", "{val}", "--model", "torchvision:resnet5"],
            ["did you mean torchvision:resnet50"],
        ),
        (["--data", "{val}", "--model", "pytorch:resnet50"], ["unknown model id"]),
    ],
)
def test_data_and_option_errors(
    args: list[str], fragments: list[str], tmp_path: Path, imagenet_folder: Path
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "noimages" / "cat").mkdir(parents=True)
    (tmp_path / "noimages" / "dog").mkdir()
    (tmp_path / "noimages" / "dog" / "a.txt").write_text("not an image")
    args = [a.format(tmp=tmp_path, val=imagenet_folder) for a in args]
    if "--model" not in args:
        args += ["--model", "torchvision:resnet50"]
    out = tmp_path / "out"
    assert_user_error(run_cli("run", *args, "--out", out), *fragments)
    assert not out.exists()


def test_missing_weights_offline(imagenet_folder: Path, tmp_path: Path) -> None:
    done = run_cli(
        "run",
        "--model",
        "torchvision:resnet50",
        "--data",
        imagenet_folder,
        "--out",
        tmp_path / "out",
    )
    assert_user_error(
        done, "resnet50-11ad3fa6.pth", "hub/checkpoints", "--weights torchvision:resnet50=FILE"
    )
    done = run_cli(
        "run", "--model", "keras:MobileNetV2", "--data", imagenet_folder, "--out", tmp_path / "out"
    )
    assert_user_error(
        done,
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        "--weights keras:MobileNetV2=FILE",
    )
    assert not (tmp_path / "out").exists()


def test_labels_the_model_cannot_predict(
    tmp_path: Path, photos: list, weight_files: dict[str, Path]
) -> None:
    from helpers import make_imagefolder

    data = make_imagefolder(tmp_path / "pets", photos, labels=("cat", "n01440764", "dragon"))
    done = run_with_weights(
        "torchvision:resnet18", data, weight_files["resnet18"], "--out", tmp_path / "out"
    )
    assert_user_error(done, "2 dataset label(s)", "'cat'", "'dragon'", "--class-map")
    class_map = tmp_path / "map.csv"
    class_map.write_text("cat,tabby\ndragon,Komodo dragon\n")
    done = run_with_weights(
        "torchvision:resnet18",
        data,
        weight_files["resnet18"],
        "--class-map",
        class_map,
        "--out",
        tmp_path / "out",
    )
    assert done.returncode == 0, done.stderr


def test_bad_weights_flag_and_corrupt_weights(imagenet_folder: Path, tmp_path: Path) -> None:
    done = run_cli(
        "run",
        "--model",
        "torchvision:resnet18",
        "--data",
        imagenet_folder,
        "--weights",
        "no-equals-sign",
    )
    assert done.returncode == 2 and "expected MODEL_ID=FILE" in done.stderr
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 10)
    done = run_cli(
        "run",
        "--model",
        "torchvision:resnet18",
        "--data",
        imagenet_folder,
        "--weights",
        f"torchvision:resnet18={bad}",
        "--out",
        tmp_path / "out",
    )
    assert_user_error(done, "bad.pth is not a PyTorch weights file", "torch.save(")


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["compare", "a.json", "b.json", "--gate", "foo"], ["unknown gate metric 'foo'"]),
        (["run", "--model", "torchvision:resnet50"], ["required: --data"]),
        (["bogus"], ["invalid choice: 'bogus'"]),
    ],
)
def test_usage_errors_are_one_line_naming_the_help(args: list[str], fragments: list[str]) -> None:
    # argparse's own errors too: no usage block before them, the command's --help named
    command = "evalkit" if args[0] == "bogus" else f"evalkit {args[0]}"
    assert_user_error(run_cli(*args), *fragments, f"(see {command} --help)")
