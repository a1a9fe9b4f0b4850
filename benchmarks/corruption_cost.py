"""What ``--corruptions imagenet-c`` costs against the run without it (docs/robustness.md).

    python benchmarks/corruption_cost.py [--model torchvision:resnet50] [--pairs 24]
        [--clean-images 512] [--images 16] [--repeats 1] [--corruptions imagenet-c]
        [--protocol jpeg]

The budget: the V variants of an image cost at most V times its base work, the seconds a clean
run spends on that image. Model runs use untrained weights, ImageNet-sized JPEGs (500x375),
batch 16 and no prediction cache.

1. The verdict, interleaved: the model is loaded once, then runs of the evaluation loop
   alternate, in ABBA order: a clean run (2 x (1+V) images of the clean set) and a corrupted
   run (2 images, each with its V copies: as many inputs, in the same batches). A pair's two
   runs are seconds apart, so the machine's drift (a few percent over minutes) cancels; each
   of ``--pairs`` pairs (after one that warms up) gives copies / base work = (corrupted - base)
   / base, per image, with base the clean run's seconds per image. Each run fills its loading
   pipeline from empty, as a whole run does once: by estimate about 15 ms more for copies
   (loaded in tasks of up to a batch) than for clean images, which counts against the copies.
   It prints the median of the pairs with a 95% bootstrap interval and whether the budget
   holds: under (the interval below V), over (above V), or within the measurement's resolution.
   (One stream whose shards alternate between the kinds reads 2-3% too low: at each change of
   kind the loading that runs ahead into the next shard is uneven.)
2. End to end: ``--repeats`` pairs of whole ``evalkit.evaluate`` runs, a clean run of
   ``--clean-images`` images, then ``--images`` of them with corruptions. It counts the image
   files read (once per image in both: the variants are made from the decoded image in memory),
   prints the same ratio for whole runs (whose minutes apart make it drift by several x) and the
   per-stage seconds (the corruptions run in the decode threads).
3. The CPU per model input outside the model (a clean image against a copy), and each
   corruption's milliseconds on one 224x224 crop, per severity.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import evalkit
import evalkit.runner
from evalkit.bench import synthetic_imagefolder, untrained_weights
from evalkit.corruption_spec import SEVERITIES, CorruptionSet, parse_corruptions
from evalkit.data.corruptions import corrupt
from evalkit.data.datasets import load_dataset
from evalkit.demo import cache_root
from evalkit.models.base import ModelAdapter
from evalkit.options import EvalOptions
from evalkit.plan import PlannedSample, Shard, plan_run, variants_of
from evalkit.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
from evalkit.registry import load_model
from evalkit.runner import ShardWork, load_group, run_shards
from evalkit.tuning import tune

BATCH = 16
IMAGES_PER_RUN = 2  # corrupted images in each interleaved run (152 inputs with imagenet-c)
LOOP = {"batch_size": BATCH, "warmup": 0}  # the interleaved runs' model is warm


def interleaved_ratios(
    model: str, data: Path, weights: Path, chosen: CorruptionSet, protocol: str, pairs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair of runs: what an image's copies cost over its base work, and the seconds per
    input of the clean and of the corrupted run."""
    options = EvalOptions(weights={model: str(weights)}, batch_size=BATCH)
    adapter = load_model(model, options)
    tune(adapter, options)  # the layout, as a run's executor chooses it
    dataset = load_dataset(data)
    targets = [0] * len(dataset.classes)
    variants = variants_of(chosen, protocol, 0)
    clean, copies = (
        [planned for shard in plan.shards for planned in shard.samples]
        for plan in (
            plan_run(dataset, targets, images_per_shard=BATCH),
            plan_run(dataset, targets, images_per_shard=BATCH, variants=variants),
        )
    )
    size = 1 + len(variants)
    runs = alternating_runs(clean, copies, size, IMAGES_PER_RUN, pairs + 1)
    seconds = [evaluation_seconds(adapter, items) for _, items in runs]
    kinds = [kind for kind, _ in runs]
    per_input = np.asarray(seconds[2:]) / (IMAGES_PER_RUN * size)  # the first pair warms up
    return pair_ratios(kinds[2:], per_input, size)


def evaluation_seconds(adapter: ModelAdapter, items: Sequence[PlannedSample]) -> float:
    """The seconds the evaluation loop takes over ``items`` (one shard, the model warm)."""
    start = time.perf_counter()
    for _ in run_shards(adapter, [ShardWork(Shard(0, tuple(items)), tuple(items))], **LOOP):
        pass
    return time.perf_counter() - start


def pair_ratios(
    kinds: Sequence[str], per_input: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From runs in pairs (their kinds and seconds per input): what the copies of an image cost
    over its base work (a clean image's seconds), and each pair's seconds per input of the
    clean and of the corrupted run."""
    paired = np.asarray(per_input, dtype=float).reshape(-1, 2)
    clean_first = np.asarray(kinds).reshape(-1, 2)[:, 0] == "clean"
    clean_s = np.where(clean_first, paired[:, 0], paired[:, 1])
    corrupted_s = np.where(clean_first, paired[:, 1], paired[:, 0])
    ratios = (corrupted_s * size - clean_s) / clean_s  # less the image's own clean input
    return ratios, clean_s, corrupted_s


def alternating_runs(
    clean: Sequence[PlannedSample],
    corrupted: Sequence[PlannedSample],
    size: int,
    images: int,
    pairs: int,
) -> list[tuple[str, list[PlannedSample]]]:
    """``pairs`` pairs of runs of ``images * size`` inputs each, in ABBA order: clean images
    (cycling through the clean set), and ``images`` images each with its ``size - 1`` copies."""
    cycle = itertools.cycle(clean)
    stream = iter(corrupted)
    runs = []
    for pair in range(pairs):
        kinds = ("clean", "corrupted") if pair % 2 == 0 else ("corrupted", "clean")
        for kind in kinds:
            source = cycle if kind == "clean" else stream
            runs.append((kind, list(itertools.islice(source, images * size))))
    return runs


def bootstrap_median(values: np.ndarray, draws: int = 4000) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the median (seeded)."""
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(values, (draws, len(values))), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def verdict(low: float, high: float, limit: int) -> str:
    if high < limit:
        return f"under the limit of {limit}x"
    if low > limit:
        return f"OVER the limit of {limit}x"
    return f"within the measurement's resolution of the limit of {limit}x"


def counted_run(model: str, data: Path, weights: Path, **options: Any) -> tuple[Any, float, int]:
    """The run, the seconds it spent evaluating (without loading the model and the untimed
    warm-up batch) and how many image files it read."""
    original = evalkit.runner.read_image_file
    reads = 0

    def reading(path: Path) -> bytes:
        nonlocal reads
        reads += 1
        return original(path)

    evalkit.runner.read_image_file = reading
    try:
        run = evalkit.evaluate(
            model, data, weights={model: str(weights)}, cache=False, batch_size=BATCH, **options
        )
        stages = run.timing.stages_s or {}
        return run, stages["wall"] - stages.get("warmup", 0.0), reads
    finally:
        evalkit.runner.read_image_file = original


def corruption_ms(name: str, repeats: int = 3) -> list[float]:
    """Milliseconds per 224x224 crop of corruption ``name`` at each severity (best of
    ``repeats``), with BLAS limited to one thread as in a run."""
    crop = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    found = []
    with threadpool_limits(1, "blas"):
        for severity in SEVERITIES:
            best = float("inf")
            for seed in range(repeats):
                start = time.perf_counter()
                corrupt(crop, name, severity, seed)
                best = min(best, time.perf_counter() - start)
            found.append(1000 * best)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:resnet50")
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--clean-images", type=int, default=512)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--corruptions", default="imagenet-c")
    parser.add_argument("--protocol", default="jpeg", choices=("jpeg", "memory"))
    args = parser.parse_args()
    root = cache_root(None).parent / "bench-v1"
    weights = untrained_weights(args.model, root / "weights")
    chosen = parse_corruptions(args.corruptions)
    variants = len(chosen.pairs())
    clean_data = synthetic_imagefolder(
        root, max(args.clean_images, args.images, IMAGES_PER_RUN * (args.pairs + 1))
    )
    print(f"{args.model}, JPEGs 500x375, {variants} variants per image ({chosen.spec})")
    print_interleaved(args.model, clean_data, weights, chosen, args.protocol, args.pairs)
    data = synthetic_imagefolder(root, args.images)  # the first images of the clean set
    runs = end_to_end(args.model, clean_data, data, weights, chosen, args.protocol, args.repeats)
    for label, run in zip(("clean", "corrupted"), runs, strict=True):
        stages = run.timing.stages_s or {}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in stages.items() if k != "wall")
        print(f"  {label} stages (s), last pair: {shown}")
    clean_ms, copy_ms = input_ms(data, chosen, args.protocol)
    print(
        f"  CPU per input outside the model, one thread: clean image {clean_ms:.1f} ms, "
        f"copy {copy_ms:.1f} ms"
    )
    print_corruption_ms(chosen.corruptions)


def print_interleaved(
    model: str, data: Path, weights: Path, chosen: CorruptionSet, protocol: str, pairs: int
) -> None:
    """The verdict: the interleaved pairs' ratios, their median and its interval."""
    variants = len(chosen.pairs())
    ratios, clean_s, corrupted_s = interleaved_ratios(model, data, weights, chosen, protocol, pairs)
    low, high = bootstrap_median(ratios)
    print(
        f"  interleaved, {len(ratios)} pairs of runs of {IMAGES_PER_RUN * (1 + variants)} "
        "inputs: "
        f"{1000 * np.median(clean_s):.2f} ms per clean input, "
        f"{1000 * np.median(corrupted_s):.2f} ms per input of images with their copies"
    )
    print(f"    per pair: {' '.join(f'{r:.1f}' for r in ratios)}")
    print(
        f"  the variants cost {np.median(ratios):.2f}x the base work (median of {len(ratios)} "
        f"pairs, 95% interval {low:.2f}-{high:.2f}): {verdict(low, high, variants)}"
    )


def end_to_end(
    model: str,
    clean_data: Path,
    data: Path,
    weights: Path,
    chosen: CorruptionSet,
    protocol: str,
    repeats: int,
) -> tuple[Any, Any]:
    """Pairs of whole runs: the reads they make, and the ratio of whole runs (which drifts)."""
    options = {"corruptions": chosen.spec, "corruption_protocol": protocol}
    variants = len(chosen.pairs())
    clean = corrupted = None
    for pair in range(1, repeats + 1):
        clean, clean_s, clean_reads = counted_run(model, clean_data, weights)
        corrupted, corrupted_s, reads = counted_run(model, data, weights, **options)
        images = clean.dataset.evaluated
        base, n = clean_s / images, corrupted.dataset.evaluated
        extra = corrupted_s - n * base
        print(
            f"  whole runs, pair {pair}: clean {images} images ({clean_reads} reads), "
            f"{1000 * base:.1f} ms per image; with corruptions {n} images ({reads} reads, "
            f"{reads / n:.2f} per image), {corrupted_s:.1f} s for {n * (1 + variants)} inputs, "
            f"{1000 * extra / (n * variants):.1f} ms per variant: {extra / (n * base):.1f}x"
        )
    assert clean is not None and corrupted is not None, "--repeats must be at least 1"
    return clean, corrupted


def input_ms(data: Path, chosen: CorruptionSet, protocol: str) -> tuple[float, float]:
    """CPU milliseconds per model input outside the model, on one thread (BLAS too), through
    the runner's loading code: a clean image (read, decode, measure, resize, crop, normalize)
    and a copy (corruption, JPEG step, normalize; the image's one decode and reference crop
    not counted)."""
    dataset = load_dataset(data)
    plan = plan_run(
        dataset,
        [0] * len(dataset.samples),
        images_per_shard=len(dataset.samples),
        variants=variants_of(chosen, protocol, 0),
    )
    transform = ImageTransform(crop=224, resize=256, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    direct = dataclasses.replace(transform, resize=None)  # as crop_input gives copies to it
    samples = plan.shards[0].samples  # each image followed by its copies
    images = [list(items) for _, items in itertools.groupby(samples, key=lambda p: p.index)]
    with threadpool_limits(1, "blas"):
        load_group(transform, direct, images[0])  # warm the caches (frost textures, kernels)
        start = time.thread_time()
        for items in images:
            load_group(transform, direct, items[:1])  # the clean image alone
        clean = (time.thread_time() - start) / len(images)
        start = time.thread_time()
        for items in images:
            load_group(transform, direct, items)  # the image with all its copies
        copies = len(samples) - len(images)
        copy = (time.thread_time() - start - len(images) * clean) / copies
    return 1000 * clean, 1000 * copy


def print_corruption_ms(names: tuple[str, ...]) -> None:
    """Each corruption's milliseconds per 224x224 crop, per severity and on average."""
    timings = {name: corruption_ms(name) for name in names}
    print("  ms per 224x224 crop (severities 1-5, mean):")
    for name, per_severity in timings.items():
        shown = " ".join(f"{v:5.1f}" for v in per_severity)
        print(f"    {name:18s} {shown}   {np.mean(per_severity):5.1f}")
    print(f"  mean {np.mean([np.mean(v) for v in timings.values()]):.1f} ms")


if __name__ == "__main__":
    main()
