"""The terminal comparison table printed after a run (reads RunResults only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from evalkit.results import RunResult, display_name


def _pct(summary: dict[str, float]) -> str:
    value, low, high = summary["value"], summary["low"], summary["high"]
    if value is None or math.isnan(value):
        return "—"
    return f"{100 * value:.2f} [{100 * low:.1f}, {100 * high:.1f}]"


def comparison_table(runs: Sequence[RunResult]) -> Table:
    table = Table(title="evalkit results", title_justify="left")
    for column in (
        "model",
        "top-1 % [95% CI]",
        "top-5 % [95% CI]",
        "n",
        "failures",
        "batch p50 ms",
        "batch p90 ms",
        "img/s",
        "device",
    ):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for run in runs:
        latency = run.timing["batch_latency_ms"]
        table.add_row(
            display_name(run.id),
            _pct(run.metrics["top1"]),
            _pct(run.metrics["top5"]),
            str(run.metrics["top1"]["n"]),
            str(len(run.failures)),
            f"{latency['p50']:.1f}",
            f"{latency['p90']:.1f}",
            f"{run.timing['throughput_img_s']:.1f}",
            str(run.timing["device"]),
        )
    return table


def notes(runs: Sequence[RunResult]) -> list[str]:
    """Things a reader of the table must not miss."""
    lines = []
    for run in runs:
        if run.model.get("weights", {}).get("matches_published") is False:
            lines.append(
                f"{run.id}: weights file differs from the published one "
                f"({run.model['weights']['file']}); accuracy will not match"
            )
        for failure in run.failures[:5]:
            lines.append(f"{run.id}: skipped {failure['file']}: {failure['reason']}")
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


def _number(value: float | None, scale: float = 100, fmt: str = ".2f") -> str:
    return "—" if value is None or math.isnan(value) else f"{scale * value:{fmt}}"


def gate_cells(row: dict[str, Any]) -> list[str]:
    """One summary row of the pytest gate, as text cells in :data:`GATE_COLUMNS` order."""
    interval = f"{_number(row['top1'])} [{_number(row['top1_low'], fmt='.1f')}, " + (
        f"{_number(row['top1_high'], fmt='.1f')}]"
    )
    return [
        row["model"],
        row["data"],
        str(row["n"]),
        interval,
        _number(row["top5"]),
        _number(row["baseline_top1"]),
        _number(row["delta"], fmt="+.2f"),
        _number(row["p_value"], scale=1, fmt=".3g"),
        row["verdict"],
        _number(row["p50_ms"], scale=1, fmt=".1f"),
    ]


def gate_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in GATE_COLUMNS:
        left = column in ("model", "data")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*gate_cells(row))
    return table


def gate_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The gate's summary as a Markdown table (for ``GITHUB_STEP_SUMMARY``)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = ["### evalkit", "", line(GATE_COLUMNS), line(["---"] * len(GATE_COLUMNS))]
    lines += [line(gate_cells(row)) for row in rows]
    return "\n".join(lines) + "\n"
