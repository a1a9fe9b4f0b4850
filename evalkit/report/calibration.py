"""The report's calibration section and the paired changes of two runs beyond top-1 (macro-F1,
NLL, ECE, Brier score with paired bootstrap intervals; classes that dropped significantly)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.compare.checks import check_metric, class_drops, paired
from evalkit.errors import EvalkitError
from evalkit.options import ALPHA, MAX_DROP
from evalkit.report import charts
from evalkit.report.tables import LabeledRun, Pair, readable_names
from evalkit.results import RunResult

CALIBRATED_WITHIN = 0.01  # mean confidence this close to accuracy reads as "well calibrated"
PAIRED_METRICS = ("macro_f1", "nll", "ece", "brier")


def mean_confidence(run: RunResult) -> float | None:
    """Average top-1 probability (from the reliability bins)."""
    table = run.metrics.calibration
    if table is None or not sum(table.count):
        return None
    total = sum(c * n for c, n in zip(table.confidence, table.count, strict=True) if c is not None)
    return total / sum(table.count)


def verdict(run: RunResult) -> str:
    """In words: over- or under-confident, and by how much, on average."""
    confidence, accuracy = mean_confidence(run), run.metrics.top1.value
    if confidence is None or accuracy is None:
        return ""
    gap = confidence - accuracy
    if abs(gap) < CALIBRATED_WITHIN:
        how = "well calibrated on average"
    else:
        how = "over-confident" if gap > 0 else "under-confident"
    return f"{how}: {100 * confidence:.1f}% sure on average, {100 * accuracy:.1f}% right"


def rows(runs: Sequence[LabeledRun], chart: bool = True) -> list[dict[str, Any]]:
    """Per run with calibration: its estimates, the verdict and (``chart``) the reliability
    diagram."""
    found = []
    for item in runs:
        metrics = item.run.metrics
        if metrics.calibration is None or metrics.ece is None:
            continue
        ece = metrics.ece.value or 0.0
        found.append(
            {
                "label": item.label,
                "nll": metrics.nll.fields() if metrics.nll else None,
                "ece": metrics.ece.fields(),
                "brier": metrics.brier.fields() if metrics.brier else None,
                "macro_f1": metrics.macro_f1.fields() if metrics.macro_f1 else None,
                "bins": metrics.calibration.bins,
                "verdict": verdict(item.run),
                "chart": charts.reliability(
                    f"{charts.short(item.label, 34)}: ECE {100 * ece:.1f}%",
                    metrics.calibration.fields(),
                )
                if chart
                else "",
            }
        )
    return found


def pair_changes(pair: Pair) -> dict[str, Any]:
    """Second run against the first on the same images: paired bootstrap differences and the
    classes whose accuracy dropped significantly (Holm-corrected, the gate's defaults)."""
    data = paired(pair.first.run, pair.second.run, same_model=False)
    checks = []
    for metric in PAIRED_METRICS:
        try:
            checks.append(check_metric(data, metric, MAX_DROP, ALPHA).to_dict())
        except EvalkitError:
            continue  # files without per-sample probabilities: accuracy only
    names = readable_names(data.classes)
    drops = [
        d.to_dict() | {"name": names.get(d.name, d.name)}
        for d in class_drops(data, MAX_DROP, ALPHA)
    ]
    return {"checks": checks, "class_drops": drops}
