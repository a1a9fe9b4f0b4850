"""The accuracy gate behind the pytest plugin: session cache of runs, baselines and verdicts.

Independent of pytest: :mod:`evalkit.pytest_plugin` only turns options into
:class:`~evalkit.options.GateOptions` and verdicts into test outcomes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.compare.alignment import flipped_samples
from evalkit.compare.baselines import (
    Comparison,
    baseline_file,
    baseline_name,
    compare_runs,
    data_label,
    load_baseline,
    machine_differences,
)
from evalkit.csvsafe import write_csv
from evalkit.data.datasets import Dataset
from evalkit.errors import EvalkitError
from evalkit.models.base import ModelAdapter
from evalkit.naming import display_name
from evalkit.options import EvalOptions, GateOptions
from evalkit.results import RunResult, save_results


@dataclass
class Verdict:
    """What :meth:`Gate.check` found: failures fail the test, warnings are only shown."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    comparison: Comparison | None = None


VERDICT_ORDER = ("REGRESSION", "SLOWER", "ok", "saved", "not gated")


@dataclass
class GateRow:
    """One line of the session summary: a (model, data, subset) and what the gate found."""

    baseline: str
    model: str
    data: str
    n: int
    top1: float | None
    top1_low: float | None
    top1_high: float | None
    top5: float | None
    p50_ms: float | None
    baseline_top1: float | None = None
    delta: float | None = None
    p_value: float | None = None
    verdict: str = "not gated"
    tests: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, run: RunResult, label: str, name: str) -> GateRow:
        top1 = run.metrics.top1
        return cls(
            baseline=name,
            model=display_name(run.id),
            data=label,
            n=top1.n,
            top1=top1.value,
            top1_low=top1.low,
            top1_high=top1.high,
            top5=run.metrics.top5.value,
            p50_ms=run.timing.batch_latency_ms.p50,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (xdist sends rows from workers to the controller)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateRow:
        return cls(**data)

    def record(self, comparison: Comparison, verdict: Verdict) -> None:
        self.baseline_top1 = comparison.baseline_top1
        self.delta = comparison.delta
        self.p_value = comparison.p_value
        if comparison.regression:
            self.verdict = "REGRESSION"
        elif verdict.failures:
            self.verdict = "SLOWER"
        else:
            self.verdict = "ok"

    def severity(self) -> int:
        return VERDICT_ORDER.index(self.verdict)


@dataclass
class Entry:
    """One evaluated (model, data, subset) in this session and its summary row."""

    name: str
    run: RunResult
    row: GateRow


def _data_root(data: str | Path | Dataset) -> Path:
    return data.root if isinstance(data, Dataset) else Path(data)


class Gate:
    """Evaluates through :func:`evalkit.evaluate` once per (model, data, options) and checks
    runs against stored baselines."""

    def __init__(self, settings: GateOptions) -> None:
        self.settings = settings
        self.entries: dict[str, Entry] = {}
        self._by_run: dict[int, Entry] = {}

    def options(self, overrides: dict[str, Any]) -> EvalOptions:
        """The session's defaults with a test's own options on top (weights are merged)."""
        defaults = self.settings.defaults
        if self.settings.timing:  # latency is compared: every image must really be evaluated
            defaults = defaults.replace(cache=False)
        weights = {**defaults.weights_files, **dict(overrides.pop("weights", None) or {})}
        return defaults.replace(**overrides, weights=weights)

    def evaluate(
        self, model: str | ModelAdapter, data: str | Path | Dataset, **overrides: Any
    ) -> tuple[RunResult, bool]:
        """The run of ``model`` on ``data``; ``True`` when it came from this session's cache."""
        from evalkit.api import evaluate

        options = self.options(overrides)
        model_key = model if isinstance(model, str) else f"adapter-{id(model)}"
        data_key = str(Path(data).resolve()) if not isinstance(data, Dataset) else id(data)
        key = json.dumps([model_key, data_key, options.identity()], sort_keys=True)
        if key in self.entries:
            return self.entries[key].run, True
        run = evaluate(model, data, options=options)
        label = data_label(_data_root(data))
        name = baseline_name(run.id, label, options)
        entry = Entry(name, run, GateRow.of(run, label, name))
        self.entries[key] = entry
        self._by_run[id(run)] = entry
        return run, False

    def entry_of(self, run: RunResult) -> Entry:
        entry = self._by_run.get(id(run))
        if entry is None:
            raise EvalkitError(
                f"{run.id}: this result was not produced by the evalkit fixture; evaluate it "
                "with evalkit.evaluate(...) so the gate knows which baseline it belongs to"
            )
        return entry

    def baseline_path(self, entry: Entry) -> Path:
        if self.settings.baseline_dir is None:
            raise EvalkitError(
                "no baseline folder: pass --evalkit-baseline DIR (or set evalkit_baseline in "
                "the pytest configuration)"
            )
        return baseline_file(self.settings.baseline_dir, entry.name)

    def check(
        self, run: RunResult, max_drop: float | None = None, alpha: float | None = None
    ) -> Verdict:
        """Compare ``run`` with its baseline (or store it when saving baselines)."""
        entry = self.entry_of(run)
        path = self.baseline_path(entry)
        if self.settings.save_baseline:
            save_results([run], path.parent)
            entry.row.verdict = "saved"
            return Verdict()
        if not path.is_file():
            raise EvalkitError(
                f"no baseline for {entry.name} at {path}; create it with pytest "
                "--evalkit-save-baseline (and commit it)"
            )
        baseline = load_baseline(path)
        try:
            comparison = compare_runs(
                baseline,
                run,
                max_drop=self.settings.max_drop if max_drop is None else max_drop,
                alpha=self.settings.alpha if alpha is None else alpha,
                metrics=self.settings.metrics,
            )
        except EvalkitError as error:
            raise EvalkitError(f"baseline {path}: {error}") from None
        verdict = Verdict(comparison=comparison)
        if comparison.regression:
            verdict.failures.append(self._regression_message(entry, comparison, baseline, path))
        self._check_timing(run, baseline, verdict)
        entry.row.record(comparison, verdict)
        return verdict

    def _check_timing(self, run: RunResult, baseline: RunResult, verdict: Verdict) -> None:
        if not self.settings.timing:
            return
        differences = machine_differences(run, baseline)
        if differences:
            verdict.warnings.append(
                f"{display_name(run.id)}: timing compared with a baseline from a different "
                f"setup ({'; '.join(differences)}); the latency check is not meaningful"
            )
        for check in self.settings.timing:
            failure = check.fails(run, baseline)
            if failure:
                verdict.failures.append(f"latency regression: {failure}")

    def _regression_message(
        self, entry: Entry, comparison: Comparison, baseline: RunResult, path: Path
    ) -> str:
        c = comparison
        diff = self._write_diff(entry, baseline)
        lines = [f"accuracy regression: {display_name(c.model)} on {entry.row.data}"]
        if c.top1_regression and "top1" in c.metrics:
            lines += [
                f"  top-1: baseline {100 * c.baseline_top1:.2f}% -> current "
                f"{100 * c.current_top1:.2f}% ({100 * c.delta:+.2f} points; a regression "
                f"needs a drop >= {100 * c.max_drop:g} points)",
                f"  flipped: {c.worse} samples newly wrong, {c.better} newly right (n={c.n}); "
                f"one-sided exact McNemar p={c.p_value:.3g} < alpha {c.alpha:g}",
            ]
        else:  # what regressed is elsewhere: overall top-1 for scale (a slice drop hides in it)
            lines.append(
                f"  top-1: baseline {100 * c.baseline_top1:.2f}% -> current "
                f"{100 * c.current_top1:.2f}% ({100 * c.delta:+.2f} points, n={c.n}; "
                f"{c.worse} newly wrong, {c.better} newly right; McNemar p={c.p_value:.3g}): "
                + ("not gated" if c.top1_regression else "not a regression on its own")
            )
        lines += [  # top-1 is spelled out above
            f"  {check.summary()}"
            for check in c.checks
            if check.regression and check.metric != "top1"
        ]
        if c.class_drops:
            lines.append(
                f"  per-class: {len(c.class_drops)} class(es) dropped by >= "
                f"{100 * c.max_drop:g} points, Holm-adjusted p < {c.alpha:g}:"
            )
            lines += [f"    {drop.summary()}" for drop in c.class_drops]
        if c.slice_drops:
            lines.append(
                f"  slices: {len(c.slice_drops)} slice(s) dropped by >= {100 * c.max_drop:g} "
                f"points, Holm-adjusted p < {c.alpha:g} (within each slice:COLUMN gate):"
            )
            lines += [f"    {drop.summary()}" for drop in c.slice_drops]
        lines += [
            f"  baseline: {path}",
            f"  diff: {diff if diff else 'not written (no --evalkit-report folder)'}",
        ]
        return "\n".join(lines)

    def _write_diff(self, entry: Entry, baseline: RunResult) -> Path | None:
        if self.settings.report_dir is None:
            return None
        target = self.settings.report_dir / f"diff-{entry.name}.csv"
        write_csv(target, flipped_samples(baseline, entry.run))
        return target

    def runs(self) -> list[RunResult]:
        return [entry.run for entry in self.entries.values()]

    def rows(self) -> list[GateRow]:
        return [entry.row for entry in self.entries.values()]


def merge_rows(rows: list[GateRow]) -> list[GateRow]:
    """One row per baseline name: xdist workers may each evaluate the same model; the row with
    the most severe verdict wins and the tests that used it are pooled."""
    merged: dict[str, GateRow] = {}
    for row in rows:
        seen = merged.get(row.baseline)
        if seen is None:
            merged[row.baseline] = dataclasses.replace(row, tests=list(row.tests))
            continue
        tests = seen.tests + row.tests
        if row.severity() < seen.severity():
            merged[row.baseline] = dataclasses.replace(row)
        merged[row.baseline].tests = tests
    return list(merged.values())


def unique_runs(runs: list[RunResult]) -> list[RunResult]:
    """Drop repeated runs of the same model on the same samples (one per xdist worker)."""
    seen: dict[tuple[str, str], RunResult] = {}
    for run in runs:
        seen.setdefault((run.id, run.dataset.fingerprint), run)
    return list(seen.values())
