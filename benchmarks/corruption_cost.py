"""What ``--corruptions imagenet-c`` costs against the run without it (docs/robustness.md).

    python benchmarks/corruption_cost.py [--model torchvision:resnet50] [--images 16]
        [--clean-images 64] [--repeats 3] [--corruptions imagenet-c] [--protocol jpeg]

Runs of the model (untrained weights, no prediction cache) on ImageNet-sized JPEGs, in
``--repeats`` pairs: a clean run over ``--clean-images`` images (several batches, so reading and
decoding overlap the model as in any real run), whose seconds per image are the base work, then
a run of the first ``--images`` of them with corruptions. A pair's two runs are next to each
other in time, because this machine's speed drifts by a few percent over minutes. It counts the
image files read (once per image in both: the variants are made from the decoded image in
memory) and checks the budget: the V variants of an image should cost at most V times its base
work (wall(corrupted) - n * base <= V * n * base), on the median of the pairs. The per-stage
seconds show where the time goes (the corruptions themselves run in the decode threads), and
the last lines time each corruption on one 224x224 crop, per severity.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
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
from evalkit.plan import plan_run, variants_of
from evalkit.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
from evalkit.runner import load_group


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
            model, data, weights={model: str(weights)}, cache=False, batch_size=16, **options
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
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--clean-images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corruptions", default="imagenet-c")
    parser.add_argument("--protocol", default="jpeg", choices=("jpeg", "memory"))
    args = parser.parse_args()
    root = cache_root(None).parent / "bench-v1"
    clean_images = max(args.clean_images, args.images)
    weights = untrained_weights(args.model, root / "weights")
    chosen = parse_corruptions(args.corruptions)
    variants = len(chosen.pairs())
    clean_data = synthetic_imagefolder(root, clean_images)
    data = synthetic_imagefolder(root, args.images)  # the first images of the clean set
    options = {"corruptions": args.corruptions, "corruption_protocol": args.protocol}
    print(f"{args.model}, JPEGs 500x375, {variants} variants per image ({chosen.spec})")
    ratios = []
    for pair in range(1, args.repeats + 1):
        clean, clean_s, clean_reads = counted_run(args.model, clean_data, weights)
        corrupted, corrupted_s, reads = counted_run(args.model, data, weights, **options)
        base, n = clean_s / clean_images, corrupted.dataset.evaluated
        extra = corrupted_s - n * base
        ratios.append(extra / (n * base))
        print(
            f"  pair {pair}: clean {clean_images} images ({clean_reads} reads), "
            f"{1000 * base:.1f} ms per image; with corruptions {n} images ({reads} reads, "
            f"{reads / n:.2f} per image), {corrupted_s:.1f} s for {n * (1 + variants)} inputs, "
            f"{1000 * extra / (n * variants):.1f} ms per variant: {ratios[-1]:.1f}x"
        )
    print(
        f"  the variants cost {np.median(ratios):.1f}x the base work (median of {len(ratios)} "
        f"pairs; limit {variants}x)"
    )
    for label, run in (("clean", clean), ("corrupted", corrupted)):
        stages = run.timing.stages_s or {}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in stages.items() if k != "wall")
        print(f"  {label} stages (s), last pair: {shown}")
    clean_ms, copy_ms = input_ms(data, chosen, args.protocol)
    print(
        f"  CPU per input outside the model, one thread: clean image {clean_ms:.1f} ms, "
        f"copy {copy_ms:.1f} ms"
    )
    print_corruption_ms(chosen.corruptions)


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
