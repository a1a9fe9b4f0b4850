"""The command's contract: exit codes, --version, --json, stdout vs stderr, compare pairing,
help text, CSV cells that cannot become formulas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evalkit import __version__
from evalkit.cli import build_parser, main
from evalkit.csvsafe import inert, restored
from evalkit.errors import EXIT_INTERNAL, EXIT_REGRESSION, EXIT_USAGE
from evalkit.report import write_report
from evalkit.results import load_results, save_results
from evalkit.schemes import FORMS
from helpers import synthetic_runs

GOLDEN = Path(__file__).parents[1] / "golden" / "demo-v1"


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"evalkit {__version__}"
    text = " ".join(build_parser().format_help().split())
    assert "exit status: 0 success, 1 regression" in text and "3 internal error" in text
    assert ":mod:" not in text and "``" not in text
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()  # type: ignore[union-attr]
    flat = "".join(run_help.split())  # argparse may wrap inside an id form
    for form in FORMS.values():
        assert form in flat, form


def test_an_internal_error_is_one_line_exit_3_and_a_traceback_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("evalkit.catalog.print_catalog", broken)
    assert main(["models"]) == EXIT_INTERNAL
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("evalkit: internal error: KeyError: 'a bug'")
    (crash,) = (tmp_path / "crashes").iterdir()
    assert crash.name in err and "Traceback" in crash.read_text() and "a bug" in crash.read_text()


def test_exit_codes_of_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(GOLDEN), str(GOLDEN), "--fail-on-regression"]) == 0
    worse = tmp_path / "worse"
    runs = load_results(GOLDEN)
    for run in runs:  # every correct sample of both models now wrong
        frame = run.predictions
        frame["top1"] = (frame["target"] + 1) % 10
    save_results(list(runs), worse)
    capsys.readouterr()
    assert main(["compare", str(GOLDEN), str(worse)]) == 0  # reported, not gated
    assert main(["compare", str(GOLDEN), str(worse), "--fail-on-regression"]) == EXIT_REGRESSION
    assert main(["compare", str(GOLDEN), str(tmp_path / "none")]) == EXIT_USAGE
    (tmp_path / "bad.json").write_text('{"schema_version": 1, "runs": [{"model": 1}]}')
    assert main(["compare", str(GOLDEN), str(tmp_path / "bad.json")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "REGRESSION" not in err and "Traceback" not in err


def test_compare_json_and_pairing_by_position_and_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same model files evaluated from another folder have other ids: runs pair by position
    (and say so); --pair names pairs explicitly."""
    moved = tmp_path / "moved"
    runs = load_results(GOLDEN)
    for run in runs:
        run.model.id = run.model.id.replace("/root/.cache", "/elsewhere")
    save_results(list(runs), moved)
    capsys.readouterr()
    assert main(["compare", str(GOLDEN), str(moved), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pairing"] == "by position (model ids differ)"
    assert [c["n"] for c in document["comparisons"]] == [540, 540]
    assert document["comparisons"][0]["current"].startswith("torch-export:/elsewhere")
    assert document["regression"] is False
    pair = ["--pair", "keras-file:digits-cnn-keras.keras=2", "--json"]
    assert main(["compare", str(GOLDEN), str(moved), *pair]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pairing"] == "as given (--pair)" and len(document["comparisons"]) == 1
    assert "/elsewhere/" in document["comparisons"][0]["current"]
    assert main(["compare", str(GOLDEN), str(moved), "--pair", "9=1"]) == EXIT_USAGE
    assert "has no run '9'" in capsys.readouterr().err


def test_run_json_keeps_stdout_machine_readable(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    from helpers import run_cli

    models, data = demo
    done = run_cli(
        "run", "--model", models["torch"], "--data", data, "--limit", "60", "--json",
        "--out", tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    (run,) = summary["runs"]
    assert run["n"] == 60 and 0.5 < run["top1"]["value"] <= 1
    assert run["subset"] == "limit=60 of 540 sample=stratified seed=0"
    assert summary["results"] == str(tmp_path / "results.json")
    assert "note: data: evaluated a subset: limit=60 of 540 sample=stratified" in done.stderr
    assert len({p.split("/")[0] for p in load_results(tmp_path)[0].predictions["path"]}) == 10


HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "\tx", "plain"]


def test_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    """Every CSV evalkit writes: text cells starting = + - @ (or tab/CR) get a tab in front;
    predictions read back exactly as they were."""
    runs = synthetic_runs(120, HOSTILE)
    save_results(runs, tmp_path)
    write_report(runs, tmp_path)
    for file in [*tmp_path.glob("*.csv"), *tmp_path.glob("*.csv.gz")]:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, index_col=False)
        cells = [*frame.columns, *frame.to_numpy().ravel()]
        dangerous = [c for c in cells if isinstance(c, str) and c and c[0] in "=+-@\r"]
        numbers = [c for c in dangerous if _is_number(c)]
        assert dangerous == numbers, (file.name, dangerous[:5])
    loaded = load_results(tmp_path)
    for before, after in zip(runs, loaded, strict=True):
        assert after.predictions["label"].tolist() == before.predictions["label"].tolist()
        assert after.predictions["predicted"].tolist() == before.predictions["predicted"].tolist()
    for text in HOSTILE:
        assert restored(inert(text)) == text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_results_json_stays_small_at_1000_classes(tmp_path: Path) -> None:
    """A 1000-class run on 10,000 images: < 200 KB (sparse confusion, per-class columns), and
    the report reads back the same confusion matrix."""
    classes = [f"n{i:08d}" for i in range(1000)]
    run = synthetic_runs(10_000, classes, models=1)[0]
    path = save_results([run], tmp_path)
    assert path.stat().st_size < 200_000
    back = load_results(tmp_path)[0]
    assert (back.metrics.confusion_matrix.dense() == run.metrics.confusion_matrix.dense()).all()
    assert back.metrics.per_class == run.metrics.per_class
    shutil.rmtree(tmp_path)
