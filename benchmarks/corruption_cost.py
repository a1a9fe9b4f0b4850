"""What ``--corruptions imagenet-c`` costs against the run without it (docs/robustness.md).

    python benchmarks/corruption_cost.py [--model torchvision:resnet50] [--images 16]
        [--clean-images 64] [--repeats 3] [--corruptions imagenet-c] [--protocol jpeg]

Runs of the model (untrained weights, no prediction cache) on ImageNet-sized JPEGs: the base
work is the clean run's seconds per image, the median of ``--repeats`` runs over
``--clean-images`` images (several batches, so reading and decoding overlap the model as in
any real run); then one run of the first ``--images`` of them with corruptions. It counts the
image files read (once per image in both: the variants are made from the decoded image in
memory) and checks the budget: the V variants of an image should cost at most V times its base
work (wall(corrupted) - n * base <= V * n * base). The per-stage seconds show where the time
goes (the corruptions themselves run in the decode threads), and the last lines time each
corruption on one 224x224 crop, per severity.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import evalkit
import evalkit.runner
from evalkit.bench import synthetic_imagefolder, untrained_weights
from evalkit.corruption_spec import SEVERITIES, parse_corruptions
from evalkit.data.corruptions import corrupt
from evalkit.demo import cache_root


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
    cleans = [counted_run(args.model, clean_data, weights) for _ in range(args.repeats)]
    base = float(np.median([seconds / clean_images for _, seconds, _ in cleans]))
    options = {"corruptions": args.corruptions, "corruption_protocol": args.protocol}
    data = synthetic_imagefolder(root, args.images)  # the first images of the clean set
    corrupted, corrupted_s, corrupted_reads = counted_run(args.model, data, weights, **options)
    n = corrupted.dataset.evaluated
    print(f"{args.model}, JPEGs 500x375, {variants} variants per image ({chosen.spec})")
    runs = ", ".join(f"{1000 * seconds / clean_images:.1f}" for _, seconds, _ in cleans)
    print(
        f"  clean: {clean_images} images, {cleans[0][2]} reads; ms per image in "
        f"{args.repeats} runs: {runs}; base {1000 * base:.1f} ms (median)"
    )
    print(
        f"  with corruptions: {n} images, {corrupted_s:.1f} s for {n * (1 + variants)} inputs, "
        f"{corrupted_reads} reads ({corrupted_reads / n:.2f} per image)"
    )
    extra = corrupted_s - n * base
    print(
        f"  the variants cost {extra / (n * base):.1f}x the base work (limit {variants}x): "
        f"{1000 * extra / (n * variants):.1f} ms per variant"
    )
    for label, run in (("clean", cleans[0][0]), ("corrupted", corrupted)):
        stages = run.timing.stages_s or {}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in stages.items() if k != "wall")
        print(f"  {label} stages (s): {shown}")
    print_corruption_ms(chosen.corruptions)


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
