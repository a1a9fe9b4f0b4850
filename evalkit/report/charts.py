"""Charts as inline SVG (matplotlib, no pyplot state, no network, text kept as escaped text)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777")
RC: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text: small, selectable, and XML-escaped
    "svg.hashsalt": "evalkit",  # stable ids, so the same results give the same file
    "text.parse_math": False,  # a class named "$x$" is a name, not mathtext
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def _figure(width: float, height: float) -> Iterator[Any]:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC), warnings.catch_warnings():  # type: ignore[arg-type]
        # a chart of runs without timings has no labelled artists, and class names are data:
        # one with a tab or a glyph the font lacks is drawn as a box; neither is news
        warnings.filterwarnings("ignore", "No artists with labels found", UserWarning)
        warnings.filterwarnings("ignore", "Glyph .* missing from", UserWarning)
        yield Figure(figsize=(width, height), layout="constrained")


def short(text: object, limit: int = 22) -> str:
    """A tick label that leaves room for the plot (the full text is in the tables)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or DOCTYPE


def accuracy_vs_latency(summary: pd.DataFrame) -> str:
    """Top-1 (with its 95% interval) against batch latency p50, one point per model."""
    with _figure(6.4, 3.4) as figure:
        axes = figure.add_subplot()
        for i, (_, row) in enumerate(summary.iterrows()):
            color = PALETTE[i % len(PALETTE)]
            y, low, high = 100 * row["top1"], 100 * row["top1_low"], 100 * row["top1_high"]
            axes.errorbar(
                row["latency_p50_ms"],
                y,
                yerr=[[y - low], [high - y]],
                fmt="o",
                color=color,
                capsize=4,
                label=row["model"],
            )
        axes.set_xlabel("batch latency p50 (ms, lower is better)")
        axes.set_ylabel("top-1 % (95% interval)")
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=8, frameon=False)
        return _svg(figure)


def latency_distribution(labels: Sequence[str], latencies: Sequence[Sequence[float]]) -> str:
    """Box plot (whiskers at p1/p99) of every timed batch's latency, per model."""
    with _figure(6.4, 0.6 + 0.55 * len(labels)) as figure:
        axes = figure.add_subplot()
        data = [np.asarray(v, dtype=float) if len(v) else np.array([np.nan]) for v in latencies]
        axes.boxplot(data, orientation="horizontal", whis=(1, 99), showfliers=False)
        axes.set_yticks(range(1, len(labels) + 1), [short(label, 34) for label in labels])
        axes.invert_yaxis()
        axes.set_xlabel("batch latency (ms); box: p25-p75, whiskers: p1-p99")
        axes.grid(axis="x", alpha=0.3)
        return _svg(figure)


def stage_split(labels: Sequence[str], splits: Sequence[dict[str, float]]) -> str:
    """Stacked bars: seconds spent decoding, preprocessing, in forward passes and elsewhere."""
    with _figure(6.4, 0.8 + 0.5 * len(labels)) as figure:
        axes = figure.add_subplot()
        stages = list(splits[0]) if splits else []
        left = np.zeros(len(labels))
        for color, stage in zip(PALETTE, stages, strict=False):
            values = np.array([split[stage] for split in splits])
            axes.barh(range(len(labels)), values, left=left, color=color, label=stage)
            left += values
        axes.set_yticks(range(len(labels)), [short(label, 34) for label in labels])
        axes.invert_yaxis()
        axes.set_xlabel("seconds (decode and preprocess run in worker threads, overlapped)")
        figure.legend(ncols=len(stages), fontsize=8, frameon=False, loc="outside upper center")
        return _svg(figure)


def heatmap(matrix: pd.DataFrame, title: str) -> str:
    """Confusion heatmap (row-normalised colour, counts written when the matrix is small)."""
    size = max(len(matrix.index), 1)
    longest = max((len(short(c)) for c in [*matrix.index, *matrix.columns]), default=1)
    side = min(7.0, 1.6 + 0.32 * size) + 0.07 * longest
    with _figure(side + 0.8, side) as figure:
        axes = figure.add_subplot()
        counts = matrix.to_numpy(dtype=float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        axes.set_xticks(range(counts.shape[1]), [short(c) for c in matrix.columns], rotation=90)
        axes.set_yticks(range(counts.shape[0]), [short(c) for c in matrix.index])
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
        axes.set_title(title, fontsize=9)
        if size <= 15:
            for (r, c), value in np.ndenumerate(counts):
                if value:
                    color = "white" if shares[r, c] > 0.5 else "black"
                    axes.text(c, r, f"{int(value)}", ha="center", va="center", color=color)
        figure.colorbar(image, ax=axes, shrink=0.8, label="share of true class")
        return _svg(figure)


def reliability(title: str, table: dict[str, Any]) -> str:
    """Reliability diagram over a confidence histogram, sharing the x axis (top-1 probability).

    Top: accuracy per bin (bars) against the diagonal of perfect calibration, and a red hatched
    gap from each bar to the bin's mean confidence (above the bar: over-confident; inside it:
    under-confident). Bottom: share of images per bin, so a reader sees which bins carry the
    weight (ECE weighs the gaps by them).
    """
    lower, upper = np.asarray(table["lower"]), np.asarray(table["upper"])
    width, centre = upper - lower, (lower + upper) / 2
    count = np.asarray(table["count"], dtype=float)
    filled = count > 0
    accuracy = np.array([a if a is not None else np.nan for a in table["accuracy"]], dtype=float)
    confidence = np.array(
        [c if c is not None else np.nan for c in table["confidence"]], dtype=float
    )
    with _figure(3.6, 3.9) as figure:
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
        top.plot([0, 1], [0, 1], color="#6b7280", linestyle="--", linewidth=1, label="calibrated")
        top.bar(
            centre[filled],
            accuracy[filled],
            width=width[filled] * 0.95,
            color=PALETTE[0],
            label="accuracy",
        )
        gap = confidence - accuracy
        top.bar(
            centre[filled],
            gap[filled],
            bottom=accuracy[filled],
            width=width[filled] * 0.95,
            color="none",
            edgecolor=PALETTE[1],
            hatch="///",
            linewidth=0.8,
            label="gap to confidence",
        )
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_ylabel("top-1 accuracy")
        top.set_title(title, fontsize=9)
        top.legend(loc="upper left", fontsize=7, frameon=False)
        share = count / max(count.sum(), 1)
        bottom.bar(centre, share, width=width * 0.95, color="#9ca3af")
        bottom.set_ylabel("share of\nimages")
        bottom.set_xlabel("top-1 probability (confidence)")
        return _svg(figure)
