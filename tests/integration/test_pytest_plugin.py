"""The pytest plugin end to end: real pytest sessions in subprocesses on the demo models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

SUITE = """
import os

from evalkit import EvalkitFixture

def test_model_holds_accuracy(evalkit: EvalkitFixture):
    result = evalkit.evaluate(os.environ["EVALKIT_TEST_MODEL"], per_class=20)
    assert result.top1 >= 0.5 and result.metrics.top1.n == 200
    evalkit.assert_no_regression(result)

def test_same_model_again_is_cached(evalkit):
    result = evalkit.evaluate(os.environ["EVALKIT_TEST_MODEL"], per_class=20)
    assert result.top5 >= result.top1
"""


def degrade(model: str, target: Path, digit: int = 3) -> str:
    """A copy of the torch demo model that never predicts ``digit`` (same file name and card)."""
    source = Path(model.partition(":")[2])
    target.mkdir(parents=True)
    code = f"""
import torch
program = torch.export.load({str(source)!r})
with torch.no_grad():
    program.state_dict["7.bias"][{digit}] -= 1000.0
torch.export.save(program, {str(target / source.name)!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    card = source.with_suffix(".evalkit.json")
    shutil.copy(card, target / card.name)
    return f"torch-export:{target / source.name}"


@pytest.fixture()
def suite(pytester: pytest.Pytester, demo: tuple[dict[str, str], Path]) -> pytest.Pytester:
    """A project with one model test, its data, and the torch demo model as the model."""
    models, data = demo
    shutil.copytree(data, pytester.path / "data" / "test")
    pytester.makepyfile(test_quality=SUITE)
    pytester.makeini("[pytest]\nevalkit_baseline = baselines\nevalkit_data = data/test\n")
    os.environ["EVALKIT_TEST_MODEL"] = models["torch"]
    return pytester


@pytest.fixture(autouse=True)
def _restore_env() -> object:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_help_lists_every_option_with_its_default(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "*evalkit: model accuracy gate*",
            "*--evalkit-baseline=BASELINE*",
            "*--evalkit-save-baseline*",
            "*--evalkit-max-drop=MAX_DROP*",
            "*(default: 1.0; ini: evalkit_max_drop)*",
            "*--evalkit-timing-max-slowdown*",
            "*evalkit_alpha*",
        ]
    )
    disabled = pytester.runpytest_subprocess("-p", "no:evalkit", "--help")
    assert "--evalkit-" not in disabled.stdout.str()


def test_disabled_plugin_has_no_fixture(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:evalkit")
    result.stdout.fnmatch_lines(["*fixture 'evalkit' not found*"])
    assert result.ret == 1


def test_save_then_compare_round_trip(suite: pytest.Pytester, tmp_path: Path) -> None:
    saved = suite.runpytest_subprocess("--evalkit-save-baseline")
    saved.assert_outcomes(passed=2)
    saved.stdout.fnmatch_lines(["*evalkit*", "*digits-cnn-torch.pt2*data/test*200*saved*"])
    baseline = (
        suite.path / "baselines" / "torch-export_digits-cnn-torch.pt2--data_test--per_class=20"
    )
    assert (baseline / "results.json").is_file()

    step_summary = tmp_path / "summary.md"
    os.environ["GITHUB_STEP_SUMMARY"] = str(step_summary)
    junit = tmp_path / "junit.xml"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    compared = suite.runpytest_subprocess(f"--junitxml={junit}", "--evalkit-mlflow")
    compared.assert_outcomes(passed=2)
    compared.stdout.fnmatch_lines(
        [
            "*digits-cnn-torch.pt2*data/test*200*+0.00*ok*",
            "evalkit results: *results.json",
            "evalkit mlflow: torch-export:*digits-cnn-torch.pt2 -> run * (sqlite:///*mlflow.db)",
        ]
    )
    xml = junit.read_text()
    assert 'name="evalkit:torch-export:digits-cnn-torch.pt2:top1"' in xml
    assert 'name="evalkit:torch-export:digits-cnn-torch.pt2:mcnemar_p" value="1.0"' in xml
    # the second test reused the first test's run
    assert 'name="evalkit:torch-export:digits-cnn-torch.pt2:cached" value="True"' in xml
    report = json.loads((suite.path / "reports" / "pytest" / "results.json").read_text())
    assert len(report["runs"]) == 1 and report["runs"][0]["dataset"]["n"] == 200
    markdown = step_summary.read_text()
    assert "| model | data | n |" in markdown and "| ok |" in markdown


def test_degraded_model_fails_with_a_readable_message(
    suite: pytest.Pytester, demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    suite.runpytest_subprocess("--evalkit-save-baseline").assert_outcomes(passed=2)
    os.environ["EVALKIT_TEST_MODEL"] = degrade(demo[0]["torch"], tmp_path / "degraded")
    result = suite.runpytest_subprocess(
        "--evalkit-report", "ci-report", "--evalkit-gate", "top1,per_class,slice:brightness"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*accuracy regression: torch-export:digits-cnn-torch.pt2 on data/test",
            "*top-1: baseline 9?.??% -> current 8?.??% (-*points; a regression needs a "
            "drop >= 1 points)",
            "*flipped: 2? samples newly wrong, ? newly right (n=200); one-sided exact McNemar "
            "p=*e-0* < alpha 0.01",
            "*per-class: 1 class(es) dropped by >= 1 points, Holm-adjusted p < 0.01:",
            "*class 3: *% -> 0.0% (n=20; * newly wrong, 0 newly right; McNemar p=*, "
            "Holm-adjusted p=*)",
            "*baseline: *baselines*results.json",
            "*diff: *ci-report*diff-*.csv",
        ]
    )
    result.stdout.fnmatch_lines(["*digits-cnn-torch.pt2*-?.??*REGRESSION*"])
    assert "Traceback" not in result.stdout.str()
    html = (suite.path / "ci-report" / "report.html").read_text()
    assert "digits-cnn-torch.pt2 (baseline)" in html and "Pairwise comparison" in html
    assert "Classes significantly worse in torch-export:digits-cnn-torch.pt2 than" in html
    assert '<table class="class-drops">' in html and "Calibration" in html
    (diff,) = (suite.path / "ci-report").glob("diff-*.csv")
    lines = diff.read_text().splitlines()
    assert lines[0] == "path,label,baseline_predicted,current_predicted,change"
    newly_wrong = [line for line in lines[1:] if line.endswith("newly wrong")]
    assert len(newly_wrong) >= 18 and all(",3,3," in line for line in newly_wrong)


def test_mce_gate_from_the_plugin(
    suite: pytest.Pytester, demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    corrupted = ("--evalkit-corruptions", "gaussian_noise:1", "--evalkit-gate", "mce")
    suite.runpytest_subprocess("--evalkit-save-baseline", *corrupted).assert_outcomes(passed=2)
    baseline = next((suite.path / "baselines").glob("*/results.json"))
    assert (
        json.loads(baseline.read_text())["runs"][0]["robustness"]["corruptions"]
        == "gaussian_noise:1"
    )
    assert list(baseline.parent.glob("corruptions-*.csv.gz"))
    os.environ["EVALKIT_TEST_MODEL"] = degrade(demo[0]["torch"], tmp_path / "degraded")
    result = suite.runpytest_subprocess(*corrupted)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*mCE *% -> *% (+*points*REGRESSION*"])
    plain = suite.runpytest_subprocess("--evalkit-gate", "mce")  # current run: no corruptions
    plain.stdout.fnmatch_lines(["*gate mce: *has no corruption results*"])


def test_changed_data_is_an_error_not_a_comparison(suite: pytest.Pytester) -> None:
    suite.runpytest_subprocess("--evalkit-save-baseline").assert_outcomes(passed=2)
    for image in (suite.path / "data" / "test" / "0").iterdir():  # same names, new pixels
        pixels = Image.open(image).convert("L")
        pixels.putpixel((0, 0), 255 - pixels.getpixel((0, 0)))  # type: ignore[operator]
        pixels.save(image)
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*evalkit: baseline *: *dataset fingerprints differ*"])
    assert "Traceback" not in result.stdout.str()


def test_missing_and_corrupt_baselines_are_one_line_errors(suite: pytest.Pytester) -> None:
    missing = suite.runpytest_subprocess()
    missing.assert_outcomes(passed=1, failed=1)
    missing.stdout.fnmatch_lines(["*evalkit: no baseline for *--evalkit-save-baseline*"])
    suite.runpytest_subprocess("--evalkit-save-baseline").assert_outcomes(passed=2)
    (results,) = (suite.path / "baselines").glob("*/results.json")
    results.write_text("{not json")
    corrupt = suite.runpytest_subprocess()
    corrupt.stdout.fnmatch_lines(["*evalkit: corrupt baseline: *not an evalkit results file*"])


def test_timing_check_is_opt_in_and_warns_on_another_machine(suite: pytest.Pytester) -> None:
    suite.runpytest_subprocess("--evalkit-save-baseline").assert_outcomes(passed=2)
    (results,) = (suite.path / "baselines").glob("*/results.json")
    document = json.loads(results.read_text())
    document["runs"][0]["timing"]["batch_latency_ms"]["p50"] = 0.001
    document["runs"][0]["environment"]["cpu"] = "a faster machine"
    results.write_text(json.dumps(document))
    suite.runpytest_subprocess().assert_outcomes(passed=2)  # off by default
    checked = suite.runpytest_subprocess("--evalkit-timing-max-slowdown=p50:25%")
    checked.assert_outcomes(passed=1, failed=1)
    checked.stdout.fnmatch_lines(
        [
            "*latency regression: *batch latency p50 0.0 ms -> * ms (+*%, limit +25%)",
            "*EvalkitTimingWarning: *different setup (cpu a faster machine vs *",
            "*SLOWER*",
        ]
    )
    bad = suite.runpytest_subprocess("--evalkit-timing-max-slowdown=fast")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--evalkit-timing-max-slowdown: expected STAT:PERCENT%*"])


def test_xdist_workers_report_to_one_summary(
    suite: pytest.Pytester, demo: tuple[dict[str, str], Path]
) -> None:
    os.environ["EVALKIT_TEST_KERAS"] = demo[0]["keras"]
    suite.makepyfile(
        test_keras="""
import os

def test_keras_model(evalkit):
    assert evalkit.evaluate(os.environ["EVALKIT_TEST_KERAS"], per_class=10).top1 >= 0.5
"""
    )
    result = suite.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=2, failed=1)  # no baselines yet
    # both workers ran the torch model (each test asked for it): one row, one run
    table = [line for line in result.stdout.lines if "data/test" in line]
    assert len(table) == 2, table
    result.stdout.fnmatch_lines_random(
        ["*digits-cnn-torch.pt2*data/test*200*", "*digits-cnn-keras.keras*data/test*100*not gated*"]
    )
    report = suite.path / "reports" / "pytest"
    document = json.loads((report / "results.json").read_text())
    assert sorted(run["model"]["framework"] for run in document["runs"]) == ["keras", "torch"]
    assert not (report / ".evalkit-workers").exists()


def test_imagenet_benchmark_checks_published_accuracy_or_skips(
    pytester: pytest.Pytester, imagenet_folder: Path, weight_files: dict[str, Path]
) -> None:
    shutil.copy(REPO / "benchmarks" / "test_pretrained_imagenet.py", pytester.path)
    skipped = pytester.runpytest_subprocess("-rs")
    skipped.assert_outcomes(skipped=3)
    skipped.stdout.fnmatch_lines(["*no ImageNet validation data: pass --evalkit-data PATH*"])
    model = "torchvision:resnet50@IMAGENET1K_V1"
    result = pytester.runpytest_subprocess(
        "-rs",
        f"--evalkit-data={imagenet_folder}",
        f"--evalkit-weights={model}={weight_files['resnet50']}",
    )
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "*torchvision:resnet50@IMAGENET1K_V1 top-1 *% vs published 76.13% (allowed ±*n=6)*",
            "*SKIPPED*weights for torchvision:resnet50@IMAGENET1K_V2 not found at *",
            "*SKIPPED*weights for keras:MobileNetV2 not found at *",
        ]
    )
