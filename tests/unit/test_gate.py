"""The gate's pure parts: baseline names, option merging, merged summary rows, tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalkit.analysis.slices import meta_column
from evalkit.compare.baselines import baseline_file, baseline_name, data_label
from evalkit.errors import EvalkitError
from evalkit.gate import Entry, Gate, GateRow, merge_rows
from evalkit.options import EvalOptions, GateOptions
from evalkit.report.terminal import gate_markdown
from evalkit.results import save_results
from helpers import fake_run, hits_table


def test_baseline_name_is_machine_independent() -> None:
    none = EvalOptions()
    here = baseline_name("torch-export:/home/a/m.pt2", data_label(Path("/home/a/data/val")), none)
    there = baseline_name("torch-export:/ci/x/m.pt2", data_label(Path("/ci/b/data/val")), none)
    assert here == there == "torch-export_m.pt2--data_val"
    options = EvalOptions(per_class=5, seed=0, batch_size=8)  # batch size selects no samples
    subset = baseline_name("keras:MobileNetV2", "imagenet/val", options)
    assert subset == "keras_MobileNetV2--imagenet_val--per_class=5"
    labelled = EvalOptions(labels_file=Path("/d/LOC_val_solution.csv"))
    assert baseline_name("m:x", "v/a", labelled).endswith("--labels_file=LOC_val_solution.csv")


def test_options_merge_session_defaults_with_a_tests_own() -> None:
    gate = Gate(GateOptions(defaults=EvalOptions(batch_size=32, weights={"a": "1"})))
    merged = gate.options({"batch_size": 8, "weights": {"b": "2"}})
    assert merged == EvalOptions(batch_size=8, weights={"a": "1", "b": "2"})
    assert merged.weights_files == {"a": "1", "b": "2"}
    with pytest.raises(EvalkitError, match="unknown evaluation option 'batchsize'; did you mean"):
        gate.options({"batchsize": 8})


def row(verdict: str, test: str) -> GateRow:
    return GateRow(
        baseline="m--d",
        model="m",
        data="d",
        n=10,
        top1=0.9,
        top1_low=0.6,
        top1_high=0.98,
        top5=1.0,
        p50_ms=1.5,
        verdict=verdict,
        tests=[test],
    )


def test_rows_from_workers_merge_to_the_most_severe_verdict() -> None:
    rows = [row("not gated", "t1"), row("REGRESSION", "t2"), row("ok", "t3")]
    (merged,) = merge_rows([GateRow.from_dict(r.to_dict()) for r in rows])
    assert merged.verdict == "REGRESSION"
    assert merged.tests == ["t1", "t2", "t3"]
    assert rows[0].tests == ["t1"]  # merging does not change the rows it was given


def test_markdown_summary_is_a_table_and_escapes_pipes() -> None:
    piped = row("ok", "t")
    piped.model = "a|b"
    text = gate_markdown([piped])
    lines = text.splitlines()
    assert lines[0] == "### evalkit"
    assert lines[2].startswith("| model | data | n | top-1 % [95% CI] |")
    assert lines[4] == ("| a\\|b | d | 10 | 90.00 [60.0, 98.0] | 100.00 | — | — | — | ok | 1.5 |")


def test_a_slice_only_regression_names_the_slice_and_shows_overall_top1(tmp_path: Path) -> None:
    # camera b loses 60 hits and camera a gains 60: top-1 is level, the slice gate fails, and
    # the message says both (the overall line, then the slice with before/after and n)
    classes = [f"c{i}" for i in range(10)]
    camera = np.array(["a", "b"] * 500)
    before = np.random.default_rng(0).random(1000) < 0.85
    after = before.copy()
    after[np.flatnonzero((camera == "b") & before)[:60]] = False
    after[np.flatnonzero((camera == "a") & ~before)[:60]] = True
    base, current = (
        fake_run(
            hits_table(hits, classes, **{meta_column("camera"): camera}), classes, model_id="m"
        )
        for hits in (before, after)
    )
    gate = Gate(GateOptions(baseline_dir=tmp_path, metrics=("top1", "slice:camera")))
    entry = Entry("m--d", current, row("not gated", "t"))
    gate._by_run[id(current)] = entry
    save_results([base], baseline_file(tmp_path, entry.name).parent)
    (message,) = gate.check(current).failures
    lines = message.splitlines()
    assert lines[0] == "accuracy regression: m on d"
    assert (
        lines[1].startswith("  top-1: baseline ") and "(+0.00 points, n=1000; 60 newly" in lines[1]
    )
    assert lines[1].endswith("not a regression on its own")
    assert lines[2].startswith("  slices: 1 slice(s) dropped by >= 1 points")
    assert lines[3].startswith("    slice camera=b: ") and "(n=500; 60 newly wrong" in lines[3]
