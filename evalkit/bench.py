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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from evalkit.api import evaluate_adapter
from evalkit.atomic import write_atomic
from evalkit.data.datasets import Dataset, read_imagefolder, subset
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.registry import NAMED, adapter_class, load_model, parse_model_id
from evalkit.runner import load_sample

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


def naive_rate(adapter: ModelAdapter, dataset: Dataset, limit: int) -> float:
    """The loop a first script would write: one image at a time, load, preprocess, predict."""
    samples = dataset.samples[:limit]
    start = time.perf_counter()
    for sample in samples:
        with Image.open(sample.path) as image:
            array = adapter.preprocess(image.convert("RGB"))
        adapter.predict(array[None])
    return len(samples) / (time.perf_counter() - start)


def harness_run(adapter: ModelAdapter, dataset: Dataset, batch_size: int) -> dict[str, Any]:
    # speed does not depend on the labels: map the synthetic classes onto the model's first ones
    keys = adapter.labels.keys
    mapping = {label: keys[i % len(keys)] for i, label in enumerate(dataset.classes)}
    run = evaluate_adapter(
        adapter, dataset, batch_size=batch_size, class_map=mapping, cache=False
    )  # speed is measured: nothing may come from the prediction cache
    timing = run.timing
    return {
        "images": timing.images,
        "batch_size": batch_size,
        "throughput_img_s": timing.throughput_img_s,
        "batch_p50_ms": timing.batch_latency_ms.p50,
        "overhead_fraction": timing.overhead_fraction,
        "wait_data_s": timing.stage("wait_data"),
        "wall_s": timing.stage("wall"),
    }


def bench_model(
    model: str,
    dataset: Dataset,
    *,
    batch_size: int,
    sweep: Sequence[int],
    options: EvalOptions,
    weights_dir: Path,
) -> dict[str, Any]:
    # model files carry their weights; zoo models get untrained ones (speed does not depend on
    # the values, and nothing is downloaded)
    zoo = parse_model_id(model).scheme in NAMED
    weights = {model: str(untrained_weights(model, weights_dir))} if zoo else {}
    adapter = load_model(model, options, weights=weights)
    cores = os.cpu_count() or 1
    batch = batch_of(adapter, dataset, batch_size)
    timings = forward_timings(adapter, batch, repeats=3)
    forward = batch_size / timings["raw_forward_s"]
    decode = decode_rate(adapter, dataset, limit=min(len(dataset), 200))
    bound = cores / (cores / forward + 1 / decode)
    end_to_end = harness_run(adapter, dataset, batch_size)
    naive = naive_rate(adapter, dataset, limit=max(4, min(len(dataset), int(2 * forward))))
    sizes = {
        str(size): harness_run(adapter, _first(dataset, 3 * size + size), size)["throughput_img_s"]
        for size in sweep
    }
    return {
        "model": model,
        "runtime": adapter.runtime(),
        "forward_img_s": forward,
        "decode_img_s_one_core": decode,
        "bound_img_s": bound,
        "harness": end_to_end,
        "naive_img_s": naive,
        "ratio_to_bound": end_to_end["throughput_img_s"] / bound,
        "speedup_over_naive": end_to_end["throughput_img_s"] / naive,
        "latency": _with_timer_ratio(timings),
        "batch_size_sweep_img_s": sizes,
    }


def _with_timer_ratio(timings: dict[str, float]) -> dict[str, float]:
    ratios = {"harness_vs_raw": timings["harness_batch_s"] / timings["raw_forward_s"]}
    if "timer_forward_s" in timings:
        ratios["harness_vs_timer"] = timings["harness_batch_s"] / timings["timer_forward_s"]
    return timings | ratios


def _first(dataset: Dataset, n: int) -> Dataset:
    return subset(dataset, limit=min(n, len(dataset)))


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
) -> dict[str, Any]:
    dataset = read_imagefolder(synthetic_imagefolder(cache, images))
    results = [
        bench_model(
            model,
            dataset,
            batch_size=batch_size,
            sweep=sweep,
            options=options,
            weights_dir=cache / "weights",
        )
        for model in models
    ]
    from evalkit.environment import environment

    document = {
        "images": images,
        "batch_size": batch_size,
        "cores": os.cpu_count(),
        "models": results,
        "rss": rss_growth(cache) if rss else None,
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
        "bound",
        "harness img/s",
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
        table.add_row(
            row["model"],
            f"{row['forward_img_s']:.1f}",
            f"{row['decode_img_s_one_core']:.0f}",
            f"{row['bound_img_s']:.1f}",
            f"{row['harness']['throughput_img_s']:.1f}",
            f"{row['ratio_to_bound']:.3f}",
            f"{row['naive_img_s']:.1f}",
            f"{row['speedup_over_naive']:.2f}x",
            f"{100 * row['harness']['overhead_fraction']:.2f}%",
            ratio,
            sweep,
        )
    return table


def print_bench(document: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console = console if console.is_terminal else Console(width=200)
    console.print(bench_table(document))
    rss = document.get("rss")
    if rss:
        peaks = ", ".join(f"{k} images: {v:.1f} MB" for k, v in rss["peak_rss_mb"].items())
        console.print(f"peak RSS: {peaks} (growth {100 * rss['growth']:+.1f}%)")
