"""``--runtime``: the demo models exported once (cached), checked against eager, and evaluated
to the same predictions; refusals are one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evalkit.api import evaluate
from evalkit.errors import EvalkitError
from evalkit.models import runtimes
from evalkit.options import EvalOptions
from evalkit.registry import load_model
from evalkit.tuning import probe_batch
from helpers import assert_user_error, run_cli


@pytest.mark.parametrize(
    ("kind", "runtime"),
    [("torch", "onnxruntime"), ("torch", "openvino"), ("torch", "compile"), ("keras", "litert")],
)
def test_runtime_reproduces_the_eager_predictions(
    kind: str, runtime: str, demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    options = EvalOptions(cache_dir=tmp_path / "cache", batch_size=64, cache=False)
    eager = evaluate(models[kind], data, options)
    fast = evaluate(models[kind], data, options, runtime=runtime)
    recorded = fast.environment.runtime.fields()
    assert recorded["runtime"] == runtime
    agreement = recorded["agreement"]
    assert agreement["top1"] == 1.0 and agreement["max_abs_dp"] <= runtimes.MAX_ABS_DP
    assert agreement["images"] == runtimes.PROBE_SIZE
    # on all 540 held-out digits: the same top-1 (>= 99.9%) and probabilities within tolerance
    same = (eager.predictions["top1"] == fast.predictions["top1"]).mean()
    assert same >= 0.999, same
    diff = np.abs(eager.predictions["prob1"] - fast.predictions["prob1"]).max()
    assert diff <= runtimes.MAX_ABS_DP, diff
    assert abs(eager.metrics.top1.value - fast.metrics.top1.value) <= 1 / len(eager.predictions)
    if runtime != "compile":  # exported once, to the cache, then reused
        exported = Path(recorded["exported_file"])
        assert exported.is_file() and exported.parent == tmp_path / "cache" / "exported"
        stamp = exported.stat().st_mtime_ns
        load_model(models[kind], options.replace(runtime=runtime))
        assert exported.stat().st_mtime_ns == stamp


def test_runtime_beyond_tolerance_is_refused_in_one_line(
    demo: tuple[dict[str, str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models, _ = demo
    monkeypatch.setattr(runtimes, "MAX_ABS_DP", 1e-12)  # ONNX Runtime differs at ~1e-7
    options = EvalOptions(cache_dir=tmp_path, runtime="onnxruntime")
    with pytest.raises(EvalkitError, match=r"changes .* predictions beyond the tolerance") as error:
        load_model(models["torch"], options)
    assert "use --runtime eager" in str(error.value) and "\n" not in str(error.value)


def test_exported_onnx_file_is_self_contained_with_a_dynamic_batch(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    import onnxruntime as ort

    models, _ = demo
    adapter = load_model(models["torch"], EvalOptions(cache_dir=tmp_path, runtime="onnxruntime"))
    path = Path(adapter.runtime()["exported_file"])
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no external data file
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in (1, 5):
        batch = probe_batch(adapter, size)
        assert session.run(None, {"images": batch})[0].shape[0] == size


@pytest.mark.parametrize(
    ("kind", "runtime", "fragment"),
    [
        ("torch", "litert", "--runtime litert does not run torch models"),
        ("keras", "onnxruntime", "--runtime onnxruntime does not run keras models"),
        ("keras", "compile", "choose one of eager, litert"),
    ],
)
def test_runtime_for_another_framework_is_a_one_line_error(
    kind: str, runtime: str, fragment: str, demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    done = run_cli(
        "run", "--model", models[kind], "--data", data, "--runtime", runtime,
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert_user_error(done, fragment)
    assert not (tmp_path / "out").exists()


def test_cli_records_the_runtime_and_the_measured_defaults(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    out = tmp_path / "out"
    done = run_cli(
        "run", "--model", models["torch"], "--data", data, "--runtime", "onnxruntime",
        "--limit", "64", "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    chatter = [line for line in done.stderr.splitlines() if not line.startswith("note: ")]
    assert chatter == [], done.stderr  # no exporter or runtime chatter, evalkit's notes only
    run = json.loads((out / "results.json").read_text())["runs"][0]
    runtime = run["environment"]["runtime"]
    assert runtime["runtime"] == "onnxruntime" and runtime["tuning"]["source"] in (
        "probe",
        "cached probe",
    )
    assert run["options"]["batch_size"] == "auto" and run["options"]["runtime"] == "onnxruntime"
    assert run["timing"]["batch_size"] == runtime["batch_size"]
    assert runtime["allocator"].startswith("glibc, large buffers reused")


@pytest.mark.parametrize("kind", ["torch", "keras"])
def test_measured_defaults_predict_like_fp32_eager_at_batch_32(
    kind: str, demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    options = EvalOptions(cache_dir=tmp_path, cache=False)
    reference = evaluate(models[kind], data, options, batch_size=32, channels_last=False)
    default = evaluate(models[kind], data, options)
    assert default.options["batch_size"] == "auto"
    same = (reference.predictions["top1"] == default.predictions["top1"]).mean()
    assert same >= 0.999 and default.top1 == reference.top1
