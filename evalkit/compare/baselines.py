"""A run against its baseline: the comparison and its verdict, and where baselines are stored.

A drop is a regression only when it is both large enough to matter (``max_drop``) and unlikely
under no real change (one-sided exact McNemar test on per-sample top-1 correctness, ``alpha``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evalkit.compare.alignment import paired_correct
from evalkit.compare.stats import is_regression, mcnemar_worse_p
from evalkit.errors import EvalkitError
from evalkit.naming import display_name, slug
from evalkit.options import ALPHA, MAX_DROP, SUBSET, EvalOptions
from evalkit.results import RESULTS_FILE, RunResult, load_results


@dataclass(frozen=True)
class Comparison:
    model: str
    n: int
    baseline_top1: float
    current_top1: float
    worse: int
    better: int
    p_value: float
    max_drop: float = MAX_DROP
    alpha: float = ALPHA

    @property
    def delta(self) -> float:
        return self.current_top1 - self.baseline_top1

    @property
    def regression(self) -> bool:
        return bool(is_regression(self.worse, self.better, self.n, self.max_drop, self.alpha))

    def summary(self) -> str:
        verdict = "REGRESSION" if self.regression else "ok"
        return (
            f"{self.model}: {verdict}: top-1 {100 * self.baseline_top1:.2f}% -> "
            f"{100 * self.current_top1:.2f}% ({100 * self.delta:+.2f} points, n={self.n}); "
            f"{self.worse} samples newly wrong, {self.better} newly right; McNemar p="
            f"{self.p_value:.3g} (regression = drop >= {100 * self.max_drop:g} points and "
            f"p < {self.alpha:g})"
        )


def compare_runs(
    baseline: RunResult, current: RunResult, *, max_drop: float = MAX_DROP, alpha: float = ALPHA
) -> Comparison:
    before, after = paired_correct(baseline, current)
    worse = int((before & ~after).sum())
    better = int((~before & after).sum())
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
    )


def compare_files(
    baseline: Sequence[RunResult], current: Sequence[RunResult], **limits: float
) -> list[Comparison]:
    """Compare the runs of the same model id in two results files."""
    before = {run.id: run for run in baseline}
    pairs = [(before[run.id], run) for run in current if run.id in before]
    if not pairs:
        raise EvalkitError(
            "the two results files share no model id "
            f"(baseline: {', '.join(before)}; current: {', '.join(r.id for r in current)})"
        )
    return [compare_runs(old, new, **limits) for old, new in pairs]


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
