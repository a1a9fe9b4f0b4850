"""Render the report files (HTML, Markdown, CSV) from RunResults through Jinja2 templates."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from evalkit.atomic import write_atomic
from evalkit.compare.checks import LABELS, LOWER_IS_BETTER, NOT_RATES
from evalkit.csvsafe import write_csv
from evalkit.naming import slug
from evalkit.options import ALPHA, MAX_DROP
from evalkit.report import calibration, charts, gallery, robustness, slices, tables
from evalkit.report.format import count, markdown_cell, num, pct
from evalkit.report.winners import best_rows
from evalkit.results import RunResult

SMALL_LABEL_SPACE = 30  # up to this many classes, the whole confusion matrix is drawn
TOP_CONFUSED = 20


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=jinja2.ChainableUndefined,  # older or partial results files still render
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, num=num, md=markdown_cell, count=count)
    return env


def confusion_files(runs: Sequence[tables.LabeledRun]) -> dict[str, str]:
    """Run label -> file name of its full confusion matrix CSV (written beside the report)."""
    return {item.label: f"confusion-{i}-{slug(item.label)}.csv" for i, item in enumerate(runs)}


def _confusion_section(item: tables.LabeledRun, file: str) -> dict[str, Any]:
    matrix = tables.confusion_frame(item.run)
    small = 0 < len(matrix.index) <= SMALL_LABEL_SPACE
    focus = matrix if small else tables.most_confused_classes(matrix)
    title = "all classes" if small else f"the {len(focus.index)} most-confused classes"
    return {
        "label": item.label,
        "classes": len(matrix.index),
        "pairs": tables.confused_pairs(matrix, TOP_CONFUSED).to_dict("records"),
        "heatmap": charts.heatmap(focus, f"{item.label}: {title}") if len(focus.index) else "",
        "heatmap_title": title,
        "file": file,
    }


def _pair_section(pair: tables.Pair) -> dict[str, Any]:
    """A pair's numbers, its changes beyond top-1 and its gallery of disagreements."""
    return (
        _pair_numbers(pair)
        | calibration.pair_changes(pair)
        | {
            "first_tiles": gallery.tiles(pair, pair.only_first),
            "second_tiles": gallery.tiles(pair, pair.only_second),
        }
    )


def context(runs: Sequence[RunResult], title: str = "evalkit report") -> dict[str, Any]:
    """Everything the templates show, computed from the runs (and the image files, for
    thumbnails) only."""
    labeled = tables.label_runs(runs)
    summary = tables.summary(labeled)
    per_class = tables.per_class(labeled)
    files = confusion_files(labeled)
    labels = [item.label for item in labeled]
    found = tables.pairs(labeled)
    return {
        "title": title,
        "findings": tables.findings(summary, found),
        "runs": labeled,
        "summary": summary.to_dict("records"),
        "best": best_rows(summary, [item.run for item in labeled]),
        "accuracy_chart": charts.accuracy_vs_latency(summary),
        "pairs": [_pair_section(pair) for pair in found],
        "calibration": calibration.rows(labeled),
        "slices": slices.slice_rows(labeled),
        "segments": slices.segments(labeled),
        "guards": slices.guards(labeled),
        "robustness": robustness.sections(labeled),
        "robustness_legend": robustness.legend(),
        "gate": {"max_drop": MAX_DROP, "alpha": ALPHA},
        "check_labels": LABELS,
        "lower_is_better": sorted(LOWER_IS_BETTER),
        "not_rates": sorted(NOT_RATES),
        "per_class": per_class.to_dict("records"),
        "per_class_labels": labels,
        "has_delta": "delta" in per_class.columns,
        "confusions": [_confusion_section(item, files[item.label]) for item in labeled],
        "latency_chart": charts.latency_distribution(
            labels, [item.run.timing.batch_latencies_ms for item in labeled]
        ),
        "stage_chart": charts.stage_split(labels, [tables.stage_split(i.run) for i in labeled]),
        "stages": [tables.stage_split(item.run) for item in labeled],
        "failures": tables.failures(labeled),
        "ignored": tables.ignored(labeled),
        "datasets": _datasets(labeled),
        "setups": [_setup(item.run) for item in labeled],
    }


def _datasets(runs: Sequence[tables.LabeledRun]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in runs:
        data = item.run.dataset
        entry = seen.setdefault(
            data.fingerprint, data.fields() | {"classes": len(data.classes), "by": []}
        )
        entry["by"].append(item.label)
    return list(seen.values())


def _setup(run: RunResult) -> dict[str, Any]:
    """How a run was made, for the reproducibility section: weights, preprocessing, runtime."""
    weights = run.model.weights
    return {
        "weights": weights.file or weights.name or "—",
        "sha256": weights.sha256 or "—",
        "not_published": weights.matches_published is False,
        "preprocessing": run.model.preprocessing.fields(),
        "runtime": run.environment.runtime.fields(),
        "label_subset": run.model.label_space.subset,
        "packages": run.environment.packages,
        "execution": _execution(run),
    }


def _execution(run: RunResult) -> str:
    """How the samples were obtained (evaluated now, cached, resumed), in words."""
    info = run.execution
    if info is None:
        return ""
    text = (
        f"{info.executor} executor, {info.shards} shards of {info.shard_size}: "
        f"{info.evaluated:,} evaluated, {info.cached:,} from the cache, {info.resumed:,} resumed"
    )
    if info.reevaluated_shards:
        text += f"; {info.reevaluated_shards} unreadable shards evaluated again"
    workers = [
        f"{w.worker} {w.images:,} images at {w.throughput_img_s or 0:.1f} img/s"
        for w in info.workers
    ]
    return text + (f"; workers: {', '.join(workers)}" if workers else "")


@cache
def report_script() -> tuple[str, str]:
    """The report's own script and its CSP source (``'sha256-…'``): the page runs that script
    and no other, so an escaping bug can never become script execution."""
    text = resources.files("evalkit.report").joinpath("templates", "report.js").read_text()
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return text, f"sha256-{digest}"


def render_html(runs: Sequence[RunResult], title: str = "evalkit report") -> str:
    script, source = report_script()
    values = context(runs, title) | {"script": script, "script_hash": source}
    return environment().get_template("report.html.j2").render(values)


def render_markdown(runs: Sequence[RunResult], html_name: str | None = "report.html") -> str:
    labeled = tables.label_runs(runs)
    summary = tables.summary(labeled)
    return (
        environment()
        .get_template("report.md.j2")
        .render(
            summary=summary.to_dict("records"),
            best=best_rows(summary, [item.run for item in labeled]),
            pairs=[_pair_numbers(p) for p in tables.pairs(labeled)],
            calibration=calibration.rows(labeled, chart=False),
            slices=slices.slice_rows(labeled),
            segments=slices.segments(labeled, images=False),
            guards=[g for g in slices.guards(labeled) if g["status"] != "ok"],
            robustness=robustness.sections(labeled),
            worst=tables.per_class(labeled).head(10).to_dict("records"),
            labels=[item.label for item in labeled],
            failures=sum(len(item.run.failures) for item in labeled),
            html_name=html_name,
        )
    )


def _pair_numbers(pair: tables.Pair) -> dict[str, Any]:
    return {
        "first": pair.first.label,
        "second": pair.second.label,
        "n": pair.n,
        "agreement": pair.agreement,
        "only_first": len(pair.only_first),
        "only_second": len(pair.only_second),
        "p_value": pair.p_value,
        "abs_dp": pair.abs_dp,
    }


def summary_csv(runs: Sequence[RunResult]) -> pd.DataFrame:
    """The summary table, with ``mce`` and ``relative_mce`` columns when a run has them."""
    labeled = tables.label_runs(runs)
    frame = tables.summary(labeled)
    columns = robustness.summary_columns(labeled)
    return frame if columns is None else frame.assign(**columns)


def write_report(
    runs: Sequence[RunResult], out: str | Path, title: str = "evalkit report"
) -> dict[str, Path]:
    """Write the report into the folder ``out`` (or as the file ``out`` if it ends in .html).

    Files: ``report.html``, ``report.md``, ``summary.csv`` (named after the HTML file when it is
    not ``report.html``) and one full confusion matrix CSV per run, each written atomically.
    Returns their paths by kind.
    """
    target = Path(out)
    html_file = target if target.suffix.lower() == ".html" else target / "report.html"
    folder, stem = html_file.parent, html_file.stem
    html = render_html(runs, title)
    markdown = render_markdown(runs, html_file.name)
    written = {"html": html_file, "markdown": folder / f"{stem}.md"}
    written["csv"] = folder / ("summary.csv" if stem == "report" else f"{stem}-summary.csv")
    labeled = tables.label_runs(runs)
    for item in labeled:
        matrix = tables.confusion_frame(item.run)
        path = folder / confusion_files(labeled)[item.label]
        write_csv(path, matrix, index=True)
    write_csv(written["csv"], summary_csv(runs))
    write_atomic(written["markdown"], lambda tmp: tmp.write_text(markdown, encoding="utf-8"))
    write_atomic(written["html"], lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return written
