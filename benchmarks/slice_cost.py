"""What measuring the image properties (slices) costs (the numbers in docs/slices.md).

    python benchmarks/slice_cost.py [--model torchvision:resnet50] [--images 256]

The properties are measured in the decode threads, so their cost is the extra decode time per
image. Measured here: (1) decoding ImageNet-sized JPEGs with and without the measurement, one
thread, best of three passes; (2) a whole run of the model (untrained weights, no prediction
cache) on the same files, whose wall time per image the extra decode time is compared with.
On one core the share is an upper bound: with more decode threads than cores busy with the
model, the measurement runs beside it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import evalkit
from evalkit.bench import synthetic_imagefolder, untrained_weights
from evalkit.data.decode import decode_image, decode_measured, read_image_file
from evalkit.demo import cache_root


def per_image_ms(files: list[Path], measure: bool, repeats: int = 3) -> float:
    data = [read_image_file(path) for path in files]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for blob in data:
            decode_measured(blob) if measure else decode_image(blob)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:resnet50")
    parser.add_argument("--images", type=int, default=256)
    args = parser.parse_args()
    root = cache_root(None).parent / "bench-v1"
    data = synthetic_imagefolder(root, args.images)
    files = sorted(data.glob("*/*.jpg"))
    plain, measured = per_image_ms(files, False), per_image_ms(files, True)
    weights = untrained_weights(args.model, root / "weights")
    start = time.perf_counter()
    evalkit.evaluate(args.model, data, weights={args.model: str(weights)}, cache=False)
    wall_ms = 1000 * (time.perf_counter() - start) / len(files)
    extra = measured - plain
    print(
        f"{len(files)} JPEGs 500x375: decode {plain:.2f} ms/img, with properties "
        f"{measured:.2f} ms/img (+{extra:.2f} ms)"
    )
    print(
        f"{args.model}: whole run {wall_ms:.1f} ms/img; properties add at most "
        f"{100 * extra / wall_ms:.2f}% of the wall time"
    )


if __name__ == "__main__":
    main()
