"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
