from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from evalkit.data.datasets import Dataset, Sample, load_dataset, subset
from evalkit.errors import EvalkitError
from helpers import WNIDS, make_imagefolder


def test_imagefolder(imagenet_folder: Path) -> None:
    dataset = load_dataset(imagenet_folder)
    assert dataset.format == "imagefolder"
    assert dataset.classes == WNIDS
    assert len(dataset) == 6
    assert [s.label for s in dataset.samples] == [w for w in WNIDS for _ in range(2)]
    assert dataset.relative(dataset.samples[0]) == f"{WNIDS[0]}/img0.jpg"


def test_csv_manifest_paths_are_relative_to_the_csv(imagenet_folder: Path) -> None:
    manifest = imagenet_folder / "manifest.csv"
    manifest.write_text("path,label\nn01440764/img0.jpg,tench\nn01443537/img1.jpg,1\n")
    dataset = load_dataset(manifest)
    assert dataset.format == "csv"
    assert dataset.classes == ("1", "tench")
    assert all(s.path.is_file() for s in dataset.samples)


def test_csv_manifest_needs_columns(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,class\na.jpg,x\n")
    with pytest.raises(EvalkitError, match="'path' and 'label'"):
        load_dataset(manifest)


def test_imagenet_val_with_bundled_ground_truth(tmp_path: Path, photos: list[Image.Image]) -> None:
    folder = tmp_path / "val"
    folder.mkdir()
    for number in (1, 2, 3):
        photos[0].save(folder / f"ILSVRC2012_val_{number:08d}.JPEG")
    dataset = load_dataset(folder)
    assert dataset.format == "imagenet-val"
    # the published labels of the first three validation images
    assert [s.label for s in dataset.samples] == ["n01751748", "n09193705", "n02105855"]


def test_imagenet_val_with_kaggle_solution_file(tmp_path: Path, photos: list[Image.Image]) -> None:
    folder = tmp_path / "val"
    folder.mkdir()
    photos[0].save(folder / "ILSVRC2012_val_00000001.JPEG")
    truth = tmp_path / "LOC_val_solution.csv"
    truth.write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n01440764 1 2 3 4\n")
    dataset = load_dataset(folder, "imagenet-val", ground_truth=truth)
    assert [s.label for s in dataset.samples] == ["n01440764"]


def test_unlabeled_imagenet_val_file(tmp_path: Path, photos: list[Image.Image]) -> None:
    photos[0].save(tmp_path / "holiday.jpg")
    with pytest.raises(EvalkitError, match="no ground-truth label"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda root: root / "missing", "data path not found"),
        (lambda root: root, "no images found"),
        (lambda root: (root / "cat").mkdir() or root, "class folder .*cat has no images"),
    ],
)
def test_bad_data_paths(tmp_path: Path, make: object, message: str) -> None:
    (tmp_path / "notes.txt").write_text("x")
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(EvalkitError, match=message):
        load_dataset(path)


def test_per_class_is_stratified_seeded_and_ordered(
    tmp_path: Path, photos: list[Image.Image]
) -> None:
    dataset = load_dataset(make_imagefolder(tmp_path / "d", photos, per_class=5))
    picked = subset(dataset, per_class=2, seed=1)
    assert len(picked) == 6
    assert {s.label for s in picked.samples} == set(WNIDS)
    assert picked.samples == subset(dataset, per_class=2, seed=1).samples
    assert picked.samples != subset(dataset, per_class=2, seed=2).samples
    order = [dataset.samples.index(s) for s in picked.samples]
    assert order == sorted(order)
    assert "per_class=2 seed=1" in picked.subset


def test_limit_and_bad_subset_sizes(imagenet_folder: Path) -> None:
    dataset = load_dataset(imagenet_folder)
    first = subset(dataset, limit=3, sample="first")
    assert len(first) == 3 and first.classes == WNIDS[:2]
    assert first.subset == "limit=3 of 6 sample=first"
    limited = subset(dataset, limit=3)
    assert len(limited) == 3 and limited.classes == WNIDS  # one of each class, not the first
    assert limited.subset == "limit=3 of 6 sample=stratified seed=0"
    assert subset(dataset, limit=6) is dataset  # the whole set is no subset
    with pytest.raises(EvalkitError, match="positive"):
        subset(dataset, limit=0)
    with pytest.raises(EvalkitError, match="stratified, random, first"):
        subset(dataset, limit=2, sample="middle")


def _folder_dataset(counts: dict[str, int]) -> Dataset:
    samples = tuple(
        Sample(Path(f"/d/{label}/{i:04d}.png"), label)
        for label, count in sorted(counts.items())
        for i in range(count)
    )
    return Dataset(Path("/d"), "imagefolder", samples, tuple(sorted(counts)))


def test_limit_is_a_seeded_stratified_sample_in_proportion_to_class_sizes() -> None:
    """100 of 1000 sorted ImageNet-like classes x 50 images: 100 different classes, not the
    first two; bigger classes get proportionally more; same seed, same sample."""
    big = _folder_dataset({f"c{i:03d}": 50 for i in range(1000)})
    picked = subset(big, limit=100, seed=3)
    assert len(picked) == 100 and len(picked.classes) == 100
    assert picked.samples == subset(big, limit=100, seed=3).samples
    assert picked.samples != subset(big, limit=100, seed=4).samples
    order = [big.samples.index(s) for s in picked.samples]
    assert order == sorted(order)
    skewed = _folder_dataset({"a": 600, "b": 300, "c": 100})
    counts = Counter(s.label for s in subset(skewed, limit=50).samples)
    assert counts == {"a": 30, "b": 15, "c": 5}
    uneven = Counter(s.label for s in subset(skewed, limit=7, seed=1).samples)
    assert sum(uneven.values()) == 7 and uneven["a"] >= uneven["b"] >= uneven["c"]


def test_random_limit_is_seeded_and_spans_the_set() -> None:
    big = _folder_dataset({f"c{i:03d}": 50 for i in range(100)})
    picked = subset(big, limit=200, sample="random", seed=0)
    assert len(picked) == 200 and len(picked.classes) > 50
    assert picked.subset == "limit=200 of 5000 sample=random seed=0"
    assert picked.samples == subset(big, limit=200, sample="random", seed=0).samples
