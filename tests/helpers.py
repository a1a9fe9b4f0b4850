"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
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
    *args: str | Path,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m evalkit.cli ARGS`` in a fresh process (so import order is real)."""
    return subprocess.run(
        [sys.executable, "-m", "evalkit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
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


def fake_run(
    predictions: pd.DataFrame,
    classes: list[str],
    *,
    model_id: str = "torchvision:resnet50",
    root: str = "/data/val",
    class_outputs: list[int] | None = None,
    latency_ms: float = 100.0,
    throughput: float = 300.0,
    failures: Sequence[tuple[str, str]] = (),
) -> Any:
    """A complete, valid RunResult made from a predictions table (no model, no images)."""
    from evalkit.labels import LabelSpace
    from evalkit.results import (
        DatasetInfo,
        Environment,
        Failure,
        Latency,
        ModelInfo,
        Preprocessing,
        RunResult,
        Runtime,
        Timing,
        Weights,
    )
    from evalkit.scoring import score

    outputs = class_outputs if class_outputs is not None else list(range(len(classes)))
    n = len(predictions)
    return RunResult(
        model=ModelInfo(
            id=model_id,
            framework="torch",
            weights=Weights(source="file", file="/models/m.pt2", sha256="ab" * 32, bytes=2**20),
            preprocessing=Preprocessing(
                crop=224,
                resize=256,
                interpolation="bilinear",
                divide_by=255.0,
                mean=[0.485, 0.456, 0.406],
                std=[0.229, 0.224, 0.225],
                layout="NCHW",
                resize_mode="shorter side",
                color="RGB",
            ),
            label_space=LabelSpace.from_names(classes).describe(),
        ),
        dataset=DatasetInfo(
            path=root,
            format="imagefolder",
            n=n + len(failures),
            classes=list(classes),
            subset="all",
            fingerprint="sha256:" + "0" * 64,
            evaluated=n,
            failed=len(failures),
        ),
        metrics=score(predictions, classes, outputs),
        timing=Timing(
            batch_size=32,
            warmup_batches=1,
            timed_batches=max(1, n // 32),
            images=n,
            batch_latency_ms=Latency(p50=latency_ms, p90=latency_ms * 1.2, p99=latency_ms * 1.3),
            batch_latencies_ms=[latency_ms] * max(1, n // 32),
            image_latency_ms=Latency(p50=3.1, p90=3.5, p99=4.0),
            throughput_img_s=throughput,
            forward_throughput_img_s=throughput * 1.1,
            stages_s={"read": 1.0, "decode": 4.0, "preprocess": 3.0, "forward": 15.0, "wall": 16.0},
            overhead_s=0.1,
            overhead_fraction=0.01,
            peak_rss_mb=900.0,
            device="cpu",
        ),
        failures=[Failure(file=f, reason=r) for f, r in failures],
        environment=Environment(
            python="3.11",
            platform="test",
            cpu="test cpu",
            cpu_count=2,
            packages={"evalkit": "0"},
            commit=None,
            runtime=Runtime(device="cpu", precision="fp32"),
        ),
        class_outputs=outputs,
        predictions=predictions,
    )


def predictions_table(
    paths: list[str], labels: list[str], classes: list[str], top: np.ndarray, probs: np.ndarray
) -> pd.DataFrame:
    """A predictions table for ``labels`` with model outputs ``top`` (output i = class i)."""
    from evalkit.results import predictions_frame

    return predictions_frame(
        paths=paths,
        labels=labels,
        targets=np.array([classes.index(label) for label in labels]),
        predicted=[classes[t] for t in top[:, 0]],
        topk=top,
        probs=probs,
    )


def hits_table(hits: np.ndarray, classes: list[str], **columns: object) -> pd.DataFrame:
    """A predictions table of ``len(hits)`` images (image i of class i mod k, path
    ``<class>/<i>.png``) whose top-1 is right exactly where ``hits`` is, plus extra columns."""
    n, k = hits.size, len(classes)
    y_true = np.arange(n) % k
    top = np.stack([(y_true + j) % k for j in range(5)], axis=1)
    top[~hits, 0], top[~hits, 1] = top[~hits, 1], top[~hits, 0]
    frame = predictions_table(
        [f"{classes[t]}/{i}.png" for i, t in enumerate(y_true)],
        [classes[t] for t in y_true],
        classes,
        top,
        np.tile([0.6, 0.2, 0.1, 0.05, 0.05], (n, 1)),
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


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
    rng = np.random.default_rng(seed)
    k = len(classes)
    y_true = rng.integers(0, k, n)
    runs = []
    for m in range(models):
        correct = rng.random(n) < accuracy + 0.04 * m
        top = np.stack([(y_true + rng.integers(1, k, n) + j) % k for j in range(5)], axis=1)
        top[:, 0] = np.where(correct, y_true, top[:, 0])
        probs = -np.sort(-rng.random((n, 5)), axis=1)
        frame = predictions_table(
            [f"{classes[t]}/img{i:05d}.jpg" for i, t in enumerate(y_true)],
            [classes[t] for t in y_true],
            classes,
            top,
            probs,
        )
        run = fake_run(
            frame,
            classes,
            model_id=f"torch-export:/models/model-{m}.pt2",
            root=root,
            latency_ms=100.0 + 50 * m,
            throughput=300.0 - 50 * m,
            failures=[(f"{classes[0]}/broken.jpg", "cannot identify image")],
        )
        run.timing.batch_latencies_ms = list(rng.normal(100 + 50 * m, 5, max(1, n // 32)))
        run.timing.batch_latency_ms.p90, run.timing.batch_latency_ms.p99 = 120.0, 130.0  # ties
        runs.append(run)
    return runs
