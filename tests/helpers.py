"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

# ImageNet classes used by the fixture datasets: tench, goldfish, daisy
WNIDS = ("n01440764", "n01443537", "n11939491")


def make_imagefolder(
    root: Path, photos: list[Image.Image], labels: tuple[str, ...] = WNIDS, per_class: int = 2
) -> Path:
    for c, label in enumerate(labels):
        folder = root / label
        folder.mkdir(parents=True)
        for j in range(per_class):
            photos[(c + j) % len(photos)].save(folder / f"img{j}.jpg", quality=90)
    return root


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m evalkit.cli ARGS`` in a fresh process (so import order is real)."""
    return subprocess.run(
        [sys.executable, "-m", "evalkit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_user_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """One ``evalkit: error:`` line on stderr, no traceback, a non-zero exit."""
    assert done.returncode not in (0, 1), done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("evalkit: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def run_with_weights(
    model: str, data: Path, weights_file: Path, *extra: str | Path
) -> subprocess.CompletedProcess[str]:
    """``evalkit run`` of one model on ``data`` with a local weights file."""
    return run_cli(
        "run", "--model", model, "--data", data, "--weights", f"{model}={weights_file}", *extra
    )


def synthetic_runs(
    n: int,
    classes: list[str],
    *,
    models: int = 2,
    accuracy: float = 0.76,
    root: str = "/nonexistent/val",
    seed: int = 0,
) -> list[Any]:
    """RunResults of ``models`` fake models on ``n`` samples (for report tests; no images)."""
    from evalkit.labels import LabelSpace
    from evalkit.metrics import classification_metrics
    from evalkit.results import RunResult

    rng = np.random.default_rng(seed)
    space = LabelSpace.from_names(classes)
    k = len(classes)
    y_true = rng.integers(0, k, n)
    runs = []
    for m in range(models):
        correct = rng.random(n) < accuracy + 0.04 * m
        top = np.stack([(y_true + rng.integers(1, k, n) + j) % k for j in range(5)], axis=1)
        top[:, 0] = np.where(correct, y_true, top[:, 0])
        probs = -np.sort(-rng.random((n, 5)), axis=1)
        frame = pd.DataFrame(
            {
                "path": [f"{classes[t]}/img{i:05d}.jpg" for i, t in enumerate(y_true)],
                "label": [classes[t] for t in y_true],
                "target": y_true,
                "predicted": [classes[t] for t in top[:, 0]],
            }
        )
        for j in range(5):
            frame[f"top{j + 1}"], frame[f"prob{j + 1}"] = top[:, j], probs[:, j]
        runs.append(
            RunResult(
                model={
                    "id": f"torch-export:/models/model-{m}.pt2",
                    "framework": "torch",
                    "weights": {"file": f"/models/model-{m}.pt2", "sha256": "ab" * 32},
                    "preprocessing": {"crop": 224, "resize": 256, "interpolation": "bilinear"},
                    "label_space": space.describe(),
                },
                dataset={
                    "path": root,
                    "format": "imagefolder",
                    "n": n,
                    "classes": list(classes),
                    "subset": "all",
                    "fingerprint": "sha256:" + "0" * 64,
                },
                metrics=classification_metrics(y_true, top, y_true, top[:, 0], classes),
                timing={
                    "batch_size": 32,
                    "batch_latency_ms": {"p50": 100.0 + 50 * m, "p90": 120.0, "p99": 130.0},
                    "batch_latencies_ms": list(rng.normal(100 + 50 * m, 5, max(1, n // 32))),
                    "image_latency_ms": {"p50": 3.1},
                    "throughput_img_s": 300.0 - 50 * m,
                    "forward_throughput_img_s": 320.0,
                    "stages_s": {
                        "read": 1.0,
                        "decode": 4.0,
                        "preprocess": 3.0,
                        "forward": 15.0,
                        "wall": 16.0,
                    },
                    "peak_rss_mb": 900.0,
                    "device": "cpu",
                },
                failures=[{"file": f"{classes[0]}/broken.jpg", "reason": "cannot identify image"}],
                environment={"cpu": "test cpu", "cpu_count": 2, "python": "3.11", "commit": None},
                predictions=frame,
            )
        )
    return runs
