"""A run against its baseline: the comparison and its verdict, and where baselines are stored.

A drop is a regression only when it is both large enough to matter (``max_drop``) and unlikely
under no real change (``alpha``): by default on top-1 (one-sided exact McNemar test on
per-sample correctness); ``metrics`` adds top-5, macro-F1, calibration and per-class checks
(:mod:`evalkit.compare.checks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.compare.checks import (
    ClassDrop,
    MetricCheck,
    check_metric,
    class_drops,
    paired,
    slice_drops,
)
from evalkit.compare.stats import is_regression, mcnemar_worse_p
from evalkit.errors import EvalkitError
from evalkit.naming import display_name, slug
from evalkit.options import (
    ALPHA,
    GATE_DEFAULT,
    MAX_DROP,
    SUBSET,
    EvalOptions,
    slice_gate_column,
)
from evalkit.results import RESULTS_FILE, RunResult, load_results


@dataclass(frozen=True)
class Comparison:
    model: str  # the current run's id
    n: int
    baseline_top1: float
    current_top1: float
    worse: int
    better: int
    p_value: float
    max_drop: float = MAX_DROP
    alpha: float = ALPHA
    baseline: str | None = None  # the baseline run's id, when it differs from ``model``
    checks: tuple[MetricCheck, ...] = ()  # the gated metrics (per_class: ``class_drops``)
    class_drops: tuple[ClassDrop, ...] = ()  # classes that dropped significantly
    metrics: tuple[str, ...] = GATE_DEFAULT
    slice_drops: tuple[ClassDrop, ...] = ()  # slices (slice:COLUMN gates) that dropped

    @property
    def name(self) -> str:
        """How the comparison is named: the model, or ``baseline -> current`` when ids differ."""
        if self.baseline is None or self.baseline == self.model:
            return self.model
        return f"{display_name(self.baseline)} -> {display_name(self.model)}"

    def to_dict(self) -> dict[str, object]:
        """The comparison for ``--json``: both ids, the counts, the test and the verdict."""
        return {
            "baseline": self.baseline or self.model,
            "current": self.model,
            "n": self.n,
            "baseline_top1": self.baseline_top1,
            "current_top1": self.current_top1,
            "delta": self.delta,
            "newly_wrong": self.worse,
            "newly_right": self.better,
            "p_value": self.p_value,
            "max_drop": self.max_drop,
            "alpha": self.alpha,
            "gate": list(self.metrics),
            "checks": [check.to_dict() for check in self.checks],
            "class_drops": [drop.to_dict() for drop in self.class_drops],
            "slice_drops": [drop.to_dict() for drop in self.slice_drops],
            "regression": self.regression,
        }

    @property
    def delta(self) -> float:
        return self.current_top1 - self.baseline_top1

    @property
    def top1_regression(self) -> bool:
        return bool(is_regression(self.worse, self.better, self.n, self.max_drop, self.alpha))

    @property
    def regression(self) -> bool:
        """Any gated metric regressed (top-1 unless ``metrics`` says otherwise)."""
        top1 = "top1" in self.metrics and self.top1_regression
        drops = bool(self.class_drops or self.slice_drops)
        return top1 or any(c.regression for c in self.checks) or drops

    def summary(self) -> str:
        verdict = "REGRESSION" if self.regression else "ok"
        which = [c.metric for c in self.checks if c.regression and c.metric != "top1"]
        which += ["per_class"] if self.class_drops else []
        which += list(dict.fromkeys(f"slice:{drop.kind}" for drop in self.slice_drops))
        if which:  # say what regressed when it is not (only) top-1
            top1 = ["top1"] if "top1" in self.metrics and self.top1_regression else []
            verdict += f" ({', '.join(top1 + which)})"
        lines = [
            f"{self.name}: {verdict}: top-1 {100 * self.baseline_top1:.2f}% -> "
            f"{100 * self.current_top1:.2f}% ({100 * self.delta:+.2f} points, n={self.n}); "
            f"{self.worse} samples newly wrong, {self.better} newly right; McNemar p="
            f"{self.p_value:.3g} (regression = drop >= {100 * self.max_drop:g} points and "
            f"p < {self.alpha:g})"
        ]
        lines += [f"  {check.summary()}" for check in self.checks if check.metric != "top1"]
        if "per_class" in self.metrics:
            lines.append(f"  per-class: {len(self.class_drops)} class(es) dropped significantly")
        lines += [f"    {drop.summary()}" for drop in self.class_drops]
        for column in filter(None, map(slice_gate_column, self.metrics)):
            dropped = [drop for drop in self.slice_drops if drop.kind == column]
            lines.append(f"  slice:{column}: {len(dropped)} slice(s) dropped significantly")
            lines += [f"    {drop.summary()}" for drop in dropped]
        return "\n".join(lines)


def compare_runs(
    baseline: RunResult,
    current: RunResult,
    *,
    max_drop: float = MAX_DROP,
    alpha: float = ALPHA,
    metrics: Sequence[str] = GATE_DEFAULT,
) -> Comparison:
    """``current`` against ``baseline`` on the same samples, checked on ``metrics``."""
    data = paired(baseline, current)
    before, after = data.hits[1]
    worse = int((before & ~after).sum())
    better = int((~before & after).sum())
    gated = tuple(metrics)
    columns = [column for column in map(slice_gate_column, gated) if column is not None]
    checks = tuple(
        check_metric(data, metric, max_drop, alpha)
        for metric in gated
        if metric != "per_class" and slice_gate_column(metric) is None
    )
    drops = tuple(class_drops(data, max_drop, alpha)) if "per_class" in gated else ()
    sliced = tuple(d for c in columns for d in slice_drops(data, c, max_drop, alpha))
    return Comparison(
        model=current.id,
        n=int(before.size),
        baseline_top1=float(before.mean()),
        current_top1=float(after.mean()),
        worse=worse,
        better=better,
        p_value=mcnemar_worse_p(worse, better),
        max_drop=max_drop,
        alpha=alpha,
        baseline=baseline.id,
        checks=checks,
        class_drops=drops,
        metrics=gated,
        slice_drops=sliced,
    )


@dataclass(frozen=True)
class Pairing:
    """Which baseline run each current run is compared with, and how that was decided."""

    pairs: list[tuple[RunResult, RunResult]]
    how: str  # "by model id", "by position (model ids differ)" or "as given (--pair)"
    unpaired: list[str]  # runs of either file left out


def _find(runs: Sequence[RunResult], key: str, side: str) -> RunResult:
    """A run by id, by its shortened display name, or by 1-based position."""
    for run in runs:
        if key in (run.id, run.name, display_name(run.id)):
            return run
    if key.isdigit() and 1 <= int(key) <= len(runs):
        return runs[int(key) - 1]
    names = ", ".join(f"{i + 1}: {run.id}" for i, run in enumerate(runs))
    raise EvalkitError(f"--pair: the {side} file has no run {key!r}; it has {names}")


def pair_runs(
    baseline: Sequence[RunResult],
    current: Sequence[RunResult],
    given: Sequence[tuple[str, str]] = (),
) -> Pairing:
    """Pair runs as ``given`` (``BASELINE=CURRENT`` keys), else by model id, else by position.

    Position pairing applies when no id is shared and both files hold as many runs, e.g. the
    same model file evaluated from two different paths.
    """
    if given:
        pairs = [(_find(baseline, b, "baseline"), _find(current, c, "current")) for b, c in given]
        return Pairing(pairs, "as given (--pair)", [])
    before = {run.id: run for run in baseline}
    pairs = [(before[run.id], run) for run in current if run.id in before]
    if pairs:
        paired = {new.id for _, new in pairs}
        left = [r.id for r in baseline if r.id not in paired]
        left += [r.id for r in current if r.id not in paired]
        return Pairing(pairs, "by model id", left)
    if len(baseline) == len(current):
        return Pairing(
            list(zip(baseline, current, strict=True)), "by position (model ids differ)", []
        )
    raise EvalkitError(
        "the two results files share no model id and hold different numbers of runs "
        f"(baseline: {', '.join(before)}; current: {', '.join(r.id for r in current)}); "
        "name the pairs with --pair BASELINE=CURRENT (ids, names or positions)"
    )


def compare_files(
    baseline: Sequence[RunResult],
    current: Sequence[RunResult],
    pairs: Sequence[tuple[str, str]] = (),
    **limits: Any,
) -> list[Comparison]:
    """Compare the runs of two results files, paired by :func:`pair_runs`."""
    pairing = pair_runs(baseline, current, pairs)
    return [compare_runs(old, new, **limits) for old, new in pairing.pairs]


def machine_differences(current: RunResult, baseline: RunResult) -> list[str]:
    """What makes timings of two runs incomparable (CPU, cores, device, batch size)."""
    pairs = {
        "cpu": (baseline.environment.cpu, current.environment.cpu),
        "cpu_count": (baseline.environment.cpu_count, current.environment.cpu_count),
        "device": (baseline.timing.device, current.timing.device),
        "batch_size": (baseline.timing.batch_size, current.timing.batch_size),
    }
    return [f"{key} {old} vs {new}" for key, (old, new) in pairs.items() if old != new]


# --- stored baselines: one folder per (model, data, subset options) ------------------------
def data_label(root: Path) -> str:
    """A machine-independent name for the data: the last two parts of its path."""
    return "/".join(root.parts[-2:])


def baseline_name(model_id: str, label: str, options: EvalOptions) -> str:
    """Folder name of a baseline: model, data and the options that select the samples."""
    parts = [display_name(model_id), label]
    chosen = options.changed(SUBSET)
    parts += [f"{key}={Path(str(chosen[key])).name}" for key in SUBSET if key in chosen]
    return slug("--".join(parts), keep="._=-", limit=150)


def baseline_file(folder: Path, name: str) -> Path:
    return folder / name / RESULTS_FILE


def load_baseline(path: Path) -> RunResult:
    """The one run stored at ``path``; a broken file says how to re-create it."""
    try:
        runs = load_results(path)
    except EvalkitError as error:
        raise EvalkitError(
            f"corrupt baseline: {error}; re-create it with --evalkit-save-baseline"
        ) from None
    if len(runs) != 1:
        raise EvalkitError(f"baseline {path} holds {len(runs)} runs, expected one")
    return runs[0]
