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
