"""The terminal tables: the comparison printed after a run, and the pytest gate's summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from evalkit.report.format import general, interval, markdown_row, num, pct
from evalkit.results import Accuracy, RunResult

if TYPE_CHECKING:
    from evalkit.gate import GateRow

RUN_COLUMNS = (
    "model",
    "top-1 % [95% CI]",
    "top-5 % [95% CI]",
    "n",
    "failures",
    "batch p50 ms",
    "batch p90 ms",
    "img/s",
    "device",
)


def _interval(accuracy: Accuracy) -> str:
    return interval(accuracy.value, accuracy.low, accuracy.high)


def _ms(value: float | None) -> str:
    return num(value, 1, grouping=False)


def comparison_table(runs: Sequence[RunResult]) -> Table:
    table = Table(title="evalkit results", title_justify="left")
    for column in RUN_COLUMNS:
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for run in runs:
        latency = run.timing.batch_latency_ms
        table.add_row(
            run.name,
            _interval(run.metrics.top1),
            _interval(run.metrics.top5),
            str(run.metrics.top1.n),
            str(len(run.failures)),
            _ms(latency.p50),
            _ms(latency.p90),
            _ms(run.timing.throughput_img_s),
            run.timing.device,
        )
    return table


def notes(runs: Sequence[RunResult]) -> list[str]:
    """Things a reader of the table must not miss."""
    lines = []
    for run in runs:
        weights = run.model.weights
        if weights.matches_published is False:
            lines.append(
                f"{run.id}: weights file differs from the published one "
                f"({weights.file}); accuracy will not match"
            )
        execution = run.execution
        if execution is not None and (execution.cached or execution.resumed):
            lines.append(
                f"{run.id}: evaluated {execution.evaluated} images, {execution.cached} from the "
                f"cache, {execution.resumed} resumed from committed shards (timing covers the "
                "evaluated ones)"
            )
        for failure in run.failures[:5]:
            lines.append(f"{run.id}: skipped {failure.file}: {failure.reason}")
        if len(run.failures) > 5:
            lines.append(f"{run.id}: … {len(run.failures) - 5} more failures in results.json")
    return lines


def print_summary(runs: Sequence[RunResult], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        console = console if console.is_terminal else Console(width=150)
    console.print(comparison_table(runs))
    for line in notes(runs):
        console.print(f"note: {line}", markup=False, highlight=False)


GATE_COLUMNS = (
    "model",
    "data",
    "n",
    "top-1 % [95% CI]",
    "top-5 %",
    "baseline top-1 %",
    "Δ points",
    "McNemar p",
    "verdict",
    "batch p50 ms",
)


def gate_cells(row: GateRow) -> list[str]:
    """One summary row of the pytest gate, as text cells in :data:`GATE_COLUMNS` order."""
    return [
        row.model,
        row.data,
        str(row.n),
        f"{pct(row.top1)} [{pct(row.top1_low, 1)}, {pct(row.top1_high, 1)}]",
        pct(row.top5),
        pct(row.baseline_top1),
        pct(row.delta, sign=True),
        general(row.p_value),
        row.verdict,
        _ms(row.p50_ms),
    ]


def gate_table(rows: Sequence[GateRow]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in GATE_COLUMNS:
        left = column in ("model", "data")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*gate_cells(row))
    return table


def gate_markdown(rows: Sequence[GateRow]) -> str:
    """The gate's summary as a Markdown table (for ``GITHUB_STEP_SUMMARY``)."""
    lines = ["### evalkit", "", markdown_row(list(GATE_COLUMNS))]
    lines += [markdown_row(["---"] * len(GATE_COLUMNS))]
    lines += [markdown_row(gate_cells(row)) for row in rows]
    return "\n".join(lines) + "\n"
