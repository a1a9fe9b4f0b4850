"""The accuracy gate behind the pytest plugin: session cache of runs, baselines and verdicts.

Independent of pytest: :mod:`evalkit.pytest_plugin` only turns options into
:class:`GateSettings` and verdicts into test outcomes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.compare import Comparison, compare_runs, flipped_samples, machine_differences
from evalkit.data.datasets import Dataset
from evalkit.errors import EvalkitError
from evalkit.models.base import ModelAdapter
from evalkit.results import RunResult, display_name, load_results, save_results, write_atomic
from evalkit.thresholds import GateSettings

# options that change which samples are evaluated, so they name a baseline
SUBSET_OPTIONS = ("format", "labels_file", "limit", "per_class", "seed")


@dataclass
class Verdict:
    """What :meth:`Gate.check` found: failures fail the test, warnings are only shown."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    comparison: Comparison | None = None


@dataclass
class Entry:
    """One evaluated (model, data, subset) in this session and its summary row."""

    name: str
    run: RunResult
    row: dict[str, Any]


def data_label(data: str | Path | Dataset) -> str:
    """A machine-independent name for the data: the last two parts of its path."""
    root = data.root if isinstance(data, Dataset) else Path(data)
    return "/".join(root.parts[-2:])


def baseline_name(model_id: str, label: str, options: Mapping[str, Any]) -> str:
    """Folder name of a baseline: model, data and the options that select the samples."""
    parts = [display_name(model_id), label]
    parts += [f"{key}={Path(str(options[key])).name}" for key in SUBSET_OPTIONS if options.get(key)]
    text = "--".join(parts)
    return "".join(c if c.isalnum() or c in "._=-" else "_" for c in text)[:150]


def summary_row(run: RunResult, label: str, name: str) -> dict[str, Any]:
    top1, top5 = run.metrics["top1"], run.metrics["top5"]
    return {
        "baseline": name,
        "model": display_name(run.id),
        "data": label,
        "n": top1["n"],
        "top1": top1["value"],
        "top1_low": top1["low"],
        "top1_high": top1["high"],
        "top5": top5["value"],
        "baseline_top1": None,
        "delta": None,
        "p_value": None,
        "verdict": "not gated",
        "p50_ms": run.timing["batch_latency_ms"]["p50"],
        "tests": [],
    }


class Gate:
    """Evaluates through :func:`evalkit.evaluate` once per (model, data, options) and checks
    runs against stored baselines."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self.entries: dict[str, Entry] = {}
        self._by_run: dict[int, Entry] = {}

    def options(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        merged = {k: v for k, v in self.settings.defaults.items() if v is not None and k != "data"}
        weights = {**merged.pop("weights", {}), **(overrides.get("weights") or {})}
        merged.update({k: v for k, v in overrides.items() if k != "weights"})
        return merged | ({"weights": weights} if weights else {})

    def evaluate(
        self, model: str | ModelAdapter, data: str | Path | Dataset, **overrides: Any
    ) -> tuple[RunResult, bool]:
        """The run of ``model`` on ``data``; ``True`` when it came from this session's cache."""
        from evalkit.api import evaluate

        options = self.options(overrides)
        model_key = model if isinstance(model, str) else f"adapter-{id(model)}"
        data_key = str(Path(data).resolve()) if not isinstance(data, Dataset) else id(data)
        key = json.dumps([model_key, data_key, options], sort_keys=True, default=str)
        if key in self.entries:
            return self.entries[key].run, True
        run = evaluate(model, data, **options)
        label = data_label(data)
        name = baseline_name(run.id, label, options)
        entry = Entry(name, run, summary_row(run, label, name))
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
        return self.settings.baseline_dir / entry.name / "results.json"

    def check(
        self, run: RunResult, max_drop: float | None = None, alpha: float | None = None
    ) -> Verdict:
        """Compare ``run`` with its baseline (or store it when saving baselines)."""
        entry = self.entry_of(run)
        path = self.baseline_path(entry)
        if self.settings.save_baseline:
            save_results([run], path.parent)
            entry.row["verdict"] = "saved"
            return Verdict()
        if not path.is_file():
            raise EvalkitError(
                f"no baseline for {entry.name} at {path}; create it with pytest "
                "--evalkit-save-baseline (and commit it)"
            )
        baseline = _load_baseline(path)
        try:
            comparison = compare_runs(
                baseline,
                run,
                max_drop=self.settings.max_drop if max_drop is None else max_drop,
                alpha=self.settings.alpha if alpha is None else alpha,
            )
        except EvalkitError as error:
            raise EvalkitError(f"baseline {path}: {error}") from None
        verdict = Verdict(comparison=comparison)
        if comparison.regression:
            verdict.failures.append(self._regression_message(entry, comparison, baseline, path))
        self._check_timing(run, baseline, verdict)
        self._update_row(entry.row, comparison, verdict)
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
        return "\n".join(
            [
                f"accuracy regression: {display_name(c.model)} on {entry.row['data']}",
                f"  top-1: baseline {100 * c.baseline_top1:.2f}% -> current "
                f"{100 * c.current_top1:.2f}% ({100 * c.delta:+.2f} points; a regression "
                f"needs a drop >= {100 * c.max_drop:g} points)",
                f"  flipped: {c.worse} samples newly wrong, {c.better} newly right (n={c.n}); "
                f"one-sided exact McNemar p={c.p_value:.3g} < alpha {c.alpha:g}",
                f"  baseline: {path}",
                f"  diff: {diff if diff else 'not written (no --evalkit-report folder)'}",
            ]
        )

    def _write_diff(self, entry: Entry, baseline: RunResult) -> Path | None:
        if self.settings.report_dir is None:
            return None
        target = self.settings.report_dir / f"diff-{entry.name}.csv"
        frame = flipped_samples(baseline, entry.run)
        write_atomic(target, lambda tmp: frame.to_csv(tmp, index=False))
        return target

    @staticmethod
    def _update_row(row: dict[str, Any], comparison: Comparison, verdict: Verdict) -> None:
        row["baseline_top1"] = comparison.baseline_top1
        row["delta"] = comparison.delta
        row["p_value"] = comparison.p_value
        if comparison.regression:
            row["verdict"] = "REGRESSION"
        elif verdict.failures:
            row["verdict"] = "SLOWER"
        else:
            row["verdict"] = "ok"

    def runs(self) -> list[RunResult]:
        return [entry.run for entry in self.entries.values()]

    def rows(self) -> list[dict[str, Any]]:
        return [entry.row for entry in self.entries.values()]


VERDICT_ORDER = ("REGRESSION", "SLOWER", "ok", "saved", "not gated")


def merge_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per baseline name: xdist workers may each evaluate the same model; the row with
    the most severe verdict wins and the tests that used it are pooled."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen = merged.get(row["baseline"])
        if seen is None:
            merged[row["baseline"]] = dict(row)
            continue
        tests = seen["tests"] + row["tests"]
        if VERDICT_ORDER.index(row["verdict"]) < VERDICT_ORDER.index(seen["verdict"]):
            merged[row["baseline"]] = dict(row)
        merged[row["baseline"]]["tests"] = tests
    return list(merged.values())


def unique_runs(runs: list[RunResult]) -> list[RunResult]:
    """Drop repeated runs of the same model on the same samples (one per xdist worker)."""
    seen: dict[tuple[str, Any], RunResult] = {}
    for run in runs:
        seen.setdefault((run.id, run.dataset.get("fingerprint")), run)
    return list(seen.values())


def _load_baseline(path: Path) -> RunResult:
    try:
        runs = load_results(path)
    except EvalkitError as error:
        raise EvalkitError(
            f"corrupt baseline: {error}; re-create it with --evalkit-save-baseline"
        ) from None
    if len(runs) != 1:
        raise EvalkitError(f"baseline {path} holds {len(runs)} runs, expected one")
    return runs[0]
