"""``evalkit bench`` smoke test on a tiny set (the real numbers live in docs/performance.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.bench import peer_process, rss_growth, synthetic_imagefolder
from helpers import assert_user_error, run_cli


def test_bench_measures_every_ratio_on_a_tiny_set(
    tmp_path: Path, demo: tuple[dict[str, str], Path]
) -> None:
    models, _ = demo
    out = tmp_path / "bench.json"
    done = run_cli(
        "bench", "--model", models["torch"], "--model", models["keras"], "--images", "16",
        "--batch-size", "4", "--batch-sizes", "1,4", "--no-rss", "--out", out,
        "--cache", tmp_path / "cache",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "harness/bound" in done.stdout and "batch latency vs reference" in done.stdout
    document = json.loads(out.read_text())
    torch_row, keras_row = document["models"]
    for row in (torch_row, keras_row):
        assert row["forward_img_s"] > 0 and row["decode_img_s_one_core"] > 0
        # the bound uses the best eager forward: over allocator, layout and probed batch sizes
        eager = [row["forward_img_s"], *row["forward_variants_img_s"].values()]
        eager += row["probe_img_s"].values()
        forward, decode = max(eager), row["decode_img_s_one_core"]
        cores = document["cores"]
        assert abs(row["bound_img_s"] - cores / (cores / forward + 1 / decode)) < 1e-9
        assert row["best_forward_img_s"] >= forward
        assert "eager, glibc default allocator" in row["forward_variants_img_s"]
        harness = row["harness"]
        assert harness["images"] == 16 and 0 <= harness["overhead_fraction"] < 1
        assert harness["batch_size"] in (16, 32, 64)  # evalkit's default: the probe's choice
        assert set(row["batch_size_sweep_img_s"]) == {"1", "4"}
        for measured in row["runtimes"].values():
            assert measured["agreement"]["top1"] == 1.0, measured
        if "recommended_runtime" in row:
            assert row["harness_recommended"]["throughput_img_s"] > 0
    assert set(torch_row["runtimes"]) == {"compile", "onnxruntime", "openvino"}
    assert set(keras_row["runtimes"]) == {"litert"}
    assert "eager, channels_last" in torch_row["forward_variants_img_s"]
    assert isinstance(torch_row["harness"]["channels_last"], bool)
    assert torch_row["latency"]["harness_vs_timer"] > 0  # torch.utils.benchmark.Timer ran
    assert torch_row["runtime"]["precision"] == "fp32"
    assert "forward img/s by setting" in done.stdout and "recommended: " in done.stdout
    assert done.stderr.strip() == "", done.stderr


def test_synthetic_images_are_jpegs_in_wnid_folders(tmp_path: Path) -> None:
    folder = synthetic_imagefolder(tmp_path, 6)
    files = sorted(folder.glob("*/*.jpg"))
    assert len(files) == 6 and files[0].parent.name.startswith("n0")
    assert synthetic_imagefolder(tmp_path, 6) == folder  # cached


def test_rss_probe_runs_in_child_processes(
    tmp_path: Path, demo: tuple[dict[str, str], Path]
) -> None:
    measured = rss_growth(tmp_path, sizes=(20, 80))
    assert set(measured["peak_rss_mb"]) == {"20", "80"}
    assert measured["growth"] > -0.5


def test_bench_rejects_bad_arguments(tmp_path: Path) -> None:
    assert_user_error(run_cli("bench", "--images", "8", "--batch-size", "32"), "--images")
    done = run_cli("bench", "--batch-sizes", "1,x")
    assert done.returncode == 2 and "expected sizes like 1,8,32" in done.stderr


@pytest.mark.parametrize(("kind", "weights"), [("torch", "resnet50"), ("tf", "mobilenet_v2")])
def test_peer_loops_run_in_their_own_process(
    kind: str, weights: str, imagenet_folder: Path, weight_files: dict[str, Path]
) -> None:
    measured = peer_process(kind, imagenet_folder, weight_files[weights], batch_size=4)
    assert measured["images"] == 6 and 0 <= measured["top1"] <= 1
    assert measured["steady_img_s"] > 0 and measured["process_s"] > 0
