"""Image properties, slices, weak segments, the slice gate and the guards: pure functions over
predictions tables, checked against independent computations (scipy, hand counts)."""

from __future__ import annotations

import io
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import false_discovery_control, fisher_exact

from evalkit.analysis.guards import exif_rotation, label_shift, published_accuracy
from evalkit.analysis.segments import lower_tail_p, weak_segments
from evalkit.analysis.slices import (
    check_slice_columns,
    column_grouping,
    grouping_of,
    groupings,
    meta_column,
    slice_table,
)
from evalkit.compare.baselines import compare_runs
from evalkit.data.decode import decode_measured
from evalkit.data.properties import PROPERTIES, ImageProperties, laplacian_variance
from evalkit.errors import EvalkitError
from evalkit.metrics import wilson_interval
from evalkit.options import gate_metrics, slice_columns
from evalkit.results import prediction_hits
from evalkit.scoring import rescored, slice_results
from helpers import fake_run, hits_table

CLASSES = [f"c{i}" for i in range(10)]


def encoded(image: Image.Image, fmt: str = "PNG", **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def test_property_names_match_the_measurement() -> None:
    assert tuple(f.name for f in fields(ImageProperties)) == PROPERTIES


def test_properties_of_known_images() -> None:
    flat = np.full((40, 60, 3), 128, np.uint8)
    _, props = decode_measured(encoded(Image.fromarray(flat)))
    assert props.brightness == pytest.approx(128 / 255)
    assert props.contrast == 0 and props.sharpness == 0
    assert props.aspect_ratio == pytest.approx(1.5) and props.megapixels == pytest.approx(0.0024)
    assert props.grayscale and not props.exif_rotated  # equal channels: gray
    board = (np.indices((40, 40)).sum(axis=0) % 2 * 255).astype(np.uint8)
    _, sharp = decode_measured(encoded(Image.fromarray(board, mode="L")))
    # a +-255 checkerboard: every interior Laplacian is +-4*255, so the variance is (4*255)^2
    assert sharp.sharpness == pytest.approx((4 * 255) ** 2) and sharp.contrast == pytest.approx(0.5)
    colour = flat.copy()
    colour[..., 0] = 200
    assert not decode_measured(encoded(Image.fromarray(colour)))[1].grayscale


def test_laplacian_variance_matches_scipy() -> None:
    from scipy.ndimage import laplace

    luma = np.random.default_rng(0).random((30, 50)).astype(np.float32) * 255
    assert laplacian_variance(luma) == pytest.approx(
        laplace(luma.astype(np.float64))[1:-1, 1:-1].var(), rel=1e-5
    )


def test_exif_rotation_is_seen_and_transposed_on_request() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encoded(Image.new("RGB", (80, 40), "red"), "JPEG", exif=exif)
    image, props = decode_measured(data)
    assert props.exif_rotated and image.size == (80, 40) and props.aspect_ratio == 2.0
    upright, turned = decode_measured(data, exif_transpose=True)
    assert upright.size == (40, 80) and turned.aspect_ratio == 0.5 and turned.exif_rotated


def frame_of(hits: np.ndarray, **columns: object) -> pd.DataFrame:
    return hits_table(hits, CLASSES, **columns)


def test_quantile_bins_binary_properties_and_single_values() -> None:
    rng = np.random.default_rng(1)
    brightness = rng.random(400)
    frame = frame_of(
        np.ones(400, bool),
        brightness=brightness,
        grayscale=(rng.random(400) < 0.3).astype(float),
        aspect_ratio=np.full(400, 1.0),  # one value: nothing to slice
    )
    found = {g.name: g for g in groupings(frame, (), 4)}
    assert set(found) == {"brightness", "grayscale"}
    quartiles = found["brightness"]
    assert quartiles.edges == tuple(np.quantile(brightness, [0, 0.25, 0.5, 0.75, 1]))
    assert np.bincount(quartiles.codes).tolist() == [100, 100, 100, 100]
    assert found["grayscale"].values == ("no", "yes")


def test_manifest_columns_values_numbers_and_errors() -> None:
    frame = frame_of(np.ones(300, bool))
    frame[meta_column("camera")] = ["a", "b", ""] * 100
    frame[meta_column("age")] = [str(i) for i in range(300)]
    frame[meta_column("id")] = [f"x{i}" for i in range(300)]
    camera = column_grouping("camera", frame[meta_column("camera")], 4)
    assert camera.values == ("a", "b") and camera.missing == 100
    age = column_grouping("age", frame[meta_column("age")], 4)
    assert age.binning == "quantiles" and len(age.values) == 4
    with pytest.raises(EvalkitError, match=r"^--slice-by id: the column has 300 distinct values"):
        column_grouping("id", frame[meta_column("id")], 4)
    with pytest.raises(EvalkitError, match=r"^slice:id: the column has 300 distinct values"):
        grouping_of(frame, "id", 4)  # a gate's column is named as the gate names it
    with pytest.raises(EvalkitError, match="did you mean camera"):
        groupings(frame, ("camra",), 4)
    frame[meta_column("site")] = [" "] * 300  # in every row, nothing to slice by
    with pytest.raises(EvalkitError, match=r"^--slice-by site: the column is empty in every row"):
        groupings(frame, ("site",), 4)
    with pytest.raises(EvalkitError, match=r"^slice:site: the column is empty in every row"):
        grouping_of(frame, "site", 4)
    check_slice_columns(("camera", "sharpness"), ["camera", "site"], {"camera"})
    with pytest.raises(EvalkitError, match=r"^--slice-by site: the column is empty"):
        check_slice_columns(("site",), ["camera", "site"], {"camera"})
    assert slice_columns(["camera,", " site"]) == ("camera", "site") and slice_columns(()) == ()
    with pytest.raises(EvalkitError, match="no column name"):
        slice_columns(",")


def test_slice_table_counts_and_wilson_intervals() -> None:
    hits = np.array([True] * 150 + [False] * 50 + [True] * 100)
    camera = np.array(["a"] * 200 + ["b"] * 100)
    frame = frame_of(hits, **{meta_column("camera"): camera})
    group = groupings(frame, ("camera",), 4)[-1]
    hits1, hits5 = prediction_hits(frame, 1), prediction_hits(frame, 5)
    table = slice_table(group, hits1, hits5)
    a, b = table["slices"]
    assert (a["value"], a["n"], a["top1"]["correct"]) == ("a", 200, 150)
    assert (a["top1"]["low"], a["top1"]["high"]) == pytest.approx(wilson_interval(150, 200))
    assert (b["n"], b["top1"]["value"], b["top5"]["value"]) == (100, 1.0, 1.0)


def test_fisher_tail_and_benjamini_hochberg_match_scipy() -> None:
    # slice: 30 of 60 right; rest: 900 of 1000 right
    p = lower_tail_p(np.array([30]), np.array([60]), 1060, 930)[0]
    assert p == pytest.approx(fisher_exact([[30, 30], [900, 100]], alternative="less")[1])


def test_a_slice_built_to_be_worse_is_found() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    camera = rng.choice(["a", "b", "c"], n)
    contrast = rng.random(n)
    hits = rng.random(n) < 0.9
    dark = (camera == "b") & (contrast < 0.25)  # the weak corner: 40% right
    hits[dark] = rng.random(dark.sum()) < 0.4
    frame = frame_of(hits, contrast=contrast, **{meta_column("camera"): camera})
    frame["brightness"] = rng.random(n)  # unrelated
    section = slice_results(frame, ("camera",), bins=4, min_size=30)
    assert section is not None and section.weak_segments is not None
    weak = section.weak_segments
    listed = [segment.slice for segment in weak.segments]
    assert listed[0].startswith("contrast=q1") and "camera=b" in listed[0]
    assert not any(s.startswith("brightness") for s in listed)  # noise stays quiet
    assert weak.tried == 4 + 4 + 3 + 16 + 12 + 12  # singles, then pairs across groupings
    first = weak.segments[0]
    corner = (camera == "b") & (contrast < np.quantile(contrast, 0.25))  # the bin, not 0.25
    assert first.n == int(corner.sum()) and first.top1.value == pytest.approx(hits[corner].mean())
    assert len(first.examples) == 4 and all(
        not hits[int(p.split("/")[1][:-4])] for p in first.examples
    )


def test_no_weak_segments_in_noise() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    frame = frame_of(rng.random(n) < 0.8, brightness=rng.random(n), contrast=rng.random(n))
    section = slice_results(frame, (), bins=4, min_size=30)
    assert section is not None and section.weak_segments is not None
    assert section.weak_segments.segments == [] and section.weak_segments.tried == 8 + 16


def test_benjamini_hochberg_adjusts_across_everything_tried() -> None:
    rng = np.random.default_rng(4)
    hits = rng.random(1000) < 0.8
    groups = groupings(frame_of(hits, brightness=rng.random(1000)), (), 4)
    section = weak_segments(groups, hits, np.ones(1000), ["x"] * 1000, min_size=10, alpha=1.0)
    p = [s["p_value"] for s in section["segments"]]
    adjusted = [s["p_adjusted"] for s in section["segments"]]
    all_p = [
        lower_tail_p(
            np.array([hits[g.members(i)].sum()]),
            np.array([g.members(i).sum()]),
            1000,
            int(hits.sum()),
        )[0]
        for g in groups
        for i in range(len(g.values))
    ]
    expected = dict(zip(all_p, false_discovery_control(all_p, method="bh"), strict=True))
    assert adjusted == pytest.approx([expected[v] for v in p])


def test_slice_gate_fails_a_regression_that_overall_top1_hides() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    camera = np.array(["a", "b"] * (n // 2))
    before = rng.random(n) < 0.85
    after = before.copy()
    in_b = np.flatnonzero((camera == "b") & before)[:80]  # 80 newly wrong in b …
    in_a = np.flatnonzero((camera == "a") & ~before)[:80]  # … 80 newly right in a
    after[in_b], after[in_a] = False, True
    columns = {meta_column("camera"): camera}
    base = fake_run(frame_of(before, **columns), CLASSES, model_id="m")
    current = fake_run(frame_of(after, **columns), CLASSES, model_id="m")
    overall = compare_runs(base, current)
    assert not overall.regression and overall.delta == 0
    gated = compare_runs(base, current, metrics=gate_metrics("top1,slice:camera"))
    assert gated.regression and not gated.top1_regression
    (drop,) = gated.slice_drops
    assert (drop.kind, drop.name, drop.n, drop.worse, drop.better) == ("camera", "b", 1000, 80, 0)
    text = gated.summary()
    assert "REGRESSION (slice:camera)" in text and "slice camera=b:" in text and "n=1000" in text
    with pytest.raises(EvalkitError, match="no such column"):
        compare_runs(base, current, metrics=("slice:site",))
    with pytest.raises(EvalkitError, match="needs a column"):
        gate_metrics("slice:")


def test_label_shift_by_one_and_text_order_are_flagged() -> None:
    rng = np.random.default_rng(6)
    n, outputs = 3000, 1000
    target = rng.integers(0, outputs - 1, n)
    frame = pd.DataFrame({"target": target, "top1": target})
    assert label_shift(frame, outputs).status == "ok"
    shifted = frame.assign(top1=np.where(rng.random(n) < 0.75, target + 1, target + 5))
    guard = label_shift(shifted, outputs)
    assert (
        guard.status == "warning"
        and "shifted by +1" in guard.message
        and "background" in guard.message
    )
    text_order = np.array(sorted(range(outputs), key=str))
    renumbered = frame.assign(top1=text_order[target])
    guard = label_shift(renumbered, outputs)
    assert (
        guard.status == "warning"
        and "text order" in guard.message
        and "imagenet-v2" in guard.message
    )
    read_as_v2 = label_shift(renumbered, outputs, "imagenet-v2")  # the fix is the model's map
    assert "--format" not in read_as_v2.message and "model's class map" in read_as_v2.message
    poor = frame.assign(top1=rng.integers(0, outputs, n))  # a bad model is not a shift
    assert label_shift(poor, outputs).status == "ok"


def test_published_accuracy_applies_to_the_full_validation_set_only() -> None:
    hits = np.random.default_rng(7).random(50_000) < 0.74
    run = fake_run(frame_of(hits), CLASSES, model_id="m")
    run.model.published_metrics = {"acc@1": 76.13, "acc@5": 92.862}
    assert published_accuracy(run) is None  # an image folder, not ImageNet val
    run.dataset.format = "imagenet-val"
    run.dataset.n = 50_000
    guard = published_accuracy(run)
    assert guard is not None and guard.status == "warning" and "76.13%" in guard.message
    run.model.published_metrics = {"acc@1": 100 * float(run.metrics.top1.value or 0)}
    guard = published_accuracy(run)
    assert guard is not None and guard.status == "ok"


def test_exif_guard_lists_the_rotated_files() -> None:
    guard = exif_rotation(["a.jpg", "b.jpg", "c.jpg"], np.array([0.0, 1.0, 0.0]), False)
    assert guard.status == "warning" and guard.details["files"] == ["b.jpg"]
    assert "--exif-transpose" in guard.message
    assert exif_rotation(["a.jpg"], np.array([0.0]), False).status == "ok"


def test_rescored_adds_slices_to_a_stored_run(tmp_path: Path) -> None:
    hits = np.random.default_rng(8).random(600) < 0.9
    columns = {meta_column("site"): ["x", "y", "z"] * 200, meta_column("camera"): ["a", "b"] * 300}
    run = fake_run(frame_of(hits, **columns), CLASSES, model_id="m")
    assert run.slices is None
    again = rescored(run, slice_by=["site"], bins=3, min_size=50)
    assert again.slices is not None and [g.name for g in again.slices.groups] == ["site"]
    assert again.options is not None and again.options["slice_by"] == ["site"]
    assert again.metrics.top1.value == run.metrics.top1.value
    # a second column is added to the first, not put in its place; a repeated one counts once
    twice = rescored(again, slice_by=["camera", "site"])
    assert twice.slices is not None and [g.name for g in twice.slices.groups] == ["site", "camera"]
    assert twice.options is not None and twice.options["slice_by"] == ["site", "camera"]
    assert twice.options["slice_bins"] == 3 and twice.options["min_slice_size"] == 50
    kept = rescored(twice)
    assert kept.slices is not None and [g.name for g in kept.slices.groups] == ["site", "camera"]


def test_a_search_that_finds_no_weak_segment_says_so_in_the_terminal_and_markdown() -> None:
    from evalkit.report.render import render_markdown
    from evalkit.report.terminal import segment_notes

    hits = np.random.default_rng(3).random(600) < 0.9  # no slice is worse than the rest
    run = fake_run(frame_of(hits, **{meta_column("site"): ["x", "y"] * 300}), CLASSES)
    run = rescored(run, slice_by=["site"], min_size=50)
    assert run.slices is not None and run.slices.weak_segments is not None
    tried = run.slices.weak_segments.tried
    assert tried > 0 and not run.slices.weak_segments.segments
    assert segment_notes([run]) == [f"{run.id}: no weak segment among {tried} slices tried"]
    assert f"none of {tried} tried is significant" in render_markdown([run], None)
