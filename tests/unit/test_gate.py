"""The gate's pure parts: baseline names, option merging, merged summary rows, tables."""

from __future__ import annotations

from pathlib import Path

from evalkit.gate import Gate, GateSettings, baseline_name, data_label, merge_rows
from evalkit.table import gate_markdown


def test_baseline_name_is_machine_independent() -> None:
    here = baseline_name("torch-export:/home/a/m.pt2", data_label("/home/a/data/val"), {})
    there = baseline_name("torch-export:/ci/x/m.pt2", data_label(Path("/ci/b/data/val")), {})
    assert here == there == "torch-export_m.pt2--data_val"
    subset = baseline_name("keras:MobileNetV2", "imagenet/val", {"per_class": 5, "seed": 0})
    assert subset == "keras_MobileNetV2--imagenet_val--per_class=5"
    labelled = baseline_name("m:x", "v/a", {"labels_file": "/d/LOC_val_solution.csv"})
    assert labelled.endswith("--labels_file=LOC_val_solution.csv")


def test_options_merge_session_defaults_with_a_tests_own() -> None:
    gate = Gate(
        GateSettings(
            defaults={
                "data": "d",
                "batch_size": 32,
                "per_class": None,
                "weights": {"a": "1"},
            }
        )
    )
    merged = gate.options({"batch_size": 8, "weights": {"b": "2"}})
    assert merged == {"batch_size": 8, "weights": {"a": "1", "b": "2"}}


def row(verdict: str, test: str) -> dict[str, object]:
    return {
        "baseline": "m--d",
        "model": "m",
        "data": "d",
        "n": 10,
        "top1": 0.9,
        "top1_low": 0.6,
        "top1_high": 0.98,
        "top5": 1.0,
        "baseline_top1": None,
        "delta": None,
        "p_value": None,
        "verdict": verdict,
        "p50_ms": 1.5,
        "tests": [test],
    }


def test_rows_from_workers_merge_to_the_most_severe_verdict() -> None:
    (merged,) = merge_rows([row("not gated", "t1"), row("REGRESSION", "t2"), row("ok", "t3")])
    assert merged["verdict"] == "REGRESSION"
    assert merged["tests"] == ["t1", "t2", "t3"]


def test_markdown_summary_is_a_table_and_escapes_pipes() -> None:
    piped = row("ok", "t") | {"model": "a|b"}
    text = gate_markdown([piped])
    lines = text.splitlines()
    assert lines[0] == "### evalkit"
    assert lines[2].startswith("| model | data | n | top-1 % [95% CI] |")
    assert lines[4] == ("| a\\|b | d | 10 | 90.00 [60.0, 98.0] | 100.00 | — | — | — | ok | 1.5 |")
