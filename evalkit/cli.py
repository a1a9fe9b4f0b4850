"""The ``evalkit`` command: a thin shell over evalkit.api and evalkit.results.

Exit codes are defined in evalkit.errors: 0 ok, 1 regression, 2 usage or input error, 3 internal
error (one line; the traceback goes to a file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from evalkit import __version__
from evalkit.corruption_spec import PROTOCOLS
from evalkit.errors import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    EvalkitError,
    one_line,
    write_crash_report,
)
from evalkit.options import (
    ALPHA,
    DEVICES,
    EXECUTORS,
    FORMATS,
    GATE_DEFAULT,
    GATE_METRICS,
    LABEL_SUBSETS,
    MAX_DROP,
    PRECISIONS,
    RUNTIMES,
    SAMPLES,
    EvalOptions,
    gate_metrics,
    preprocess_pair,
    weights_pair,
)


def default_out() -> Path:
    return Path("reports") / time.strftime("%Y%m%d-%H%M%S")


def _weights_pair(text: str) -> tuple[str, str]:
    try:
        return weights_pair(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _pair(text: str) -> tuple[str, str]:
    baseline, sep, current = text.partition("=")
    if not sep or not baseline.strip() or not current.strip():
        raise argparse.ArgumentTypeError(f"expected BASELINE=CURRENT, got {text!r}")
    return baseline.strip(), current.strip()


def _gate(text: str) -> tuple[str, ...]:
    try:
        return gate_metrics(text)
    except EvalkitError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"print {what} as JSON on stdout (notes and errors stay on stderr)",
    )


def _preprocess_pair(text: str) -> tuple[str, str]:
    try:
        return preprocess_pair(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_run(commands: argparse._SubParsersAction) -> None:
    from evalkit.schemes import id_forms

    run = commands.add_parser("run", help="evaluate models on a labeled image set")
    run.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="ID",
        help=f"model id, repeatable: {', '.join(id_forms())} (evalkit models lists them)",
    )
    run.add_argument("--data", required=True, type=Path, help="image folder or CSV manifest")
    defaults = EvalOptions()
    run.add_argument("--format", default=defaults.format, choices=FORMATS)
    run.add_argument("--labels", type=Path, help="ground-truth file for --format imagenet-val")
    run.add_argument(
        "--batch-size",
        default=defaults.batch_size,
        help="N, or auto: the fastest of a short probe, cached per model and machine "
        "(default auto; the size used is recorded)",
    )
    run.add_argument("--device", default=defaults.device, choices=DEVICES)
    _add_subset(run, defaults)
    run.add_argument(
        "--weights",
        action="append",
        type=_weights_pair,
        default=[],
        metavar="ID=FILE",
        help="local weights file for a model id, repeatable",
    )
    run.add_argument(
        "--preprocess",
        action="append",
        type=_preprocess_pair,
        default=[],
        metavar="[ID=]PRESET|FILE.json",
        help="preprocessing of model files that carry none: torchvision, keras-tf, caffe, unit, "
        "raw, timm:NAME or a JSON file (docs/runtimes.md); repeatable",
    )
    run.add_argument("--class-map", type=Path, help="CSV dataset_label,model_label")
    run.add_argument(
        "--label-subset",
        metavar="NAME|FILE",
        help=f"score with the outputs restricted to these classes: {', '.join(LABEL_SUBSETS)} "
        "(bundled) or a file with one class per line (docs/datasets.md)",
    )
    _number(run, "--ece-bins", defaults.ece_bins, "equal-width bins of the calibration error")
    _add_slicing(run, defaults)
    _add_corruptions(run, defaults)
    run.add_argument("--strict", action="store_true", help="fail on any unreadable image")
    _number(run, "--warmup", defaults.warmup, "untimed warm-up batches")
    run.add_argument("--workers", type=int, help="decode threads (default: CPU count)")
    _add_execution(run)
    _add_durability(run, defaults)
    run.add_argument("--out", type=Path, help="output folder (default reports/<timestamp>)")
    _mlflow_flags(run)
    _json_flag(run, "a summary of each run (accuracy, failures, speed, files written)")
    run.set_defaults(handler=cmd_run)


def _add_slicing(parser: argparse.ArgumentParser, defaults: EvalOptions | None) -> None:
    """The slice options (``run`` also gets ``--exif-transpose``); ``defaults`` None (rescore):
    keep what the run recorded."""
    if defaults is not None:
        parser.add_argument(
            "--exif-transpose",
            action="store_true",
            help="turn images upright by their EXIF orientation first (off, as the frameworks' "
            "loaders do; recorded)",
        )
    parser.add_argument(
        "--slice-by",
        action="append",
        default=[] if defaults else None,
        metavar="COLUMN",
        help="also report accuracy per value of this CSV manifest column (repeatable); image "
        "properties (brightness, contrast, sharpness, …) are always sliced (docs/slices.md)",
    )
    for flag, text in (
        ("--slice-bins", "quantile bins of each image property"),
        ("--min-slice-size", "images a slice needs to be tested as a weak segment"),
    ):
        name = flag[2:].replace("-", "_")
        if defaults is not None:
            _number(parser, flag, getattr(defaults, name), text)
        else:
            parser.add_argument(flag, type=int, help=f"{text} (default: as the run recorded)")


def _add_corruptions(parser: argparse.ArgumentParser, defaults: EvalOptions) -> None:
    parser.add_argument(
        "--corruptions",
        metavar="imagenet-c[:SEVERITIES]",
        help="also evaluate corrupted copies of every image: the 15 ImageNet-C corruptions "
        "(imagenet-c), groups (noise, blur, weather, digital) or names, at severities 1-5 "
        "(imagenet-c:1,3,5); adds errors, CE and mCE (docs/robustness.md)",
    )
    parser.add_argument(
        "--corruption-protocol",
        default=defaults.corruption_protocol,
        choices=PROTOCOLS,
        help="jpeg: through the reference's quality-85 JPEG files (in memory), as published "
        "ImageNet-C numbers; memory: straight to the model (default %(default)s)",
    )


def _add_rescore(commands: argparse._SubParsersAction) -> None:
    rescore = commands.add_parser(
        "rescore",
        help="score a stored run again from its predictions (adds slices; never re-runs a model)",
    )
    rescore.add_argument("results", type=Path, help="the run folder (or its results.json)")
    _add_slicing(rescore, None)
    rescore.set_defaults(handler=cmd_rescore)


def _add_dupes(commands: argparse._SubParsersAction) -> None:
    dupes = commands.add_parser(
        "dupes",
        help="exact and near-duplicate images within a data set, or between two (leakage)",
    )
    dupes.add_argument("data", type=Path, help="image folder or CSV manifest")
    dupes.add_argument("other", type=Path, nargs="?", help="a second set: pairs across the two")
    dupes.add_argument(
        "--max-distance",
        type=int,
        help="near duplicates: perceptual hashes at most this many bits apart (default 4)",
    )
    dupes.add_argument("--limit", type=int, default=20, help="pairs listed (default 20)")
    dupes.add_argument(
        "--fail-on-dupes", action="store_true", help="exit 1 when any pair is found (for CI)"
    )
    _json_flag(dupes, "every pair and unreadable file")
    dupes.set_defaults(handler=cmd_dupes)


def _mlflow_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mlflow",
        action="store_true",
        help="log each run (parameters, metrics, results, report, predictions) to the active "
        "MLflow tracking URI (MLFLOW_TRACKING_URI); needs evalkit[mlflow]",
    )
    parser.add_argument(
        "--mlflow-experiment",
        metavar="NAME",
        help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else evalkit)",
    )


def _add_log(commands: argparse._SubParsersAction) -> None:
    log = commands.add_parser("log", help="log a results file's runs to an experiment tracker")
    log.add_argument("results", type=Path, help="results.json (or its folder)")
    _mlflow_flags(log)
    log.add_argument("--run-name", help="MLflow run name (default: the model's name)")
    log.set_defaults(handler=cmd_log)


def _add_subset(parser: argparse.ArgumentParser, defaults: EvalOptions) -> None:
    parser.add_argument(
        "--limit", type=int, help="N images (after --per-class), picked as --sample says"
    )
    parser.add_argument(
        "--sample",
        default=defaults.sample,
        choices=SAMPLES,
        help="how --limit picks: stratified (default: each class in proportion, seeded), "
        "random (seeded) or first (the first N files in sorted order)",
    )
    parser.add_argument("--per-class", type=int, help="N images per class (stratified, seeded)")
    _number(parser, "--seed", defaults.seed, "seed for --limit and --per-class samples")


def _number(parser: argparse.ArgumentParser, flag: str, default: int, text: str) -> None:
    """A whole-number option whose help shows its default (taken from EvalOptions)."""
    parser.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")


def _add_durability(run: argparse.ArgumentParser, defaults: EvalOptions) -> None:
    _number(run, "--shard-size", defaults.shard_size, "images per committed shard (whole batches)")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out: evaluate only the shards it has not committed",
    )
    run.add_argument(
        "--cache",
        type=Path,
        dest="cache_dir",
        metavar="DIR",
        help="prediction cache (default $EVALKIT_CACHE or ~/.cache/evalkit)",
    )
    run.add_argument(
        "--no-cache", action="store_true", help="evaluate every image; read and write no cache"
    )
    run.add_argument(
        "--store-logits", action="store_true", help="keep every output vector (float16) too"
    )
    run.add_argument("--executor", default=defaults.executor, choices=EXECUTORS)
    run.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")


def _add_execution(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default=EvalOptions().precision,
        choices=PRECISIONS,
        help="autocast precision for torch models (default fp32; recorded)",
    )
    parser.add_argument(
        "--channels-last",
        nargs="?",
        const=True,
        default=EvalOptions().channels_last,
        metavar="auto|on|off",
        help="torch models: NHWC memory layout; auto (default) takes it when a probe finds it "
        "faster (recorded, with its top-1 agreement against the contiguous layout)",
    )
    parser.add_argument(
        "--runtime",
        default=EvalOptions().runtime,
        choices=RUNTIMES,
        help="eager (default: the framework), compile (torch.compile), onnxruntime, openvino "
        "(torch models, exported once and cached), litert (Keras models); checked against "
        "eager on a probe batch",
    )
    parser.add_argument(
        "--threads", type=int, help="framework intra-op threads (default: the framework's)"
    )


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1,8,32, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes like 1,8,32, got {text!r}")
    return sizes


def _add_bench(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench", help="measure evaluation speed against the hardware bound (synthetic JPEGs)"
    )
    bench.add_argument(
        "--model",
        action="append",
        metavar="ID",
        help="repeatable (default: torchvision:resnet50 and keras:MobileNetV2)",
    )
    bench.add_argument("--images", type=int, default=256, help="synthetic JPEGs (default 256)")
    bench.add_argument("--batch-size", type=int, default=32, help="(default 32)")
    bench.add_argument(
        "--batch-sizes", type=_sizes, default=[1, 8, 32], help="sweep (default 1,8,32)"
    )
    bench.add_argument("--no-rss", action="store_true", help="skip the 1k/20k peak-RSS check")
    bench.add_argument(
        "--no-runtimes",
        action="store_true",
        help="skip timing the accelerated runtimes (export, agreement, F)",
    )
    bench.add_argument(
        "--peers",
        type=int,
        nargs="?",
        const=3,
        default=0,
        metavar="REPEATS",
        help="also time evalkit run against a plain DataLoader (ResNet50) / tf.data "
        "(MobileNetV2) loop in separate processes, median of REPEATS (default 3)",
    )
    bench.add_argument(
        "--out", type=Path, default=Path("reports/bench/bench.json"), help="JSON results file"
    )
    bench.add_argument("--cache", type=Path, help="images/weights cache (default ~/.cache)")
    _add_execution(bench)
    bench.set_defaults(handler=cmd_bench)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error on one line: what is wrong and where the help is (the
    sub-commands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        program = self.prog.split()[0]  # "evalkit compare" -> "evalkit: error: …"
        self.exit(2, f"{program}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="evalkit",
        description="Evaluate pretrained image classifiers (PyTorch, TensorFlow/Keras, ONNX, "
        "OpenVINO, TFLite, timm): accuracy with confidence intervals, per-class metrics, "
        "honest timing, every prediction stored; compare runs and gate regressions.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run(commands)
    demo = commands.add_parser("demo", help="offline demo: digits, two tiny models, full outputs")
    demo.add_argument("--out", type=Path, help="output folder (default reports/<timestamp>)")
    demo.add_argument("--cache", type=Path, help="demo data/model cache (default ~/.cache/evalkit)")
    demo.set_defaults(handler=cmd_demo)
    _add_compare(commands)
    _add_rescore(commands)
    _add_dupes(commands)
    _add_log(commands)
    report = commands.add_parser(
        "report", help="HTML/Markdown/CSV report from saved results (never re-runs a model)"
    )
    report.add_argument("results", nargs="+", type=Path, help="results.json files (or folders)")
    report.add_argument(
        "--out",
        type=Path,
        help="FILE.html or a folder (default: report.html beside the first results file)",
    )
    report.add_argument("--title", default="evalkit report", help="page title")
    report.set_defaults(handler=cmd_report)
    _add_bench(commands)
    _add_export(commands)
    models = commands.add_parser("models", help="what can be evaluated; where weights are found")
    models.set_defaults(handler=cmd_models)
    return parser


def _add_compare(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare", help="compare two results files on the same samples (paired McNemar test)"
    )
    compare.add_argument("baseline", type=Path, help="baseline results.json (or its folder)")
    compare.add_argument("current", type=Path, help="current results.json (or its folder)")
    compare.add_argument(
        "--max-drop",
        type=float,
        default=100 * MAX_DROP,
        help=f"smallest top-1 drop, in points, that counts (default {100 * MAX_DROP:g})",
    )
    compare.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        help=f"significance level of the one-sided test (default {ALPHA:g})",
    )
    compare.add_argument(
        "--gate",
        type=_gate,
        default=GATE_DEFAULT,
        metavar="METRICS",
        help=f"metrics a regression is checked on, comma-separated: {', '.join(GATE_METRICS)} "
        f"(default {','.join(GATE_DEFAULT)}; docs/gate.md)",
    )
    compare.add_argument(
        "--report",
        type=Path,
        metavar="DIR|FILE.html",
        help="also write an HTML/Markdown report of the paired runs, baseline beside current",
    )
    compare.add_argument(
        "--pair",
        action="append",
        type=_pair,
        default=[],
        metavar="BASELINE=CURRENT",
        help="compare these two runs (model ids, names or 1-based positions), repeatable; "
        "default: runs with the same model id, else runs in the same position",
    )
    _json_flag(compare, "the comparisons")
    compare.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit with status 1 when any model regressed",
    )
    compare.set_defaults(handler=cmd_compare)


def _add_export(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="write a torch model as ONNX (int8 too) or OpenVINO IR, a Keras model as TFLite "
        "(int8 too), "
        "with its preprocessing in the file's metadata",
    )
    export.add_argument("model", metavar="ID", help="e.g. torchvision:resnet50, keras:MobileNetV2")
    export.add_argument("--to", required=True, choices=("onnx", "openvino", "tflite"))
    export.add_argument("--out", required=True, type=Path, help="FILE.onnx|FILE.xml|FILE.tflite")
    export.add_argument(
        "--int8",
        action="store_true",
        help="post-training int8 quantization on --calibrate images: ONNX (QDQ, ONNX Runtime) or "
        "TFLite (full integer, int8 in and out)",
    )
    export.add_argument("--calibrate", type=Path, metavar="DATA", help="images for --int8")
    export.add_argument(
        "--calibration-images",
        type=int,
        default=200,
        metavar="N",
        help="images of DATA used, stratified by class (default 200)",
    )
    export.add_argument(
        "--weights", action="append", type=_weights_pair, default=[], metavar="ID=FILE"
    )
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from evalkit.export import export_model

    if args.calibration_images <= 0:
        raise EvalkitError("--calibration-images must be a positive number")
    result = export_model(
        args.model,
        args.to,
        args.out,
        options=EvalOptions().replace(weights=dict(args.weights)),
        int8=args.int8,
        calibrate=args.calibrate,
        calibration_images=args.calibration_images,
    )
    size = result.path.stat().st_size / 2**20
    kind = f"int8 (calibrated on {result.calibration_images} images)" if result.int8 else "float"
    print(f"wrote {result.path} ({size:.1f} MiB, {kind}) in {result.seconds:.1f} s")
    spec = result.card["preprocessing"]
    print(
        f"card in the file's metadata: crop {spec['crop']}, resize {spec['resize']}, "
        f"{spec['interpolation']}, /{spec['divide_by']:g}, mean {spec['mean']}, std "
        f"{spec['std']}, {spec['layout']} {spec['channels']}; outputs {result.card['outputs']}"
    )
    agreed = result.agreement
    print(
        f"against {result.source} on {agreed['images']} images: top-1 agreement "
        f"{agreed['top1']:.2%}, max |Δp| {agreed['max_abs_dp']:.2g}"
    )
    print(f"evaluate it: evalkit run --model {result.model_id} --data DATA")
    return 0


def run_options(args: argparse.Namespace) -> EvalOptions:
    """The evaluation options of ``evalkit run`` (argument names are the option names)."""
    given = vars(args) | {
        "labels_file": args.labels,
        "weights": dict(args.weights),
        "preprocess": dict(args.preprocess),
        "progress": sys.stderr.isatty(),
        "out": args.out,
        "cache": not args.no_cache,
    }
    return EvalOptions(**{name: given[name] for name in EvalOptions.names()})


def _expect_frameworks(models: Sequence[str]) -> None:
    """This process runs only these models: no framework import that none of them needs."""
    from evalkit._frameworks import expect_frameworks
    from evalkit.registry import adapter_class, parse_model_id

    expect_frameworks({adapter_class(parse_model_id(m).scheme).framework for m in models})


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit.api import evaluate_many
    from evalkit.report import print_notes, print_summary, run_summary, write_report
    from evalkit.results import save_results

    args.out = args.out or default_out()
    _expect_frameworks(args.model)
    runs = evaluate_many(args.model, args.data, run_options(args))
    out = args.out
    path = save_results(runs, out)
    html = write_report(runs, out)["html"]
    logged = _log_mlflow(args, path) if args.mlflow else []
    if args.json:
        _print_json(
            {"results": str(path), "report": str(html), "runs": [run_summary(r) for r in runs]}
            | ({"mlflow": [vars(entry) for entry in logged]} if args.mlflow else {})
        )
        print_notes(runs)
        return 0
    print_summary(runs)
    print(f"results: {path}")
    print(f"report: {html}")
    _print_logged(logged)
    return 0


def _log_mlflow(args: argparse.Namespace, results: Path) -> list[Any]:
    from evalkit.tracking import log_mlflow

    return log_mlflow(
        results, experiment=args.mlflow_experiment, run_name=getattr(args, "run_name", None)
    )


def _print_logged(logged: Sequence[Any]) -> None:
    for entry in logged:
        how = "logged" if entry.new else "already logged"
        print(
            f"mlflow: {entry.model} {how} as run {entry.run_id} (experiment "
            f"{entry.experiment_id}, {entry.tracking_uri})"
        )


def cmd_rescore(args: argparse.Namespace) -> int:
    from evalkit.report import print_summary, write_report
    from evalkit.results import load_results, save_results
    from evalkit.scoring import rescored

    stored = load_results(args.results)
    runs = [rescored(run, args.slice_by, args.slice_bins, args.min_slice_size) for run in stored]
    assert stored.path is not None
    path = save_results(runs, stored.path.parent)
    html = write_report(runs, stored.path.parent)["html"]
    print_summary(runs)
    print(f"results: {path}")
    print(f"report: {html}")
    return 0


def cmd_dupes(args: argparse.Namespace) -> int:
    from evalkit.analysis import dupes
    from evalkit.data.datasets import image_files

    distance = dupes.DEFAULT_MAX_DISTANCE if args.max_distance is None else args.max_distance
    if not 0 <= distance <= dupes.MAX_DISTANCE_LIMIT:
        raise EvalkitError(
            f"--max-distance must be 0 to {dupes.MAX_DISTANCE_LIMIT} bits, got {distance}"
        )
    if args.limit < 0:
        raise EvalkitError(f"--limit is the number of pairs listed, 0 or more; got {args.limit}")
    other = args.other
    if other and Path(other).resolve() == Path(args.data).resolve():
        print(
            f"evalkit: note: {other} is {args.data}; listing the duplicates within it",
            file=sys.stderr,
        )
        other = None  # not every file paired with itself
    root_a, files_a = image_files(args.data)
    root_b, files_b = image_files(other) if other else (None, None)
    hashes_a = dupes.hash_images(files_a)
    hashes_b = dupes.hash_images(files_b) if files_b is not None else None
    pairs = dupes.find_duplicates(hashes_a, hashes_b, max_distance=distance)
    if args.json:
        _print_json(
            dupes.dupes_json(
                pairs, hashes_a, hashes_b, root_a=root_a, root_b=root_b, max_distance=distance
            )
        )
    else:
        names = {"name_a": str(args.data), "name_b": str(other)}
        lines = dupes.summary_lines(
            pairs, hashes_a, hashes_b, args.limit, root_a=root_a, root_b=root_b, **names
        )
        print("\n".join(lines))
    return 1 if pairs and args.fail_on_dupes else 0


def cmd_log(args: argparse.Namespace) -> int:
    if not args.mlflow:
        raise EvalkitError("evalkit log: say where to log: --mlflow (the only tracker so far)")
    _print_logged(_log_mlflow(args, args.results))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from evalkit.demo import run_demo

    run_demo(args.out or default_out(), cache=args.cache)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from evalkit.compare.baselines import compare_runs, pair_runs
    from evalkit.errors import RegressionError
    from evalkit.results import load_results

    pairing = pair_runs(load_results(args.baseline), load_results(args.current), args.pair)
    limits = {"max_drop": args.max_drop / 100, "alpha": args.alpha, "metrics": args.gate}
    comparisons = [compare_runs(old, new, **limits) for old, new in pairing.pairs]
    if args.report is not None:
        _compare_report(pairing.pairs, args.report)
    regressed = [c.name for c in comparisons if c.regression]
    if args.json:
        _print_json(
            {
                "pairing": pairing.how,
                "unpaired": pairing.unpaired,
                "comparisons": [c.to_dict() for c in comparisons],
                "regression": bool(regressed),
            }
        )
    else:
        print(f"runs paired {pairing.how}")
        for comparison in comparisons:
            print(comparison.summary())
    if pairing.unpaired:
        print(f"evalkit: note: not compared: {', '.join(pairing.unpaired)}", file=sys.stderr)
    if regressed and args.fail_on_regression:
        raise RegressionError(f"accuracy regression in {', '.join(regressed)}")
    return 0


def _compare_report(pairs: Sequence[tuple[Any, Any]], out: Path) -> None:
    """The paired runs in one report (baselines labelled), written to ``out``."""
    from evalkit.report import write_report

    runs = []
    for baseline, current in pairs:
        baseline.label = f"{baseline.name} (baseline)"
        runs += [baseline, current]
    written = write_report(runs, out, title="evalkit compare")
    print(f"report: {written['html']}", file=sys.stderr)


def _print_json(document: object) -> None:
    """``document`` as JSON on stdout; NaN and infinities become null."""
    import json

    from evalkit.results import json_safe

    print(json.dumps(json_safe(document), indent=1, allow_nan=False, default=str))


def cmd_report(args: argparse.Namespace) -> int:
    from evalkit.report import write_report
    from evalkit.results import load_results

    runs = [run for path in args.results for run in load_results(path)]
    first = args.results[0]
    out = args.out or (first if first.is_dir() else first.parent)
    written = write_report(runs, out, title=args.title)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from evalkit.bench import SEED_MODELS, print_bench, run_bench
    from evalkit.demo import cache_root

    if args.images < 2 * args.batch_size:
        raise EvalkitError(f"--images must be at least twice --batch-size ({2 * args.batch_size})")
    document = run_bench(
        models=args.model or list(SEED_MODELS),
        images=args.images,
        batch_size=args.batch_size,
        sweep=args.batch_sizes,
        options=EvalOptions(
            precision=args.precision,
            channels_last=args.channels_last,
            threads=args.threads,
            runtime=args.runtime,
        ),
        out=args.out,
        cache=cache_root(args.cache).parent / "bench-v1",
        rss=not args.no_rss,
        runtimes=not args.no_runtimes,
        peers=args.peers,
    )
    print_bench(document)
    print(f"results: {args.out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from evalkit.catalog import print_catalog

    print_catalog()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status follows :data:`evalkit.errors.EXIT_CODES_HELP`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    try:
        code: int = args.handler(args)
    except EvalkitError as error:
        return _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        print("evalkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:  # a folder that cannot be written, a path that is a file, …
        where = f": {error.filename}" if error.filename else ""
        return _fail(f"{error.strerror or error}{where}", EXIT_USAGE)
    except Exception as error:  # a bug: one line here, the whole story in a file
        path = write_crash_report(error, arguments)
        message = one_line(f"{type(error).__name__}: {error}", limit=300)
        print(
            f"evalkit: internal error: {message}; this is a bug in evalkit, please report it "
            f"with the traceback written to {path}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return code


def _fail(message: str, code: int) -> int:
    print(f"evalkit: error: {one_line(message)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
