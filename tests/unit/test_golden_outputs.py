"""Every presentation of a fixed results file, compared with what evalkit 0.1 printed for it
(tests/golden/expected, made before the results model was typed): a refactor must not change
a number, a column or a word."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from evalkit.compare.alignment import flipped_samples
from evalkit.compare.baselines import compare_files, compare_runs
from evalkit.gate import GateRow
from evalkit.report.render import render_html, render_markdown, summary_csv
from evalkit.report.terminal import gate_markdown, print_summary
from evalkit.results import PREDICTED, TARGET, Results, RunResult, load_results, top_column

GOLDEN = Path(__file__).parents[1] / "golden"
EXPECTED = GOLDEN / "expected"


@pytest.fixture(scope="module")
def runs() -> Results:
    return load_results(GOLDEN / "demo-v1")


def degraded(run: RunResult) -> RunResult:
    """The run with its first 25 correct samples predicted as the next digit."""
    frame = run.predictions.copy()
    top1 = top_column(1)
    right = frame.index[frame[top1] == frame[TARGET]][:25]
    frame.loc[right, top1] = (frame.loc[right, TARGET] + 1) % 10
    frame.loc[right, PREDICTED] = frame.loc[right, top1].astype(str)
    return run.model_copy(update={"predictions": frame})


def test_markdown_and_csv(runs: Results) -> None:
    assert render_markdown(list(runs)) == (EXPECTED / "report.md").read_text()
    assert summary_csv(list(runs)).to_csv(index=False) == (EXPECTED / "summary.csv").read_text()


def test_html_apart_from_the_charts(runs: Results) -> None:
    html = re.sub(r"<svg.*?</svg>", "<svg/>", render_html(list(runs), "golden"), flags=re.S)
    assert html == (EXPECTED / "report-nosvg.html.txt").read_text()


def test_terminal_table(runs: Results, capsys: pytest.CaptureFixture[str]) -> None:
    """The table on stdout, the notes (skipped files, …) on stderr."""
    buffer = io.StringIO()
    print_summary(list(runs), Console(file=buffer, width=150, color_system=None))
    notes = capsys.readouterr()
    assert buffer.getvalue() + notes.err == (EXPECTED / "terminal.txt").read_text()
    assert notes.out == "" and notes.err.startswith("note: ")


def test_comparisons_and_gate_summary(runs: Results) -> None:
    base = runs[0]
    current = degraded(base)
    comparison = compare_runs(base, current)
    lines = [comparison.summary()] + [c.summary() for c in compare_files(runs, runs)]
    assert "\n".join(lines) + "\n" == (EXPECTED / "compare.txt").read_text()
    flipped = flipped_samples(base, current).to_csv(index=False)
    assert flipped == (EXPECTED / "flipped.csv").read_text()
    row = GateRow.of(current, "digits/test", "name")
    row.baseline_top1, row.delta = comparison.baseline_top1, comparison.delta
    row.p_value, row.verdict = comparison.p_value, "REGRESSION"
    rows = [row, GateRow.of(runs[1], "digits/test", "name2")]
    assert gate_markdown(rows) == (EXPECTED / "gate.md").read_text()
