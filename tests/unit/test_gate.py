"""The gate's pure parts: baseline names, option merging, merged summary rows, tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.compare.baselines import baseline_name, data_label
from evalkit.errors import EvalkitError
from evalkit.gate import Gate, GateRow, merge_rows
from evalkit.options import EvalOptions, GateOptions
from evalkit.report.terminal import gate_markdown


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
