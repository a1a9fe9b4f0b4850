"""The terminal tables: the comparison printed after a run, and the pytest gate's summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from evalkit.corruption_spec import CORRUPTIONS
from evalkit.errors import one_line, printable
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
    lines = [
        f"data: evaluated a subset: {subset}"
        for subset in dict.fromkeys(run.dataset.subset for run in runs)
        if subset != "all"
    ]
    dataset = runs[0].dataset if runs else None
    if dataset is not None and dataset.ignored_count:
        first = dataset.ignored[0]
        lines.append(
            f"data: {dataset.ignored_count} entries not evaluated (e.g. {first.file}: "
            f"{first.reason}); all are listed in results.json under dataset.ignored"
        )
    lines += _subset_notes(runs)
    lines += guard_notes(runs)
    lines += segment_notes(runs)
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
        if run.timing.noise:
            lines.append(f"{run.id}: timing may be unreliable: {'; '.join(run.timing.noise)}")
        for failure in run.failures[:5]:
            lines.append(f"{run.id}: skipped {printable(failure.file)}: {failure.reason}")
        if len(run.failures) > 5:
            lines.append(f"{run.id}: … {len(run.failures) - 5} more failures in results.json")
    return lines


def _subset_notes(runs: Sequence[RunResult]) -> list[str]:
    """Which runs were scored on a label subset, and a hint when one looks missing."""
    from evalkit.labelsets import matching_bundled

    lines = []
    for run in runs:
        subset = run.model.label_space.subset
        if subset is not None:
            lines.append(
                f"{run.id}: outputs restricted to the label subset {subset.name} "
                f"({subset.classes} classes) before top-k"
            )
        elif run.model.label_space.name == "imagenet-1k":
            match = matching_bundled(run.dataset.classes)
            if match:
                lines.append(
                    f"{run.id}: the data's classes are exactly {match}'s; its published "
                    f"accuracies restrict the outputs to them: add --label-subset {match}"
                )
    return lines


def guard_notes(runs: Sequence[RunResult]) -> list[str]:
    """The guards that warn (label shift, EXIF rotation, published accuracy)."""
    return [f"{run.id}: {g.message}" for run in runs for g in run.guards if g.status != "ok"]


def segment_notes(runs: Sequence[RunResult], shown: int = 3) -> list[str]:
    """Each run's weakest segments, and how many of the slices tried were significant."""
    lines = []
    for run in runs:
        weak = run.slices.weak_segments if run.slices is not None else None
        if weak is None or not weak.tried:
            continue
        if not weak.segments:
            lines.append(f"{run.id}: no weak segment among {weak.tried} slices tried")
            continue
        lines.append(
            f"{run.id}: {weak.significant} weak segment(s) among {weak.tried} slices tried "
            f"(Fisher exact, Benjamini-Hochberg FDR {weak.alpha:g}; the report lists them)"
        )
        lines += [
            f"{run.id}: weak segment {segment.slice}: top-1 {_interval(segment.top1)} vs "
            f"{pct(segment.rest_top1)} elsewhere (n={segment.n}, adjusted p="
            f"{general(segment.p_adjusted)})"
            for segment in weak.segments[:shown]
        ]
    return lines


def slice_table(runs: Sequence[RunResult]) -> Table | None:
    """Top-1 per slice (rows) and run (columns), for the runs that were sliced."""
    sliced = [run for run in runs if run.slices is not None and run.slices.groups]
    if not sliced:
        return None
    table = Table(title="slices: top-1 % [95% CI]", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("slice", no_wrap=True)
    table.add_column("n", justify="right")
    for run in sliced:
        table.add_column(run.name, justify="right", no_wrap=True)
    first = sliced[0].slices
    assert first is not None
    for group in first.groups:
        for piece in group.slices:
            found = [
                run.slices.find(group.name, piece.value) if run.slices else None for run in sliced
            ]
            cells = [_interval(other.top1) if other else "-" for other in found]
            table.add_row(f"{group.name} {piece.value}", str(piece.n), *cells)
    return table


def robustness_table(runs: Sequence[RunResult]) -> Table | None:
    """Mean top-1 error and CE per corruption (rows) and run (columns), then mCE and relative
    mCE, for the runs evaluated on corruptions."""
    found = [(run.name, run.robustness) for run in runs if run.robustness is not None]
    if not found:
        return None
    specs = " / ".join(dict.fromkeys(f"{r.corruptions}, {r.protocol}" for _, r in found))
    caveats = [
        f"{name}: mCE over {r.corruptions} only, not comparable with published mCE values"
        for name, r in found
        if not r.complete
    ]
    caption = "\n".join([*caveats, "frost: procedural texture (docs/robustness.md)"])
    title = f"corruptions ({specs}): top-1 error % · CE %"
    table = Table(
        title=title,
        title_justify="left",
        min_width=len(title),
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("corruption", no_wrap=True)
    for name, _ in found:
        table.add_column(name, justify="right", no_wrap=True)
    errors = [{entry.corruption: entry for entry in r.errors} for _, r in found]
    for corruption in CORRUPTIONS:
        if any(corruption in each for each in errors):
            cells = [each.get(corruption) for each in errors]
            table.add_row(
                corruption, *(f"{pct(e.error, 1)} · {pct(e.ce, 1)}" if e else "-" for e in cells)
            )
    table.add_section()
    table.add_row("mCE", *(pct(r.mce, 1) for _, r in found))
    table.add_row("relative mCE", *(pct(r.relative_mce, 1) for _, r in found))
    return table


def print_summary(runs: Sequence[RunResult], console: Console | None = None) -> None:
    """The comparison table, the slices and the corruptions on stdout, then the notes on
    stderr."""
    if console is None:
        console = Console()
        console = console if console.is_terminal else Console(width=150)
    console.print(comparison_table(runs))
    slices = slice_table(runs)
    if slices is not None:
        console.print(slices)
    robust = robustness_table(runs)
    if robust is not None:
        console.print(robust)
    print_notes(runs)


def print_notes(runs: Sequence[RunResult]) -> None:
    """Warnings a reader must not miss (skipped files, weights that differ, …), on stderr."""
    import sys

    for line in notes(runs):
        print(f"note: {one_line(line)}", file=sys.stderr)


def _accuracy(accuracy: Accuracy) -> dict[str, float | int | None]:
    return {
        "value": accuracy.value,
        "low": accuracy.low,
        "high": accuracy.high,
        "correct": accuracy.correct,
        "n": accuracy.n,
    }


def run_summary(run: RunResult) -> dict[str, object]:
    """One run for ``evalkit run --json``: what the table shows, machine-readable."""
    return {
        "model": run.id,
        "n": run.metrics.top1.n,
        "subset": run.dataset.subset,
        "top1": _accuracy(run.metrics.top1),
        "top5": _accuracy(run.metrics.top5),
        **{
            name: None if estimate is None else estimate.value
            for name in ("macro_f1", "nll", "ece", "brier")
            for estimate in [getattr(run.metrics, name)]
        },
        "mce": None if run.robustness is None else run.robustness.mce,
        "relative_mce": None if run.robustness is None else run.robustness.relative_mce,
        "failures": [{"file": f.file, "reason": f.reason} for f in run.failures],
        "batch_size": run.timing.batch_size,
        "batch_latency_ms": {
            "p50": run.timing.batch_latency_ms.p50,
            "p90": run.timing.batch_latency_ms.p90,
        },
        "throughput_img_s": run.timing.throughput_img_s,
        "device": run.timing.device,
        "predictions_file": run.predictions_file,
    }


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
