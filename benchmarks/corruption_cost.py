"""What ``--corruptions imagenet-c`` costs against the run without it (docs/robustness.md).

    python benchmarks/corruption_cost.py [--model torchvision:resnet50] [--images 16]
        [--corruptions imagenet-c] [--protocol jpeg]

Two runs of the model (untrained weights, no prediction cache) on the same ImageNet-sized JPEGs:
without corruptions, then with them. It counts the image files read in each (once per image
in both: the variants are made from the decoded image in memory) and compares the wall times:
the V variants of a run should cost at most V times the base work (wall(corrupted) - wall(clean)
<= V * wall(clean)). The per-stage seconds show where the rest goes (the corruptions themselves
run in the decode threads), and the last lines time each corruption on one 224x224 crop.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

import evalkit
import evalkit.runner
from evalkit.bench import synthetic_imagefolder, untrained_weights
from evalkit.corruption_spec import parse_corruptions
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


def corruption_ms(names: tuple[str, ...], repeats: int = 3) -> dict[str, float]:
    """Milliseconds per 224x224 crop of each corruption at severity 3 (best of ``repeats``)."""
    crop = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    found = {}
    for name in names:
        best = float("inf")
        for seed in range(repeats):
            start = time.perf_counter()
            corrupt(crop, name, 3, seed)
            best = min(best, time.perf_counter() - start)
        found[name] = 1000 * best
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:resnet50")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--corruptions", default="imagenet-c")
    parser.add_argument("--protocol", default="jpeg", choices=("jpeg", "memory"))
    args = parser.parse_args()
    root = cache_root(None).parent / "bench-v1"
    data = synthetic_imagefolder(root, args.images)
    weights = untrained_weights(args.model, root / "weights")
    chosen = parse_corruptions(args.corruptions)
    variants = len(chosen.pairs())
    clean, clean_s, clean_reads = counted_run(args.model, data, weights)
    options = {"corruptions": args.corruptions, "corruption_protocol": args.protocol}
    corrupted, corrupted_s, corrupted_reads = counted_run(args.model, data, weights, **options)
    n = clean.dataset.evaluated
    print(f"{args.model}, {n} JPEGs 500x375, {variants} variants per image ({chosen.spec})")
    print(f"  clean run: {clean_s:.1f} s ({1000 * clean_s / n:.1f} ms/img), {clean_reads} reads")
    print(
        f"  with corruptions: {corrupted_s:.1f} s for {n * (1 + variants)} inputs, "
        f"{corrupted_reads} reads ({corrupted_reads / n:.2f} per image)"
    )
    extra = (corrupted_s - clean_s) / clean_s
    print(
        f"  the variants cost {extra:.1f}x the base work (limit {variants}x): "
        f"{1000 * (corrupted_s - clean_s) / (n * variants):.1f} ms per variant"
    )
    for label, run in (("clean", clean), ("corrupted", corrupted)):
        stages = run.timing.stages_s or {}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in stages.items() if k != "wall")
        print(f"  {label} stages (s): {shown}")
    timings = corruption_ms(chosen.corruptions)
    print(
        "  ms per 224x224 crop, severity 3: "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
    )
    print(f"  mean {np.mean(list(timings.values())):.1f} ms")


if __name__ == "__main__":
    main()
