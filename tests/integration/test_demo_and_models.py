"""``evalkit demo`` (real digits, two tiny trained models) and ``evalkit models``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli


def test_demo_trains_caches_and_evaluates(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    done = run_cli("demo", "--out", tmp_path / "first", "--cache", cache)
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "first" / "results.json").read_text())
    for report in ("report.html", "report.md", "summary.csv"):
        assert (tmp_path / "first" / report).is_file(), report
    assert f"report: {tmp_path / 'first' / 'report.html'}" in done.stdout
    runs = {run["model"]["framework"]: run for run in document["runs"]}
    assert set(runs) == {"torch", "keras"}
    for run in runs.values():
        assert run["metrics"]["top1"]["value"] >= 0.90, run["model"]["id"]
        assert run["dataset"]["n"] == 540 and run["dataset"]["classes"] == list("0123456789")
        assert run["model"]["preprocessing"]["crop"] == 32
        assert (tmp_path / "first" / run["predictions_file"]).is_file()
    assert sorted(p.name for p in (cache / "demo-v1").iterdir() if p.name[0] != ".") == [
        "data",
        "digits-cnn-keras.evalkit.json",
        "digits-cnn-keras.keras",
        "digits-cnn-torch.evalkit.json",
        "digits-cnn-torch.pt2",
    ]
    # the second run reuses the cached models: same predictions, same accuracies
    again = run_cli("demo", "--out", tmp_path / "second", "--cache", cache)
    assert again.returncode == 0, again.stderr
    second = json.loads((tmp_path / "second" / "results.json").read_text())
    for one, two in zip(document["runs"], second["runs"], strict=True):
        assert one["metrics"]["top1"] == two["metrics"]["top1"]
        assert one["dataset"]["fingerprint"] == two["dataset"]["fingerprint"]
        assert one["model"]["weights"]["sha256"] == two["model"]["weights"]["sha256"]


def test_models_lists_both_frameworks_and_weight_locations() -> None:
    done = run_cli("models")
    assert done.returncode == 0, done.stderr
    assert "torchvision:resnet50  [IMAGENET1K_V1, IMAGENET1K_V2]" in done.stdout
    assert "keras:MobileNetV2" in done.stdout
    assert "hub/checkpoints" in done.stdout and "--weights ID=FILE" in done.stdout
    for runtime in ("onnx:FILE.onnx", "openvino:FILE.xml", "tflite:FILE.tflite", "timm:NAME"):
        assert runtime in done.stdout
    assert "[installed]" in done.stdout  # or the extra that installs it


def test_runs_of_one_adapter_do_not_share_state(
    demo: tuple[dict[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run starts from a reset inference (device events and peak memory are per run), and
    re-running the same adapter gives the same predictions and metrics."""
    from evalkit.api import evaluate_adapter, prepare_dataset
    from evalkit.options import EvalOptions
    from evalkit.registry import load_model

    models, data = demo
    options = EvalOptions(per_class=3, batch_size=8, device="cpu")
    adapter = load_model(models["torch"], options)
    inference = adapter.inference
    inference._events.append(("stale", "events", "from before"))  # type: ignore[attr-defined]
    resets = []
    monkeypatch.setattr(
        inference, "reset", lambda: (resets.append(1), type(inference).reset(inference))
    )
    dataset = prepare_dataset(data, options)
    first = evaluate_adapter(adapter, dataset, options)
    second = evaluate_adapter(adapter, dataset, options)
    assert len(resets) == 2 and inference.device_stages() == {}
    assert first.metrics == second.metrics and first.class_outputs == second.class_outputs
    assert first.predictions.equals(second.predictions)
    assert first.options == options.record() and first.dataset.subset == "per_class=3 seed=0"
