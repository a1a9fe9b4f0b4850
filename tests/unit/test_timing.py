from __future__ import annotations

import pytest

from evalkit.timing import percentiles_ms, summarize


def test_summary_excludes_warmup_and_partial_batches() -> None:
    timing = summarize(
        batch_seconds=[0.1, 0.3, 0.02],
        batch_sizes=[10, 10, 2],
        batch_size=10,
        stages={"warmup": 5.0, "forward": 0.42},
        wall=7.0,
        warmup=1,
        device="cpu",
    )
    assert timing.images == 22 and timing.device == "cpu"
    assert timing.throughput_img_s == pytest.approx(22 / 2.0)
    assert timing.forward_throughput_img_s == pytest.approx(22 / 0.42)
    assert timing.batch_latency_ms.p50 == pytest.approx(200.0)  # full batches only
    assert timing.image_latency_ms.p50 == pytest.approx(10.0)
    assert timing.stage("wall") == 7.0 and timing.peak_rss_mb > 0
    assert timing.stage("missing", "forward") == 0.42 and timing.stage("missing") == 0.0


def test_percentiles() -> None:
    result = percentiles_ms([i / 1000 for i in range(1, 101)])
    assert result["p50"] == pytest.approx(50.5) and result["p99"] == pytest.approx(99.01)
    assert percentiles_ms([])["p50"] != percentiles_ms([])["p50"]  # NaN when nothing was timed


def test_peak_rss_is_the_running_programs_not_its_parents() -> None:
    import subprocess
    import sys

    import numpy as np

    from evalkit.timing import peak_rss_mb

    held = np.ones(400 * 2**20 // 8)  # this process holds 400 MB more when the child forks
    code = "from evalkit.timing import peak_rss_mb; print(peak_rss_mb())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    child = float(done.stdout.strip())
    assert child < peak_rss_mb() - 300, (child, peak_rss_mb())  # ru_maxrss would say otherwise
    del held
