"""``evalkit bench``: how fast evaluation runs, measured against what the hardware allows.

In one process and one run, per model: F (raw forward img/s on all cores), D (decode +
preprocess img/s on one core), the CPU-work bound ``cores / (cores/F + 1/D)``, the end-to-end
harness, a naive one-image-at-a-time loop, the harness's own overhead, the harness's batch
latency against ``torch.utils.benchmark.Timer``, and a batch-size sweep; plus peak RSS of
evaluations of 1k and 20k images (in child processes). Images are synthetic JPEGs made from real
photographs; zoo models run with untrained weights (speed does not depend on the values).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from evalkit.allocator import glibc_defaults
from evalkit.api import evaluate_adapter
from evalkit.atomic import write_atomic
from evalkit.data.datasets import Dataset, read_imagefolder, subset
from evalkit.errors import EvalkitError
from evalkit.models.base import ModelAdapter
from evalkit.models.runtimes import FRAMEWORK_RUNTIMES
from evalkit.options import AUTO, EvalOptions
from evalkit.registry import adapter_class, load_model, parse_model_id
from evalkit.runner import load_sample
from evalkit.schemes import NAMED
from evalkit.timing import stage_bar

WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361", "n01494475")
SEED_MODELS = ("torchvision:resnet50", "keras:MobileNetV2")


def synthetic_imagefolder(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` ImageNet-sized JPEGs (500x375, quality 90) cut from real photographs."""
    folder = root / f"jpeg-{n}-{seed}"
    if (folder / ".complete").is_file():
        return folder
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(a) for a in load_sample_images().images]
    rng = np.random.default_rng(seed)
    for i in range(n):
        photo = photos[i % len(photos)]
        left, top = int(rng.integers(0, 140)), int(rng.integers(0, 52))
        crop = photo.crop((left, top, left + 500, top + 375))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        target = folder / WNIDS[i % len(WNIDS)] / f"img{i:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        crop.save(target, quality=90)
    (folder / ".complete").touch()
    return folder


def untrained_weights(model: str, root: Path) -> Path:
    """A weights file of the right architecture (random init), for models with none cached."""
    model_id = parse_model_id(model)
    suffix = ".pth" if model_id.scheme == "torchvision" else ".weights.h5"
    target = root / f"{model_id.name}-untrained{suffix}"
    if not target.is_file():
        root.mkdir(parents=True, exist_ok=True)
        adapter_class(model_id.scheme).save_untrained(model_id.name, target)
    return target


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decode_rate(adapter: ModelAdapter, dataset: Dataset, limit: int) -> float:
    """D: read + decode + preprocess images per second on one core (this thread)."""
    samples = dataset.samples[:limit]
    start = time.perf_counter()
    for i, sample in enumerate(samples):
        load_sample(adapter.preprocess, i, sample)
    return len(samples) / (time.perf_counter() - start)


def batch_of(adapter: ModelAdapter, dataset: Dataset, size: int) -> np.ndarray:
    samples = dataset.samples[:size]
    arrays = [load_sample(adapter.preprocess, i, s).array for i, s in enumerate(samples)]
    chosen = [a for a in arrays if a is not None]
    return np.stack([chosen[i % len(chosen)] for i in range(size)])


def forward_timings(adapter: ModelAdapter, batch: np.ndarray, repeats: int) -> dict[str, float]:
    """Raw forward (the bare framework call on device inputs) and the harness's batch latency
    (what evalkit times and reports: host batch in, probabilities out), plus, for torch, the
    same forward under ``torch.utils.benchmark.Timer``."""
    inference = adapter.inference
    inputs = inference.to_device(batch)
    inference.forward(inputs)  # warm-up
    adapter.predict(batch)
    raw = _median_seconds(lambda: inference.to_host(inference.forward(inputs)), repeats)
    harness = _median_seconds(lambda: adapter.predict(batch), repeats)
    result = {"raw_forward_s": raw, "harness_batch_s": harness}
    if adapter.framework == "torch":
        import torch
        from torch.utils.benchmark import Timer

        timer = Timer(
            "forward(x)",
            globals={"forward": inference.forward, "x": inputs},
            num_threads=torch.get_num_threads(),  # Timer defaults to one thread
        )
        result["timer_forward_s"] = timer.blocked_autorange(min_run_time=raw * repeats).median
    return result


def forward_rate(adapter: ModelAdapter, batch: np.ndarray, repeats: int = 3) -> float:
    """F: images per second of the bare forward pass (outputs on the host), median of
    ``repeats`` after one untimed call."""
    inference = adapter.inference
    inputs = inference.to_device(batch)
    inference.to_host(inference.forward(inputs))
    seconds = _median_seconds(lambda: inference.to_host(inference.forward(inputs)), repeats)
    return len(batch) / seconds


def forward_variants(adapter: ModelAdapter, batch: np.ndarray) -> dict[str, float]:
    """F under glibc's default allocator and under evalkit's setting, and (torch) in each
    memory layout; the model is left in the layout it had."""
    inference = adapter.inference
    was_channels_last = inference.runtime().get("channels_last") is True
    inference.use_channels_last(False)
    rates = {}
    with glibc_defaults() as switched:
        if switched:
            rates["eager, glibc default allocator"] = forward_rate(adapter, batch)
    rates["eager"] = forward_rate(adapter, batch)
    if inference.use_channels_last(True):
        rates["eager, channels_last"] = forward_rate(adapter, batch)
    inference.use_channels_last(was_channels_last)
    return rates


def runtime_rates(
    model: str, dataset: Dataset, options: EvalOptions, batch_size: int
) -> tuple[dict[str, dict[str, Any]], ModelAdapter | None]:
    """F of each accelerated runtime of the model's framework (exported and checked against
    eager as a run would), and the fastest one's adapter."""
    framework = adapter_class(parse_model_id(model).scheme).framework
    rows: dict[str, dict[str, Any]] = {}
    fastest: ModelAdapter | None = None
    for runtime in FRAMEWORK_RUNTIMES.get(framework, ("eager",))[1:]:
        start = time.perf_counter()
        try:
            adapter = load_model(model, options.replace(runtime=runtime))
        except EvalkitError as error:
            rows[runtime] = {"error": str(error)}
            continue
        ready = time.perf_counter() - start
        rate = forward_rate(adapter, batch_of(adapter, dataset, batch_size))
        rows[runtime] = {
            "forward_img_s": rate,
            "load_and_export_s": ready,
            "agreement": adapter.inference.agreement,
        }
        best = max((r.get("forward_img_s", 0.0) for r in rows.values()), default=0.0)
        if rate >= best:
            fastest = adapter
    return rows, fastest


def naive_rate(adapter: ModelAdapter, dataset: Dataset, limit: int) -> float:
    """The loop a first script would write: one image at a time, load, preprocess, predict."""
    samples = dataset.samples[:limit]
    start = time.perf_counter()
    for sample in samples:
        with Image.open(sample.path) as image:
            array = adapter.preprocess(image.convert("RGB"))
        adapter.predict(array[None])
    return len(samples) / (time.perf_counter() - start)


def harness_run(
    adapter: ModelAdapter,
    dataset: Dataset,
    batch_size: int | str = AUTO,
    channels_last: bool | str = AUTO,
) -> dict[str, Any]:
    """``evaluate_adapter`` end to end (``batch_size`` auto: evalkit's default, the probe's
    choice, as ``channels_last``)."""
    # speed does not depend on the labels: map the synthetic classes onto the model's first ones
    keys = adapter.labels.keys
    mapping = {label: keys[i % len(keys)] for i, label in enumerate(dataset.classes)}
    run = evaluate_adapter(
        adapter,
        dataset,
        batch_size=batch_size,
        channels_last=channels_last,
        class_map=mapping,
        cache=False,  # speed is measured: nothing may come from the prediction cache
    )
    timing = run.timing
    return {
        "images": timing.images,
        "batch_size": timing.batch_size,
        "channels_last": run.environment.runtime.fields().get("channels_last"),
        "probe": run.environment.runtime.fields().get("tuning", {}).get("img_s", {}),
        "throughput_img_s": timing.throughput_img_s,
        "batch_p50_ms": timing.batch_latency_ms.p50,
        "overhead_fraction": timing.overhead_fraction,
        "wait_data_s": timing.stage("wait_data"),
        "wall_s": timing.stage("wall"),
    }


def bound(forward: float, decode: float, cores: int) -> float:
    """Throughput if all CPU work (forward passes at ``forward`` img/s on all cores, decoding at
    ``decode`` img/s per core) were packed perfectly."""
    return cores / (cores / forward + 1 / decode)


def bench_model(
    model: str,
    dataset: Dataset,
    *,
    batch_size: int,
    sweep: Sequence[int],
    options: EvalOptions,
    weights_dir: Path,
    runtimes: bool = True,
) -> dict[str, Any]:
    # model files carry their weights; zoo models get untrained ones (speed does not depend on
    # the values, and nothing is downloaded)
    zoo = parse_model_id(model).scheme in NAMED
    weights = {model: str(untrained_weights(model, weights_dir))} if zoo else {}
    options = options.replace(weights=weights)
    adapter = load_model(model, options)
    cores = os.cpu_count() or 1
    batch = batch_of(adapter, dataset, batch_size)
    variants = forward_variants(adapter, batch)
    timings = forward_timings(adapter, batch, repeats=3)
    forward = batch_size / timings["raw_forward_s"]
    decode = decode_rate(adapter, dataset, limit=min(len(dataset), 200))
    end_to_end = harness_run(adapter, dataset)  # evalkit's defaults (batch size auto)
    probed = end_to_end.pop("probe")
    eager_best = max([forward, *variants.values(), *probed.values()])
    accelerated, fastest = (
        runtime_rates(model, dataset, options, batch_size) if runtimes else ({}, None)
    )
    best = max([eager_best, *(r.get("forward_img_s", 0.0) for r in accelerated.values())])
    row: dict[str, Any] = {
        "model": model,
        "runtime": adapter.runtime(),
        "forward_img_s": forward,
        "forward_variants_img_s": variants,
        "probe_img_s": probed,
        "runtimes": accelerated,
        "best_forward_img_s": best,
        "decode_img_s_one_core": decode,
        "bound_img_s": bound(eager_best, decode, cores),
        "best_bound_img_s": bound(best, decode, cores),
        "harness": end_to_end,
        "ratio_to_bound": end_to_end["throughput_img_s"] / bound(eager_best, decode, cores),
        "latency": _with_timer_ratio(timings),
    }
    if fastest is not None and best > eager_best:
        row |= recommended_run(fastest, dataset, row["best_bound_img_s"])
    naive = naive_rate(adapter, dataset, limit=max(4, min(len(dataset), int(2 * forward))))
    row["naive_img_s"] = naive
    row["speedup_over_naive"] = end_to_end["throughput_img_s"] / naive
    row["batch_size_sweep_img_s"] = batch_size_sweep(adapter, dataset, sweep, end_to_end)
    return row


def recommended_run(fastest: ModelAdapter, dataset: Dataset, best_bound: float) -> dict[str, Any]:
    """The harness with the fastest runtime, and how close it comes to the best bound."""
    recommended = harness_run(fastest, dataset)
    recommended.pop("probe")
    return {
        "recommended_runtime": fastest.inference.runtime()["runtime"],
        "harness_recommended": recommended,
        "ratio_to_best_bound": recommended["throughput_img_s"] / best_bound,
    }


def batch_size_sweep(
    adapter: ModelAdapter, dataset: Dataset, sizes: Sequence[int], harness: dict[str, Any]
) -> dict[str, float]:
    """Harness img/s at each batch size, in the layout the default run chose."""
    layout = harness["channels_last"]
    layout = layout if isinstance(layout, bool) else AUTO
    return {
        str(size): harness_run(adapter, _first(dataset, 4 * size), size, layout)["throughput_img_s"]
        for size in sizes
    }


def _with_timer_ratio(timings: dict[str, float]) -> dict[str, float]:
    ratios = {"harness_vs_raw": timings["harness_batch_s"] / timings["raw_forward_s"]}
    if "timer_forward_s" in timings:
        ratios["harness_vs_timer"] = timings["harness_batch_s"] / timings["timer_forward_s"]
    return timings | ratios


def _first(dataset: Dataset, n: int) -> Dataset:
    return subset(dataset, limit=min(n, len(dataset)), sample="first")


PEER_LOOPS = {"torchvision:resnet50": "torch", "keras:MobileNetV2": "tf"}


def _timed_process(command: Sequence[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise EvalkitError(f"{' '.join(command[:4])} … failed: {lines[-1]}")
    return wall, done.stdout


def evalkit_process(
    model: str, folder: Path, weights: Path, out: Path, runtime: str = "eager"
) -> dict[str, Any]:
    """``evalkit run`` with its defaults as a user runs it (a new process, results and report
    written); the prediction cache is off so that every image is evaluated."""
    command = [sys.executable, "-m", "evalkit.cli", "run", "--model", model, "--data", str(folder)]
    command += ["--weights", f"{model}={weights}", "--no-cache", "--out", str(out)]
    command += ["--runtime", runtime]
    wall, _ = _timed_process(command)
    run = json.loads((out / "results.json").read_text())["runs"][0]
    shutil.rmtree(out, ignore_errors=True)
    return {
        "process_s": wall,
        "steady_img_s": run["timing"]["throughput_img_s"],
        "images": run["timing"]["images"],
        "batch_size": run["timing"]["batch_size"],
    }


def peer_process(kind: str, folder: Path, weights: Path, batch_size: int = 32) -> dict[str, Any]:
    """A peer loop (:mod:`evalkit.peers`) in its own process."""
    wall, stdout = _timed_process(
        [sys.executable, "-m", "evalkit.peers", kind, str(folder), str(weights), str(batch_size)]
    )
    measured: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return measured | {"process_s": wall}


def peer_comparison(
    model: str, folder: Path, weights: Path, work: Path, runtime: str | None, repeats: int
) -> dict[str, Any]:
    """evalkit's default (and the recommended runtime) against the plain loop of the model's
    framework, on the same images, in alternating processes; medians of ``repeats``."""
    kind = PEER_LOOPS[model]
    evalkit_process(model, folder, weights, work / "first")  # fills the tuning cache, untimed
    runs: dict[str, list[dict[str, Any]]] = {"evalkit": [], kind: []}
    if runtime:
        runs[f"evalkit --runtime {runtime}"] = []
        evalkit_process(model, folder, weights, work / "first", runtime)  # exports once
    for i in range(repeats):
        runs["evalkit"].append(evalkit_process(model, folder, weights, work / f"e{i}"))
        runs[kind].append(peer_process(kind, folder, weights))
        if runtime:
            runs[f"evalkit --runtime {runtime}"].append(
                evalkit_process(model, folder, weights, work / f"r{i}", runtime)
            )
    medians = {
        name: {
            key: statistics.median(r[key] for r in measured)
            for key in ("process_s", "steady_img_s")
        }
        for name, measured in runs.items()
    }
    peer = medians[kind]
    ratios = {
        name: {
            "whole_process": peer["process_s"] / m["process_s"],
            "steady_state": m["steady_img_s"] / peer["steady_img_s"],
        }
        for name, m in medians.items()
        if name != kind
    }
    return {"peer": kind, "repeats": repeats, "medians": medians, "ratios": ratios}


RSS_PROBE = """
import json, sys
from evalkit.api import evaluate
run = evaluate(sys.argv[1], sys.argv[2], batch_size=64, limit=int(sys.argv[3]), cache=False)
rss = [line for line in open("/proc/self/status") if line.startswith("VmRSS")]
end = int(rss[0].split()[1]) / 1024 if rss else None
print(json.dumps({"peak_rss_mb": run.timing.peak_rss_mb, "end_rss_mb": end}))
"""


def rss_growth(root: Path, sizes: Sequence[int] = (1000, 20000)) -> dict[str, Any]:
    """Peak RSS of evaluating ``sizes`` images (demo CNN, 32x32 digits; one child each)."""
    from evalkit.demo import prepare_demo

    (model, _), test = prepare_demo()
    folder = root / f"digits-{max(sizes)}"
    if not (folder / ".complete").is_file():
        sources = sorted(test.glob("*/*.png"))
        for i in range(max(sizes)):
            source = sources[i % len(sources)]
            target = folder / source.parent.name / f"{i:06d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                try:
                    os.link(source, target)
                except OSError:  # another file system
                    shutil.copyfile(source, target)
        (folder / ".complete").touch()
    peaks, ends = {}, {}
    for size in sizes:
        done = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, model, str(folder), str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        peaks[str(size)], ends[str(size)] = measured["peak_rss_mb"], measured["end_rss_mb"]
    low, high = peaks[str(min(sizes))], peaks[str(max(sizes))]
    return {"peak_rss_mb": peaks, "end_rss_mb": ends, "growth": high / low - 1}


def _peers(model: str, folder: Path, cache: Path, runtime: Any, repeats: int) -> Any:
    weights = untrained_weights(model, cache / "weights")
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as work:
        return peer_comparison(model, folder, weights, Path(work), runtime, repeats)


def run_bench(
    *,
    models: Sequence[str],
    images: int,
    batch_size: int,
    sweep: Sequence[int],
    options: EvalOptions,
    out: Path,
    cache: Path,
    rss: bool = True,
    runtimes: bool = True,
    peers: int = 0,
) -> dict[str, Any]:
    """Everything ``evalkit bench`` measures (``peers``: repeats of the peer comparison for
    the seed models, 0 for none), written to ``out`` as JSON."""
    folder = synthetic_imagefolder(cache, images)
    dataset = read_imagefolder(folder)
    steps = len(models) + (rss is True) + sum(1 for m in models if peers and m in PEER_LOOPS)
    with stage_bar(steps, "bench") as bar:
        results = []
        for model in models:
            bar.set_postfix_str(model)
            results.append(
                bench_model(
                    model,
                    dataset,
                    batch_size=batch_size,
                    sweep=sweep,
                    options=options,
                    weights_dir=cache / "weights",
                    runtimes=runtimes,
                )
            )
            bar.update()
        for model, row in zip(models, results, strict=True):
            if peers and model in PEER_LOOPS:
                bar.set_postfix_str(f"{model} against a plain loop")
                row["peers"] = _peers(model, folder, cache, row.get("recommended_runtime"), peers)
                bar.update()
        bar.set_postfix_str("peak memory at 1k and 20k images")
        growth = rss_growth(cache) if rss else None
    from evalkit.environment import environment

    document = {
        "images": images,
        "batch_size": batch_size,
        "cores": os.cpu_count(),
        "models": results,
        "rss": growth,
        "environment": environment(),
    }
    text = json.dumps(document, indent=1, default=str)
    write_atomic(out, lambda tmp: tmp.write_text(text))
    return document


def bench_table(document: dict[str, Any]) -> Any:
    """The ratios the performance targets are about, one row per model."""
    from rich.table import Table

    table = Table(title=f"evalkit bench: {document['images']} JPEGs, {document['cores']} cores")
    for column in (
        "model",
        "F img/s",
        "D img/s (1 core)",
        "bound (best eager F)",
        "chosen batch, layout",
        "harness img/s (defaults)",
        "harness/bound",
        "naive img/s",
        "harness/naive",
        "overhead",
        "batch latency vs reference",
        "batch-size sweep img/s",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in document["models"]:
        latency = row["latency"]
        ratio = (
            f"{latency['harness_vs_timer']:.3f} (Timer)"
            if "harness_vs_timer" in latency
            else f"{latency['harness_vs_raw']:.3f} (raw)"
        )
        sweep = ", ".join(f"{k}: {v:.1f}" for k, v in row["batch_size_sweep_img_s"].items())
        harness = row["harness"]
        layout = {True: "channels_last", False: "contiguous"}.get(harness["channels_last"], "NHWC")
        table.add_row(
            row["model"],
            f"{row['forward_img_s']:.1f}",
            f"{row['decode_img_s_one_core']:.0f}",
            f"{row['bound_img_s']:.1f}",
            f"{harness['batch_size']}, {layout}",
            f"{harness['throughput_img_s']:.1f}",
            f"{row['ratio_to_bound']:.3f}",
            f"{row['naive_img_s']:.1f}",
            f"{row['speedup_over_naive']:.2f}x",
            f"{100 * row['harness']['overhead_fraction']:.2f}%",
            ratio,
            sweep,
        )
    return table


def forward_table(row: dict[str, Any]) -> Any:
    """F of one model by setting (allocator, layout, probe batch sizes, runtimes), and the
    runtime ``evalkit bench`` recommends."""
    from rich.table import Table

    table = Table(title=f"{row['model']}: forward img/s by setting")
    for column in ("setting", "F img/s", "vs eager", "agreement with eager"):
        table.add_column(column, justify="left" if column == "setting" else "right")
    eager = row["forward_variants_img_s"]["eager"]
    settings: list[tuple[str, float | None, str]] = [
        (name, rate, "") for name, rate in row["forward_variants_img_s"].items()
    ]
    for name, rate in row["probe_img_s"].items():
        settings.append((f"probe {name} (predict)", rate, ""))
    for name, measured in row["runtimes"].items():
        if "error" in measured:
            settings.append((f"--runtime {name}", None, measured["error"]))
            continue
        agreement = measured["agreement"]
        text = f"top-1 {agreement['top1']:.0%}, max |Δp| {agreement['max_abs_dp']:.1e}"
        settings.append((f"--runtime {name}", measured["forward_img_s"], text))
    for name, rate, note in settings:
        table.add_row(
            name,
            "" if rate is None else f"{rate:.1f}",
            "" if rate is None else f"{rate / eager:.2f}x",
            note,
        )
    if "recommended_runtime" in row:
        recommended = row["harness_recommended"]["throughput_img_s"]
        table.caption = (
            f"recommended: --runtime {row['recommended_runtime']} (end to end "
            f"{recommended:.1f} img/s, {row['ratio_to_best_bound']:.3f} x its bound "
            f"{row['best_bound_img_s']:.1f})"
        )
    else:
        table.caption = "recommended: the default eager runtime (no runtime was faster)"
    return table


def peers_table(row: dict[str, Any]) -> Any:
    """evalkit against the plain loop of its framework, whole process and steady state."""
    from rich.table import Table

    peers = row["peers"]
    table = Table(
        title=f"{row['model']}: against a plain {peers['peer']} loop "
        f"(same images, median of {peers['repeats']})"
    )
    for column in ("run", "process s", "steady img/s", "whole process ratio", "steady ratio"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for name, medians in peers["medians"].items():
        ratio = peers["ratios"].get(name)
        table.add_row(
            name,
            f"{medians['process_s']:.1f}",
            f"{medians['steady_img_s']:.1f}",
            f"{ratio['whole_process']:.2f}x" if ratio else "1.00x",
            f"{ratio['steady_state']:.2f}x" if ratio else "1.00x",
        )
    return table


def print_bench(document: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console = console if console.is_terminal else Console(width=320)
    console.print(bench_table(document))
    for row in document["models"]:
        console.print(forward_table(row))
        if row.get("peers"):
            console.print(peers_table(row))
    rss = document.get("rss")
    if rss:
        peaks = ", ".join(f"{k} images: {v:.1f} MB" for k, v in rss["peak_rss_mb"].items())
        console.print(f"peak RSS: {peaks} (growth {100 * rss['growth']:+.1f}%)")
