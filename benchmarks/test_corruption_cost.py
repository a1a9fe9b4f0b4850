"""The arithmetic of ``corruption_cost.py``'s verdict (the measurement itself is run by hand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from corruption_cost import alternating_runs, bootstrap_median, pair_ratios, verdict

from evalkit.corruption_spec import parse_corruptions
from evalkit.data.datasets import Sample
from evalkit.plan import PlannedSample, Variant, variants_of

FOG = variants_of(parse_corruptions("fog:1,2"), "jpeg", 0)


def planned(index: int, variant: Variant | None = None) -> PlannedSample:
    sample = Sample(Path(f"/x/{index}.jpg"), "a")
    return PlannedSample(index, sample, f"{index}.jpg", 1, f"sha{index}", 0, variant)


def test_runs_alternate_abba_with_equal_inputs_and_whole_images_with_their_copies() -> None:
    clean = [planned(i) for i in range(5)]
    corrupted = [planned(i, v) for i in range(8) for v in (None, *FOG)]
    runs = alternating_runs(clean, corrupted, 3, 2, 4)
    assert [kind for kind, _ in runs] == ["clean", "corrupted", "corrupted", "clean"] * 2
    assert all(len(items) == 6 for _, items in runs)
    images = [[p.index for p in items] for kind, items in runs if kind == "corrupted"]
    assert images == [[0, 0, 0, 1, 1, 1], [2, 2, 2, 3, 3, 3], [4] * 3 + [5] * 3, [6] * 3 + [7] * 3]
    assert all(items[0].variant is None for kind, items in runs if kind == "corrupted")
    cleans = [p.index for kind, items in runs if kind == "clean" for p in items]
    assert cleans == [0, 1, 2, 3, 4] * 4 + [0, 1, 2, 3]  # cycling through the clean set


def test_pair_ratios_charge_the_image_its_clean_input() -> None:
    # 1 + 75 inputs an image; a clean image costs 36 ms; the copies 35 ms each: 75 x 35/36
    kinds = ["clean", "corrupted", "corrupted", "clean"]
    image = (0.036 + 75 * 0.035) / 76
    ratios, clean_s, corrupted_s = pair_ratios(kinds, np.array([0.036, image, image, 0.036]), 76)
    np.testing.assert_allclose(ratios, [75 * 35 / 36] * 2)
    np.testing.assert_allclose(clean_s, [0.036, 0.036])
    np.testing.assert_allclose(corrupted_s, [image] * 2)


def test_verdict_needs_the_whole_interval_on_one_side() -> None:
    assert verdict(72.0, 74.9, 75).startswith("under")
    assert verdict(75.1, 77.0, 75).startswith("OVER")
    assert verdict(73.0, 75.5, 75).startswith("within")
    low, high = bootstrap_median(np.array([73.0, 74.0, 74.5, 75.0, 76.0] * 4))
    assert 73.0 <= low <= 74.5 <= high <= 76.0
