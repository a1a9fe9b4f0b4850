"""Timing summaries: percentiles, per-stage seconds, peak memory."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalkit.results import Latency, Timing


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "mean": float("nan")}
    ms = np.asarray(seconds) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(ms.mean())}


SPREAD = 0.5  # batch latencies' interquartile range wider than this share of the median: noisy
BUSY = 0.75  # a 1-minute load average above this share of the CPUs when timing starts: busy


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def noise(batch_ms: Sequence[float], load: float | None, cpus: int | None) -> list[str]:
    """Why timings may not be comparable with timings taken on a quiet machine."""
    reasons = []
    if load is not None and cpus and load > BUSY * cpus:
        reasons.append(
            f"the machine was busy when timing started (load average {load:.1f} on {cpus} CPUs)"
        )
    if len(batch_ms) >= 5:
        # quartiles, not p10-p90: one slow batch (a GC pause) is not a busy machine
        p25, p50, p75 = np.percentile(np.asarray(batch_ms), [25, 50, 75])
        if p50 > 0 and (p75 - p25) / p50 > SPREAD:
            spread = 100 * (p75 - p25) / p50
            reasons.append(
                f"batch latencies vary widely (p25-p75 spans {spread:.0f}% of the median)"
            )
    return reasons


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far.

    On Linux, ``VmHWM`` of the running program: ``ru_maxrss`` also counts the memory of the
    parent at the ``fork`` that started this process (the kernel keeps it across ``exec``), so
    a child of a large process would report the parent's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def summarize(
    *,
    batch_seconds: Sequence[float],
    batch_sizes: Sequence[int],
    batch_size: int,
    stages: dict[str, float],
    wall: float,
    warmup: int,
    device: str,
) -> Timing:
    """The results file's ``timing`` section."""
    images = int(sum(batch_sizes))
    full = [s for s, n in zip(batch_seconds, batch_sizes, strict=True) if n == batch_size]
    per_image = [s / n for s, n in zip(batch_seconds, batch_sizes, strict=True)]
    forward = stages.get("forward", 0.0)
    timed_wall = wall - stages.get("warmup", 0.0)  # warm-up is excluded from throughput
    # what the main thread spent neither in the model nor waiting for decoded images
    overhead = max(0.0, timed_wall - forward - stages.get("wait_data", 0.0))
    return Timing(
        batch_size=batch_size,
        warmup_batches=warmup,
        timed_batches=len(batch_seconds),
        images=images,
        batch_latency_ms=Latency(**percentiles_ms(full or list(batch_seconds))),
        batch_latencies_ms=[round(1000 * s, 3) for s in batch_seconds],
        image_latency_ms=Latency(**percentiles_ms(per_image)),
        throughput_img_s=images / timed_wall if timed_wall > 0 and images else float("nan"),
        forward_throughput_img_s=images / forward if forward > 0 else float("nan"),
        stages_s={**stages, "wall": wall},
        overhead_s=overhead,
        overhead_fraction=overhead / timed_wall if timed_wall > 0 else float("nan"),
        peak_rss_mb=peak_rss_mb(),
        device=device,
    )


def stage_bar(total: int, label: str, unit: str = "step") -> Any:
    """A progress bar on stderr for long steps (training epochs, benchmark stages); shown only
    on a terminal, so logs and captured output stay clean."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit=unit, disable=not sys.stderr.isatty(), leave=False)
