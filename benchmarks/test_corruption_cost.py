"""The arithmetic of ``corruption_cost.py``'s verdict (the measurement itself is run by hand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from corruption_cost import alternating_blocks, bootstrap_median, pair_ratios, verdict

from evalkit.corruption_spec import parse_corruptions
from evalkit.data.datasets import Sample
from evalkit.plan import PlannedSample, Variant, variants_of

FOG = variants_of(parse_corruptions("fog:1,2"), "jpeg", 0)


def planned(index: int, variant: Variant | None = None) -> PlannedSample:
    sample = Sample(Path(f"/x/{index}.jpg"), "a")
    return PlannedSample(index, sample, f"{index}.jpg", 1, f"sha{index}", 0, variant)


def test_blocks_alternate_abba_with_equal_sizes_and_one_image_per_corrupted_block() -> None:
    clean = [planned(i) for i in range(5)]
    corrupted = [planned(i, v) for i in range(4) for v in (None, *FOG)]
    blocks = alternating_blocks(clean, corrupted, 3, 4)
    kinds = [kind for kind, _ in blocks]
    assert kinds == ["clean", "corrupted", "corrupted", "clean"] * 2
    assert [shard.number for _, shard in blocks] == list(range(8))
    assert all(len(shard.samples) == 3 for _, shard in blocks)
    images = [{p.index for p in shard.samples} for kind, shard in blocks if kind == "corrupted"]
    assert images == [{0}, {1}, {2}, {3}]
    cleans = [p.index for kind, shard in blocks if kind == "clean" for p in shard.samples]
    assert cleans == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]  # cycling through the clean set


def test_pair_ratios_charge_the_image_its_clean_input_and_drop_the_warm_up_pair() -> None:
    # 1 + 75 inputs a block; a clean image costs 36 ms; the copies 35 ms each: 75 x 35/36
    kinds = ["clean", "corrupted", "corrupted", "clean", "clean", "corrupted"]
    clean, image = 76 * 0.036, 0.036 + 75 * 0.035
    seconds = [9.0, 9.0, image, clean, clean, image]
    ratios, clean_s, corrupted_s = pair_ratios(kinds, seconds, 76)
    np.testing.assert_allclose(ratios, [75 * 35 / 36] * 2)
    np.testing.assert_allclose(clean_s, [0.036, 0.036])
    np.testing.assert_allclose(corrupted_s, [image / 76] * 2)


def test_verdict_needs_the_whole_interval_on_one_side() -> None:
    assert verdict(72.0, 74.9, 75).startswith("under")
    assert verdict(75.1, 77.0, 75).startswith("OVER")
    assert verdict(73.0, 75.5, 75).startswith("within")
    low, high = bootstrap_median(np.array([73.0, 74.0, 74.5, 75.0, 76.0] * 4))
    assert 73.0 <= low <= 74.5 <= high <= 76.0
