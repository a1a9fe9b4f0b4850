"""pytest plugin (entry point ``evalkit``): options, the ``evalkit`` fixture, the baseline gate
and the session summary. Glue only: evaluation is :func:`evalkit.evaluate`, verdicts come from
:mod:`evalkit.gate`. Disable with ``-p no:evalkit``.
"""

from __future__ import annotations

import io
import os
import shutil
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from evalkit.compare.latency import SlowdownCheck
from evalkit.errors import EvalkitError
from evalkit.options import (
    ALPHA,
    GATE_DEFAULT,
    GATE_METRICS,
    LABEL_SUBSETS,
    MAX_DROP,
    EvalOptions,
    GateOptions,
    gate_metrics,
    weights_pair,
)

if TYPE_CHECKING:  # imported when first used: a session that never evaluates stays light
    from evalkit.data.datasets import Dataset
    from evalkit.gate import Gate, GateRow
    from evalkit.models.base import ModelAdapter
    from evalkit.results import RunResult

SETTINGS = pytest.StashKey[GateOptions]()
GATE = pytest.StashKey["Gate"]()
WORKER_ROWS = pytest.StashKey[list[dict[str, Any]]]()
LOGGED = pytest.StashKey[list[str]]()  # what was logged to MLflow, for the summary
WORKER_DIR = ".evalkit-workers"


class EvalkitTimingWarning(UserWarning):
    """Timing was compared with a baseline measured on a different setup."""


# name, ini type, default, help (CLI default None means "take the ini value")
OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("baseline", "string", "", "folder of baselines to compare with"),
    ("save-baseline", "bool", False, "store this session's runs as the baselines"),
    ("report", "string", "reports/pytest", "folder for results.json and diffs ('' = none)"),
    (
        "max-drop",
        "string",
        f"{100 * MAX_DROP:.1f}",
        "smallest top-1 drop, in points, that is a regression",
    ),
    ("alpha", "string", f"{ALPHA:g}", "significance level of the paired tests"),
    (
        "gate",
        "string",
        ",".join(GATE_DEFAULT),
        f"metrics a regression is checked on, comma-separated: {', '.join(GATE_METRICS)} "
        "or slice:COLUMN (the top-1 test within each slice of a manifest column or image "
        "property, Holm-corrected)",
    ),
    ("timing-max-slowdown", "string", "", "opt-in latency check, e.g. p50:25%"),
    ("data", "string", "", "default evaluation data for evalkit.evaluate()"),
    ("labels", "string", "", "ground-truth file for imagenet-val data"),
    ("per-class", "string", "", "default images per class (stratified subset)"),
    ("batch-size", "string", str(EvalOptions().batch_size), "batch size (N or auto)"),
    ("device", "string", EvalOptions().device, "auto, cpu or cuda"),
    (
        "label-subset",
        "string",
        "",
        f"restrict outputs to a class list: {', '.join(LABEL_SUBSETS)} or a file",
    ),
    (
        "slice-by",
        "string",
        "",
        "also slice results by these CSV manifest columns (comma-separated)",
    ),
    ("exif-transpose", "bool", False, "turn images upright by their EXIF orientation first"),
    (
        "corruptions",
        "string",
        "",
        "also evaluate ImageNet-C corrupted copies: imagenet-c[:SEVERITIES], groups or names",
    ),
    ("corruption-protocol", "string", EvalOptions().corruption_protocol, "jpeg or memory"),
    ("mlflow", "bool", False, "log the session's runs to the active MLflow tracking URI"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalkit", "evalkit: model accuracy gate")
    for name, kind, default, text in OPTIONS:
        key = name.replace("-", "_")
        shown_default = default if default not in ("", False) else "off"
        shown = f"{text} (default: {shown_default}; ini: evalkit_{key})".replace("%", "%%")
        if kind == "bool":
            group.addoption(f"--evalkit-{name}", action="store_true", default=None, help=shown)
        else:
            group.addoption(f"--evalkit-{name}", default=None, metavar=key.upper(), help=shown)
        parser.addini(f"evalkit_{key}", text, type=kind, default=default)  # type: ignore[arg-type]
    group.addoption(
        "--evalkit-weights",
        action="append",
        default=[],
        metavar="ID=FILE",
        help="local weights file for a model id, repeatable (default: none)",
    )


def _value(config: pytest.Config, name: str) -> tuple[Any, Path]:
    """An option's value and the folder its relative paths are relative to."""
    key = name.replace("-", "_")
    given = config.getoption(f"evalkit_{key}")
    if given is not None:
        return given, config.invocation_params.dir
    base = config.inipath.parent if config.inipath else config.rootpath
    return config.getini(f"evalkit_{key}"), base


def _path(config: pytest.Config, name: str) -> Path | None:
    value, base = _value(config, name)
    return base / value if value else None


def _number(config: pytest.Config, name: str, kind: type[float] | type[int]) -> Any:
    value, _ = _value(config, name)
    if value in ("", None):
        return None
    try:
        return kind(value)
    except ValueError:
        raise pytest.UsageError(f"--evalkit-{name}: expected a number, got {value!r}") from None


def _required(config: pytest.Config, name: str) -> float:
    value = _number(config, name, float)
    if value is None or value < 0:
        raise pytest.UsageError(f"--evalkit-{name}: expected a non-negative number")
    return float(value)


def _weights(config: pytest.Config) -> dict[str, str]:
    pairs = {}
    for text in config.getoption("evalkit_weights"):
        try:
            model, path = weights_pair(str(text))
        except ValueError as error:
            raise pytest.UsageError(f"--evalkit-weights: {error}") from None
        pairs[model] = str(config.invocation_params.dir / path)
    return pairs


def _eval_defaults(config: pytest.Config) -> EvalOptions:
    """The session's default evaluation options (``--evalkit-batch-size`` and friends)."""
    subset, base = _value(config, "label-subset")
    given = {
        "label_subset": (subset if subset in LABEL_SUBSETS else str(base / subset))
        if subset
        else None,
        "labels_file": _path(config, "labels"),
        "per_class": _number(config, "per-class", int),
        "batch_size": _value(config, "batch-size")[0] or None,
        "device": _value(config, "device")[0] or None,
        "weights": _weights(config),
        "slice_by": _value(config, "slice-by")[0] or None,
        "exif_transpose": bool(_value(config, "exif-transpose")[0]) or None,
        "corruptions": _value(config, "corruptions")[0] or None,
        "corruption_protocol": _value(config, "corruption-protocol")[0] or None,
    }
    try:
        return EvalOptions(**{k: v for k, v in given.items() if v is not None})
    except EvalkitError as error:
        raise pytest.UsageError(f"evalkit options: {error}") from None


def settings_from(config: pytest.Config) -> GateOptions:
    timing_text, _ = _value(config, "timing-max-slowdown")
    try:
        timing = SlowdownCheck.parse_list(timing_text)
    except ValueError as error:
        raise pytest.UsageError(f"--evalkit-timing-max-slowdown: {error}") from None
    try:
        metrics = gate_metrics(_value(config, "gate")[0] or ",".join(GATE_DEFAULT))
    except EvalkitError as error:
        raise pytest.UsageError(f"--evalkit-gate: {error}") from None
    mlflow = bool(_value(config, "mlflow")[0])
    if mlflow and not _path(config, "report"):
        raise pytest.UsageError("--evalkit-mlflow logs the session's results: set --evalkit-report")
    return GateOptions(
        mlflow=mlflow,
        metrics=metrics,
        baseline_dir=_path(config, "baseline"),
        save_baseline=bool(_value(config, "save-baseline")[0]),
        report_dir=_path(config, "report"),
        max_drop=_required(config, "max-drop") / 100,
        alpha=_required(config, "alpha"),
        timing=timing,
        data=_path(config, "data"),
        defaults=_eval_defaults(config),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS] = settings_from(config)
    config.stash[WORKER_ROWS] = []


def gate_of(config: pytest.Config) -> Gate:
    """The session's gate, created on first use."""
    if GATE not in config.stash:
        from evalkit.gate import Gate

        config.stash[GATE] = Gate(config.stash[SETTINGS])
    return config.stash[GATE]


class EvalkitFixture:
    """What the ``evalkit`` fixture gives a test: evaluate models (cached for the session) and
    gate them on baselines. Annotate tests with it: ``def test_x(evalkit: EvalkitFixture)``."""

    def __init__(self, node: pytest.Item) -> None:
        self._node = node
        self._gate = gate_of(node.config)

    @property
    def data(self) -> Path | None:
        """``--evalkit-data`` (or ``evalkit_data``), if given."""
        return self._gate.settings.data

    @property
    def options(self) -> EvalOptions:
        """The session's default evaluation options (``--evalkit-weights`` and friends)."""
        return self._gate.settings.defaults

    def evaluate(
        self, model: str | ModelAdapter, data: str | Path | Dataset | None = None, **options: Any
    ) -> RunResult:
        """:func:`evalkit.evaluate` with the session's defaults, cached for the session.

        Without ``data`` and without ``--evalkit-data`` the test is skipped.
        """
        options.pop("data", None)
        data = data if data is not None else self.data
        if data is None:
            pytest.skip("no evaluation data: pass --evalkit-data PATH (or set evalkit_data)")
        run, cached = self._gate.evaluate(model, data, **options)
        self._record(run, cached)
        return run

    def assert_no_regression(
        self, result: RunResult, *, max_drop: float | None = None, alpha: float | None = None
    ) -> None:
        """Fail when ``result`` is significantly worse than its stored baseline.

        ``max_drop`` is in points (default ``--evalkit-max-drop``).
        """
        verdict = self._gate.check(
            result, max_drop=None if max_drop is None else max_drop / 100, alpha=alpha
        )
        for message in verdict.warnings:
            warnings.warn(EvalkitTimingWarning(message), stacklevel=2)
        if verdict.comparison is not None:
            c = verdict.comparison
            self._property(result, "delta_top1", round(c.delta, 6))
            self._property(result, "mcnemar_p", c.p_value)
        if verdict.failures:
            pytest.fail("\n".join(verdict.failures), pytrace=False)

    def _record(self, run: RunResult, cached: bool) -> None:
        self._gate.entry_of(run).row.tests.append(self._node.nodeid)
        self._property(run, "top1", round(run.top1, 6))
        self._property(run, "top5", round(run.top5, 6))
        self._property(run, "n", run.metrics.top1.n)
        self._property(run, "cached", cached)

    def _property(self, run: RunResult, name: str, value: object) -> None:
        from evalkit.naming import display_name

        self._node.user_properties.append((f"evalkit:{display_name(run.id)}:{name}", value))


@pytest.fixture()
def evalkit(request: pytest.FixtureRequest) -> EvalkitFixture:
    """Evaluate models through evalkit (cached per session) and gate them on baselines."""
    node = request.node
    assert isinstance(node, pytest.Item)
    return EvalkitFixture(node)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A user error (missing data, corrupt baseline, …) is one readable line, no traceback."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(EvalkitError):
        report.longrepr = f"evalkit: {call.excinfo.value}"


def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: collect a worker's summary rows and results folder."""
    output = getattr(node, "workeroutput", {}).get("evalkit")
    if output:
        node.config.stash[WORKER_ROWS].extend(output["rows"])


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    report = config.stash[SETTINGS].report_dir
    worker = getattr(config, "workerinput", {}).get("workerid")
    if GATE not in config.stash and not (report and (report / WORKER_DIR).is_dir()):
        if worker is not None:
            config.workeroutput["evalkit"] = {"rows": []}  # type: ignore[attr-defined]
        return  # nothing was evaluated in this session
    _finish(config, report, worker)


def _finish(config: pytest.Config, report: Path | None, worker: str | None) -> None:
    from evalkit.gate import unique_runs
    from evalkit.results import save_results

    gate = gate_of(config)
    if worker is not None:  # xdist worker: hand runs and rows to the controller
        if gate.entries and report is not None:
            save_results(gate.runs(), report / WORKER_DIR / worker)
        rows = [row.to_dict() for row in gate.rows()]
        config.workeroutput["evalkit"] = {"rows": rows}  # type: ignore[attr-defined]
        return
    runs = unique_runs(gate.runs() + list(_worker_runs(report)))
    if runs and report is not None:
        from evalkit.report import write_report

        save_results(runs, report)
        before = _compared_baselines(config)
        write_report([*before, *runs], report, title="evalkit: pytest session")
        if config.stash[SETTINGS].mlflow:
            _log_mlflow(config, report)
    if report is not None:
        shutil.rmtree(report / WORKER_DIR, ignore_errors=True)


def _log_mlflow(config: pytest.Config, report: Path) -> None:
    from evalkit.tracking import log_mlflow

    try:
        logged = log_mlflow(report / "results.json")
    except EvalkitError as error:
        config.stash[LOGGED] = [f"evalkit: mlflow: {error}"]
        return
    config.stash[LOGGED] = [
        f"evalkit mlflow: {entry.model} -> run {entry.run_id} ({entry.tracking_uri})"
        for entry in logged
    ]


def _compared_baselines(config: pytest.Config) -> list[RunResult]:
    """The baselines this session compared with, labelled "(baseline)", so the report shows
    each model before and after, paired on the same samples."""
    from evalkit.compare.baselines import baseline_file, load_baseline
    from evalkit.naming import display_name

    folder = config.stash[SETTINGS].baseline_dir
    runs = []
    for row in _all_rows(config):
        if folder is None or row.baseline_top1 is None:
            continue
        try:
            run = load_baseline(baseline_file(folder, row.baseline))
        except EvalkitError:
            continue  # the test that compared with it has already said what is wrong
        run.label = f"{display_name(run.id)} (baseline)"
        runs.append(run)
    return runs


def _worker_runs(report: Path | None) -> Iterator[RunResult]:
    from evalkit.results import load_results

    if report is None or not (report / WORKER_DIR).is_dir():
        return
    for results in sorted((report / WORKER_DIR).glob("*/results.json")):
        yield from load_results(results)


def _all_rows(config: pytest.Config) -> list[GateRow]:
    own = config.stash[GATE].rows() if GATE in config.stash else []
    if not own and not config.stash[WORKER_ROWS]:
        return []
    from evalkit.gate import GateRow, merge_rows

    return merge_rows(own + [GateRow.from_dict(row) for row in config.stash[WORKER_ROWS]])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    rows = _all_rows(config)
    if not rows:
        return
    from rich.console import Console

    from evalkit.report.terminal import gate_markdown, gate_table

    buffer = io.StringIO()
    width = max(200, terminalreporter._tw.fullwidth)  # CI logs do not wrap
    Console(file=buffer, width=width, color_system=None).print(gate_table(rows))
    terminalreporter.write_sep("=", "evalkit")
    for line in buffer.getvalue().splitlines():
        if line.strip():
            terminalreporter.write_line(line.rstrip())
    report = config.stash[SETTINGS].report_dir
    if report is not None and (report / "results.json").is_file():
        terminalreporter.write_line(f"evalkit results: {report / 'results.json'}")
        terminalreporter.write_line(f"evalkit report: {report / 'report.html'}")
    for line in config.stash.get(LOGGED, []):
        terminalreporter.write_line(line)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(gate_markdown(rows))
