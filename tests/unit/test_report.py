"""Reports: the numbers they show, escaping of untrusted strings, size budget, CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalkit.report import render_html, render_markdown, tables, write_report
from evalkit.report.winners import best_rows
from evalkit.results import Latency, save_results
from evalkit.scoring import rescore
from evalkit.timing import noise
from helpers import assert_user_error, run_cli, synthetic_runs

XSS = "<img src=x onerror=alert(1)>"


def _best(runs: list[Any]) -> dict[str, int]:
    return best_rows(tables.summary(tables.label_runs(runs)), runs)


def test_summary_marks_only_significant_leaders() -> None:
    """★ needs a significant lead: on 4000 images, 76% vs 80% top-1 is one (paired McNemar);
    on 100 images it is not. Model 0's batches are 50 ms faster out of a 5 ms spread."""
    runs = synthetic_runs(4000, ["a", "b", "c"])
    best = _best(runs)
    assert best["top1"] == 1 and best["latency_p50_ms"] == 0 and best["throughput_img_s"] == 0
    assert "latency_p90_ms" not in best  # equal values: a tie marks nothing
    close = synthetic_runs(100, ["a", "b", "c"])  # run 1 = run 0 with 2 mistakes fixed
    frame = close[0].predictions.copy()
    wrong = frame.index[frame["top1"] != frame["target"]][:2]
    frame.loc[wrong, "top1"] = frame.loc[wrong, "target"]
    close[1].predictions = frame
    close[1].metrics = rescore(close[1])
    assert close[1].top1 > close[0].top1 and "top1" not in _best(close)  # McNemar p = 0.5
    assert best_rows(tables.summary(tables.label_runs(runs[:1])), runs[:1]) == {}


def test_noisy_timing_is_flagged_and_never_wins() -> None:
    runs = synthetic_runs(4000, ["a", "b", "c"])
    runs[0].timing.noise = ["the machine was busy when timing started (load average 3.0 on 2 CPUs)"]
    assert "latency_p50_ms" not in _best(runs) and "throughput_img_s" not in _best(runs)
    html = render_html(runs)
    assert 'title="timing may be unreliable: the machine was busy' in html
    assert "may be unreliable (⚠ in the table)" in html
    assert "| ⚠ 100" in render_markdown(runs)


def test_noise_reasons() -> None:
    assert noise([100.0] * 10, load=0.2, cpus=2) == []
    assert "busy" in noise([100.0] * 10, load=3.0, cpus=2)[0]
    assert "vary widely" in noise([3, 17, 11, 18, 17, 23, 3.6, 3.8], load=None, cpus=2)[0]
    assert noise([4.8, 11.6, 4.2, 4.6, 5.3, 4.7, 4.9, 3.5], load=None, cpus=2) == []  # 1 outlier
    assert noise([100, 300], load=None, cpus=2) == []  # too few batches to judge


def test_pair_counts_match_a_hand_count() -> None:
    first, second = synthetic_runs(300, ["a", "b", "c", "d"])
    (pair,) = tables.pairs(tables.label_runs([first, second]))
    a = first.predictions["top1"] == first.predictions["target"]
    b = second.predictions["top1"] == second.predictions["target"]
    assert len(pair.only_first) == int((a & ~b).sum())
    assert len(pair.only_second) == int((b & ~a).sum())
    same = first.predictions["predicted"] == second.predictions["predicted"]
    assert pair.agreement == pytest.approx(same.mean())
    delta = np.abs(first.predictions["prob1"] - second.predictions["prob1"])
    assert pair.abs_dp == pytest.approx((delta.median(), delta.quantile(0.99), delta.max()))


def test_abs_dp_needs_one_label_space() -> None:
    first, second = synthetic_runs(50, ["a", "b"])
    second.model.label_space = second.model.label_space.model_copy(update={"name": "other"})
    (pair,) = tables.pairs(tables.label_runs([first, second]))
    assert pair.abs_dp is None


def test_runs_on_other_data_are_not_paired() -> None:
    first, second = synthetic_runs(50, ["a", "b"])
    second.dataset.fingerprint = "sha256:other"
    assert tables.pairs(tables.label_runs([first, second])) == []


def test_per_class_is_worst_first_with_delta() -> None:
    runs = tables.label_runs(synthetic_runs(600, ["a", "b", "c"]))
    frame = tables.per_class(runs)
    labels = [r.label for r in runs]
    worst = frame[labels].min(axis=1).to_numpy()
    assert list(worst) == sorted(worst)
    np.testing.assert_allclose(frame["delta"], frame[labels[1]] - frame[labels[0]])


def test_confused_pairs_and_focus_classes() -> None:
    (run,) = synthetic_runs(2000, [f"c{i}" for i in range(40)], models=1)
    matrix = tables.confusion_frame(run)
    assert matrix.shape == (40, 41) and matrix.columns[-1] == "other"
    top = tables.confused_pairs(matrix, 5)
    off_diagonal = matrix.to_numpy().copy()
    np.fill_diagonal(off_diagonal, 0)
    assert top["count"].iloc[0] == off_diagonal.max()
    assert list(top["count"]) == sorted(top["count"], reverse=True)
    assert (top["true"] != top["predicted"]).all()
    focus = tables.most_confused_classes(matrix, 6)
    assert focus.shape == (6, 6) and top["true"].iloc[0] in focus.index


def test_duplicate_models_get_distinct_labels() -> None:
    run = synthetic_runs(20, ["a", "b"], models=1)[0]
    labels = [r.label for r in tables.label_runs([run, run])]
    assert labels == ["torch-export:model-0.pt2", "torch-export:model-0.pt2 (2)"]


def test_untrusted_strings_are_escaped_everywhere() -> None:
    runs = synthetic_runs(200, [XSS, "b|c", "$x^2$"])
    runs[0].failures = [{"file": "<script>alert(2)</script>.jpg", "reason": XSS}]
    html = render_html(runs, title="<b>title</b>")
    assert XSS not in html and "<script>alert(2)" not in html and "<b>title" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "$x^2$" in html  # a class name, not mathtext
    markdown = render_markdown(runs)
    assert XSS not in markdown


def test_report_makes_no_network_reference() -> None:
    html = render_html(synthetic_runs(200, ["a", "b"]))
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert references and all(r.startswith(("data:", "#", "confusion-")) for r in references), (
        references
    )
    assert "url(http" not in html and "@import" not in html


def test_same_results_give_the_same_report() -> None:
    runs = synthetic_runs(100, ["a", "b"])
    assert render_html(runs) == render_html(runs)


def test_size_budget_for_two_models_50k_images_1000_classes(tmp_path: Path) -> None:
    classes = [f"n{i:08d}" for i in range(1000)]
    runs = synthetic_runs(50_000, classes)
    written = write_report(runs, tmp_path)
    size = written["html"].stat().st_size
    assert size <= 5 * 2**20, f"report.html is {size / 2**20:.2f} MB"
    html = written["html"].read_text()
    assert "the 15 most-confused classes" in html
    assert html.count("<tr>") > 1000  # the per-class table has every class
    matrix = (tmp_path / "confusion-0-torch-export_model-0.pt2.csv").read_text().splitlines()
    assert len(matrix) == 1001 and matrix[0].count(",") == 1001


def test_markdown_and_csv_summaries(tmp_path: Path) -> None:
    written = write_report(synthetic_runs(500, ["a", "b", "c"]), tmp_path / "out.html")
    assert written["markdown"].name == "out.md" and written["csv"].name == "out-summary.csv"
    markdown = written["markdown"].read_text()
    assert markdown.startswith("### evalkit: 2 models")
    assert "| model | top-1 % [95% CI] |" in markdown and "Full report: `out.html`" in markdown
    header = written["csv"].read_text().splitlines()[0]
    assert header.startswith("model,top1,top1_low,top1_high,top5")


def test_cli_report_from_two_results_files(tmp_path: Path) -> None:
    first, second = synthetic_runs(300, ["a", "b"])
    save_results([first], tmp_path / "before")
    save_results([second], tmp_path / "after")
    done = run_cli(
        "report",
        tmp_path / "before" / "results.json",
        tmp_path / "after",
        "--out",
        tmp_path / "cmp.html",
    )
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "cmp.html").read_text()
    assert "Pairwise comparison" in html
    assert (tmp_path / "cmp.md").is_file() and (tmp_path / "cmp-summary.csv").is_file()
    missing = run_cli("report", tmp_path / "nope.json")
    assert_user_error(missing, "results file not found")


def test_imagenet_wnids_get_their_names_and_digits_do_not() -> None:
    assert tables.readable_names(["n01440764", "n01443537"]) == {
        "n01440764": "n01440764 (tench)",
        "n01443537": "n01443537 (goldfish)",
    }
    assert tables.readable_names(["3", "7"]) == {}  # "3" is not ImageNet's class 3 here
    (run,) = synthetic_runs(100, ["n01440764", "n01443537"], models=1)
    assert "n01440764 (tench)" in list(tables.per_class(tables.label_runs([run]))["class"])


def test_findings_name_the_leader_or_the_tie() -> None:
    runs = tables.label_runs(synthetic_runs(400, ["a", "b", "c"]))
    summary = tables.summary(runs)
    lines = tables.findings(summary, tables.pairs(runs))
    assert lines[0].startswith("Most accurate: torch-export:model-1.pt2")
    assert "paired McNemar p=" in lines[1] and lines[2].startswith("Fastest: torch-export:model-0")
    tied = tables.label_runs([runs[0].run, runs[0].run])
    text = tables.findings(tables.summary(tied), tables.pairs(tied))
    assert text[0].startswith("Top-1 is tied at") and "p=1" in text[0]


def test_runs_without_timed_batches_still_render() -> None:
    """Runs taken whole from the prediction cache (or resumed) timed no batch."""
    runs = synthetic_runs(100, ["a", "b"])
    for run in runs:
        run.timing.batch_latency_ms = Latency(p50=None, p90=None, p99=None)
        run.timing.batch_latencies_ms = []
    html = render_html(runs)
    assert "Fastest:" not in html and "Most accurate:" in html
