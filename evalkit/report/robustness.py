"""The report's robustness section (``--corruptions``, ImageNet-C): per run, the headline
numbers (mCE, relative mCE, clean error), a corruption-by-severity heatmap of top-1 error and the
corruption errors, read from the runs' results only (docs/robustness.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evalkit.corruption_spec import CORRUPTIONS, GROUPS
from evalkit.report.format import pct
from evalkit.results import CorruptionCell, CorruptionError, Robustness

if TYPE_CHECKING:
    from evalkit.report.tables import LabeledRun

# the heatmap's scale: top-1 error 0 is white, 1 the report's red (--bad)
WHITE, RED, BLACK = (255, 255, 255), (185, 28, 28), (0, 0, 0)
EN_DASH = "\N{EN DASH}"
FROST = "frost"  # synthesised texture instead of the reference's photographs


def heat_rgb(error: float) -> tuple[int, int, int]:
    """The colour of a top-1 error (a fraction, clipped to [0, 1]) on a white → red scale:
    every channel is non-increasing in the error."""
    t = min(max(error, 0.0), 1.0)
    red, green, blue = (round(w + t * (r - w)) for w, r in zip(WHITE, RED, strict=True))
    return red, green, blue


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def heat_style(error: float | None) -> str:
    """A heatmap cell's inline style: the error's background and whichever of black or white
    text contrasts more with it (at least 4.5:1 on this scale); "" for a missing error."""
    if error is None or not math.isfinite(error):
        return ""
    rgb = heat_rgb(error)
    text = max((BLACK, WHITE), key=lambda colour: contrast(rgb, colour))
    return "background:{};color:{}".format(*map(hex_colour, (rgb, text)))


def hex_colour(rgb: tuple[int, int, int]) -> str:
    red, green, blue = rgb
    return f"#{red:02x}{green:02x}{blue:02x}"


def legend(steps: int = 5) -> list[dict[str, str]]:
    """Swatches of the heatmap's scale, 0% to 100% top-1 error."""
    values = [i / (steps - 1) for i in range(steps)]
    return [{"label": pct(value, 0), "style": heat_style(value)} for value in values]


def levels(severities: Sequence[int]) -> str:
    """``1-5`` (with an en dash) for a run of consecutive severities, else ``1, 3, 5``."""
    values = sorted(severities)
    consecutive = len(values) > 2 and values == list(range(values[0], values[-1] + 1))
    return f"{values[0]}{EN_DASH}{values[-1]}" if consecutive else ", ".join(map(str, values))


def _cell(cell: CorruptionCell | None) -> dict[str, Any]:
    """One heatmap cell: the top-1 error, its colour and a title with n and the interval."""
    if cell is None or cell.top1.value is None:
        return {"error": None, "style": "", "title": "not evaluated"}
    top1 = cell.top1
    title = f"n={top1.n} · top-1 error {pct(cell.error, 1)}%"
    if top1.low is not None and top1.high is not None:
        title += f" · 95% Wilson interval [{pct(1 - top1.high, 1)}, {pct(1 - top1.low, 1)}]%"
    if cell.failed:
        title += f" · {cell.failed} variants could not be made"
    return {"error": cell.error, "style": heat_style(cell.error), "title": title}


def _row(section: Robustness, name: str, summary: CorruptionError | None) -> dict[str, Any]:
    mean = summary.error if summary is not None else None
    return {
        "corruption": name,
        "cells": [_cell(section.cell(name, level)) for level in section.severities],
        "mean": mean,
        "mean_style": heat_style(mean),
        "ce": summary.ce if summary is not None else None,
        "relative_ce": summary.relative_ce if summary is not None else None,
    }


def evaluated(section: Robustness) -> list[str]:
    """The corruptions a section has cells or errors for, in the benchmark's order."""
    present = {cell.corruption for cell in section.cells} | {e.corruption for e in section.errors}
    return [name for name in CORRUPTIONS if name in present]


def heatmap(section: Robustness) -> list[dict[str, Any]]:
    """The heatmap's rows, grouped (noise, blur, weather, digital; empty groups left out)."""
    errors = {entry.corruption: entry for entry in section.errors}
    present = evaluated(section)
    return [
        {
            "name": group,
            "rows": [_row(section, name, errors.get(name)) for name in members if name in present],
        }
        for group, members in GROUPS.items()
        if any(name in present for name in members)
    ]


def _footer(section: Robustness) -> dict[str, Any]:
    """The mean top-1 error per severity over the corruptions in the mCE, and the means."""
    counted = [entry.corruption for entry in section.errors]
    means = []
    for level in section.severities:
        found = [section.cell(name, level) for name in counted]
        values = [c.error for c in found if c is not None and math.isfinite(c.error)]
        mean = sum(values) / len(values) if values else None
        means.append({"error": mean, "style": heat_style(mean)})
    overall = [entry.error for entry in section.errors]
    mean_error = sum(overall) / len(overall) if overall else None
    return {"cells": means, "mean": mean_error, "mean_style": heat_style(mean_error)}


def section(item: LabeledRun) -> dict[str, Any] | None:
    """One run's robustness block: headline numbers, heatmap rows and footer, setup notes."""
    found = item.run.robustness
    if found is None:
        return None
    failed = sum(cell.failed for cell in found.cells)
    return {
        "label": item.label,
        "benchmark": found.benchmark,
        "corruptions": found.corruptions,
        "severities": found.severities,
        "levels": levels(found.severities),
        "protocol": found.protocol,
        "complete": found.complete,
        "clean_error": found.clean_error,
        "mce": found.mce,
        "relative_mce": found.relative_mce,
        "frost": FROST in evaluated(found),
        "groups": heatmap(found),
        "footer": _footer(found),
        "failed": failed,
        "geometry": found.geometry,
        "normalization": found.normalization,
        "seed": found.seed,
        "implementation": found.implementation,
    }


def sections(runs: Sequence[LabeledRun]) -> list[dict[str, Any]]:
    """The robustness block of every run that has one (none: the report shows no section)."""
    return [block for block in map(section, runs) if block is not None]


def summary_columns(runs: Sequence[LabeledRun]) -> dict[str, list[float]] | None:
    """The summary CSV's ``mce`` and ``relative_mce`` columns (NaN for a run without
    corruptions); None when no run has them, so such a CSV keeps its columns."""
    if all(item.run.robustness is None for item in runs):
        return None
    found = [item.run.robustness for item in runs]
    return {
        "mce": [math.nan if r is None else r.mce for r in found],
        "relative_mce": [math.nan if r is None else r.relative_mce for r in found],
    }
