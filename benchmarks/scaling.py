"""Local vs Ray throughput on this machine (the table in docs/scaling.md).

    python benchmarks/scaling.py [--model torchvision:resnet18] [--images 512]

Synthetic ImageNet-sized JPEGs cut from real photographs, the model with untrained weights
(speed does not depend on the values), no prediction cache. Local: one process, the framework's
default threads. Ray: a local cluster on all cores, one worker per core (``--threads 1``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import evalkit
from evalkit.bench import synthetic_imagefolder, untrained_weights
from evalkit.demo import cache_root


def measure(model: str, data: Path, weights: Path, **options: object) -> tuple[float, float]:
    start = time.perf_counter()
    result = evalkit.evaluate(model, data, weights={model: str(weights)}, cache=False, **options)
    wall = time.perf_counter() - start
    return float(result.timing.throughput_img_s or 0.0), result.metrics.top1.n / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="torchvision:resnet18")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    cache = cache_root().parent / "bench-v1"
    data = synthetic_imagefolder(cache, args.images)
    weights = untrained_weights(args.model, cache / "weights")
    common = {"batch_size": args.batch_size, "shard_size": 4 * args.batch_size}
    print(f"{args.model}, {args.images} JPEGs, {os.cpu_count()} cores")
    print("| executor | evaluation img/s | end to end img/s (incl. start-up) |")
    print("|---|---:|---:|")
    rate, total = measure(args.model, data, weights, **common)
    print(f"| local (1 process) | {rate:.1f} | {total:.1f} |")
    import ray

    ray.init(include_dashboard=False, log_to_driver=False)
    rate, total = measure(args.model, data, weights, executor="ray", threads=1, **common)
    print(f"| ray ({os.cpu_count()} workers x 1 thread) | {rate:.1f} | {total:.1f} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
