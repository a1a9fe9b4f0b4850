"""Slices, weak segments, the slice gate, guards and duplicates from the CLI, on the demo's
real digits and its trained torch model (offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from evalkit.analysis.slices import meta_column
from evalkit.results import save_results
from helpers import fake_run, hits_table, run_cli


def degraded(image: Image.Image) -> Image.Image:
    """A washed-out, blurred copy: what a bad camera does to a digit."""
    blurred = image.filter(ImageFilter.GaussianBlur(3))
    return Image.eval(blurred, lambda v: 100 + v // 6)


@pytest.fixture()
def manifest(demo: tuple[dict[str, str], Path], tmp_path: Path) -> Path:
    """The demo digits as a CSV manifest with a ``camera`` column: camera b's copies degraded,
    and one image that carries an EXIF rotation."""
    _, data = demo
    rows = []
    for i, path in enumerate(sorted(data.glob("*/*.png"))):
        camera = "ab"[i % 2]
        target = tmp_path / "images" / camera / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        image = Image.open(path)
        (degraded(image) if camera == "b" else image).save(target)
        rows.append({"path": target.relative_to(tmp_path).as_posix(), "label": path.parent.name})
        rows[-1]["camera"] = camera
    exif = Image.Exif()
    exif[0x0112] = 6
    first = tmp_path / rows[0]["path"]
    Image.open(first).convert("RGB").save(first.with_suffix(".jpg"), exif=exif, quality=95)
    rows[0]["path"] = Path(rows[0]["path"]).with_suffix(".jpg").as_posix()
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    return tmp_path / "manifest.csv"


def test_slices_weak_segments_exif_and_rescore(
    demo: tuple[dict[str, str], Path], manifest: Path, tmp_path: Path
) -> None:
    models, _ = demo
    out = tmp_path / "run"
    done = run_cli("run", "--model", models["torch"], "--data", manifest, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "1 image(s) carry an EXIF rotation" in done.stderr and "--exif-transpose" in done.stderr
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert {g["name"] for g in run["slices"]["groups"]} >= {"brightness", "contrast", "sharpness"}
    exif = next(g for g in run["guards"] if g["check"] == "exif_rotation")
    assert exif["status"] == "warning" and exif["details"]["files"][0].endswith(".jpg")
    # camera was not asked for: rescore adds it without the model
    again = run_cli("rescore", out, "--slice-by", "camera")
    assert again.returncode == 0, again.stderr
    assert "camera a" in again.stdout and "camera b" in again.stdout
    run = json.loads((out / "results.json").read_text())["runs"][0]
    camera = next(g for g in run["slices"]["groups"] if g["name"] == "camera")
    a, b = camera["slices"]
    assert a["n"] + b["n"] == 540 and b["top1"]["value"] < a["top1"]["value"] - 0.1
    weak = run["slices"]["weak_segments"]
    assert any(s["slice"].startswith("camera=b") for s in weak["segments"]), weak
    assert "weak segment camera=b: top-1" in again.stderr
    html = (out / "report.html").read_text()
    assert 'id="slices"' in html and "camera=b" in html and "data:image/jpeg;base64" in html
    assert "Weak segments" in (out / "report.md").read_text()
    turned = run_cli(
        "run", "--model", models["torch"], "--data", manifest, "--out", tmp_path / "upright",
        "--exif-transpose", "--slice-by", "camera",
    )  # fmt: skip
    assert turned.returncode == 0, turned.stderr
    run = json.loads((tmp_path / "upright" / "results.json").read_text())["runs"][0]
    assert run["model"]["preprocessing"]["exif_transpose"] is True
    assert run["options"]["exif_transpose"] is True and run["options"]["slice_by"] == ["camera"]
    assert "turned upright" in turned.stderr


def test_unknown_slice_column_is_one_line(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    done = run_cli(
        "run", "--model", models["torch"], "--data", data, "--limit", "20", "--slice-by", "camera",
        "--out", tmp_path / "r",
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("evalkit: error: --slice-by camera")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    # a column empty in every row, and an empty name (an unset shell variable), before the run
    files = sorted(data.glob("*/*.png"))[:20]
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"path": files, "label": [f.parent.name for f in files], "camera": ""}).to_csv(
        empty, index=False
    )
    for source, column, message in (
        (empty, "camera", "--slice-by camera: the column is empty in every row"),
        (data, "", "--slice-by: no column name in ''"),
    ):
        done = run_cli(
            "run", "--model", models["torch"], "--data", source, "--slice-by", column,
            "--out", tmp_path / "r",
        )  # fmt: skip
        assert done.returncode == 2 and done.stderr.startswith(f"evalkit: error: {message}")
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_labels_shifted_by_one_are_flagged(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    shifted = tmp_path / "shifted"
    for folder in data.iterdir():
        shutil.copytree(folder, shifted / str((int(folder.name) + 1) % 10))
    done = run_cli("run", "--model", models["torch"], "--data", shifted, "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    assert "label mapping: the predictions agree with the labels shifted by -1" in done.stderr
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'id="guard-warnings"' in html and "shifted by -1" in html


def test_compare_gates_a_slice(tmp_path: Path) -> None:
    classes = [f"c{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    n = 1000
    camera = np.array(["a", "b"] * (n // 2))
    before = rng.random(n) < 0.85
    after = before.copy()
    after[np.flatnonzero((camera == "b") & before)[:60]] = False
    after[np.flatnonzero((camera == "a") & ~before)[:60]] = True
    folders = []
    for name, hits in (("base", before), ("current", after)):
        frame = hits_table(hits, classes, **{meta_column("camera"): camera})
        save_results([fake_run(frame, classes, model_id="m")], tmp_path / name)
        folders.append(tmp_path / name)
    overall = run_cli("compare", *folders, "--fail-on-regression")
    assert overall.returncode == 0, overall.stdout
    gated = run_cli("compare", *folders, "--gate", "top1,slice:camera", "--fail-on-regression")
    assert gated.returncode == 1, gated.stdout + gated.stderr
    assert "REGRESSION (slice:camera)" in gated.stdout
    assert "slice camera=b: " in gated.stdout and "(n=500; 60 newly wrong" in gated.stdout


def test_dupes_between_two_sets(demo: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    _, data = demo
    test_files = sorted(data.glob("*/*.png"))[:40]
    test, train = tmp_path / "test", tmp_path / "train"
    for path in test_files:
        (test / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, test / path.parent.name / path.name)
    (train / "x").mkdir(parents=True)
    shutil.copy(test_files[0], train / "x" / "copy.png")  # exact leak
    big = Image.open(test_files[5]).convert("RGB").resize((64, 64), Image.Resampling.BICUBIC)
    big.save(train / "x" / "resized.jpg", quality=90)  # near leak
    (train / "x" / "broken.png").write_bytes(b"not an image")
    done = run_cli("dupes", train, test, "--fail-on-dupes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 exact and 1 near-duplicate pairs between" in done.stdout
    assert f"x/copy.png  ==  {test_files[0].parent.name}/{test_files[0].name}" in done.stdout
    assert "unreadable  x/broken.png" in done.stdout
    listed = json.loads(run_cli("dupes", train, test, "--json").stdout)
    assert {p["kind"] for p in listed["pairs"]} == {"exact", "near"}
    same = run_cli("dupes", test, f"{test}/")  # the same set twice: not each file with itself
    assert same.returncode == 0 and "listing the duplicates within it" in same.stderr
    assert "pair among 40 images" in same.stdout or "pairs among 40 images" in same.stdout
    refused = run_cli("dupes", train, test, "--limit", "-2")
    assert refused.returncode == 2 and refused.stdout == "", refused.stdout
    assert refused.stderr.strip().splitlines() == [
        "evalkit: error: --limit is the number of pairs listed, 0 or more; got -2"
    ]
    (tmp_path / "results.json").write_text("{}")  # a results file where a data set goes
    for wrong, kind in ((tmp_path / "results.json", "a JSON file"), (test_files[0], "an image")):
        refused = run_cli("dupes", wrong)
        assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
            f"evalkit: error: {wrong} is {kind}, not a CSV manifest; give a folder of images "
            "or a CSV with columns path,label"
        ]
