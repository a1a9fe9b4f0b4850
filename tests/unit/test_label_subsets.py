"""Label-subset benchmarks (ImageNet-A/R: outputs restricted before top-k) and the ImageNet-V2
layout (class folders named by ImageNet-1k index)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image
from scipy.special import softmax

from evalkit import evaluate
from evalkit.data.datasets import detect_format, load_dataset
from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.labelsets import (
    BUNDLED,
    load_label_subset,
    matching_bundled,
    restrict,
    subset_outputs,
)
from evalkit.models.base import describe_model, weights_record
from evalkit.preprocess import ImageTransform
from evalkit.results import ModelInfo
from helpers import make_imagefolder

WNIDS, _ = LabelSpace.imagenet1k().keys, None
TENCH = 0  # output 0 (n01440764) is in neither ImageNet-A nor ImageNet-R


def test_bundled_lists_are_200_imagenet_classes_in_index_order() -> None:
    space = LabelSpace.imagenet1k()
    for name in BUNDLED:
        subset = load_label_subset(name)
        outputs = subset_outputs(subset, space)
        assert len(subset.entries) == 200 == outputs.size
        assert list(subset.entries) == [space.keys[i] for i in outputs]  # index order
        assert subset.source.endswith(f"{name}.txt")
    a, r = (set(load_label_subset(n).entries) for n in ("imagenet-a", "imagenet-r"))
    assert len(a & r) == 86 and "n01440764" not in a | r
    assert matching_bundled(sorted(a)) == "imagenet-a" and matching_bundled(["x"]) is None


def test_restrict_is_the_softmax_of_the_kept_logits() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (64, 1000))
    kept = subset_outputs(load_label_subset("imagenet-r"), LabelSpace.imagenet1k())
    masked = restrict(softmax(logits, axis=1).astype(np.float32), kept)
    assert masked[:, kept] == pytest.approx(softmax(logits[:, kept], axis=1), abs=1e-6)
    assert not masked[:, np.setdiff1d(np.arange(1000), kept)].any()


def test_class_list_files(tmp_path: Path) -> None:
    listing = tmp_path / "mine.txt"
    listing.write_text("# my classes\nn01440764\n1  # goldfish by index\ndaisy\n")
    subset = load_label_subset(str(listing))
    assert subset.name == "mine" and subset.entries == ("n01440764", "1", "daisy")
    assert subset_outputs(subset, LabelSpace.imagenet1k()).tolist() == [0, 1, 985]
    for text, message in [
        ("# nothing\n", "lists no classes"),
        ("n01440764\nn01440764\n", "twice"),
        ("n01440764\nnot-a-class\n", "not classes of the model"),
    ]:
        listing.write_text(text)
        with pytest.raises(EvalkitError, match=message):
            subset_outputs(load_label_subset(str(listing)), LabelSpace.imagenet1k())
    with pytest.raises(EvalkitError, match="neither imagenet-a nor imagenet-r nor a file"):
        load_label_subset("imagenet-x")


class FixedInference:
    """Every image: tench (outside the subsets) first, then the given class."""

    device = "cpu"

    def __init__(self, second: int) -> None:
        self.logits = np.zeros(1000)
        self.logits[TENCH], self.logits[second] = 10.0, 8.0
        self.agreement: dict[str, Any] = {}

    def to_device(self, batch: np.ndarray) -> np.ndarray:
        return batch

    def use_channels_last(self, enabled: bool) -> bool:
        return False

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        return np.tile(self.logits, (len(inputs), 1))

    def to_host(self, outputs: np.ndarray) -> np.ndarray:
        return outputs

    def predict(self, batch: np.ndarray) -> np.ndarray:
        result: np.ndarray = softmax(self.forward(batch), axis=1).astype(np.float32)
        return result

    def parameter_count(self) -> int:
        return 0

    def reset(self) -> None:
        pass

    def device_stages(self) -> dict[str, float]:
        return {}

    def runtime(self) -> dict[str, Any]:
        return {"device": "cpu", "runtime": "numpy"}


class FixedAdapter:
    framework = "numpy"
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def __init__(self, second: int) -> None:
        self.id = "fixed:imagenet"
        self.labels = LabelSpace.imagenet1k()
        self.transform = ImageTransform(crop=8, resize=None, layout="NHWC")
        self.inference = FixedInference(second)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.transform(image)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.inference.predict(batch)

    def describe(self) -> ModelInfo:
        return describe_model(self, weights_record(None, "none"), self.transform.describe())

    def runtime(self) -> dict[str, Any]:
        return self.inference.runtime()


def test_subset_masks_outputs_before_top_k(tmp_path: Path, photos: list[Image.Image]) -> None:
    only_r = set(load_label_subset("imagenet-r").entries)
    a_classes = [c for c in load_label_subset("imagenet-a").entries if c not in only_r]
    data = make_imagefolder(tmp_path / "a", photos, labels=tuple(a_classes[:2]))
    second = LabelSpace.imagenet1k().resolve(a_classes[0])
    assert second is not None
    options = {"batch_size": 2, "cache_dir": tmp_path / "cache"}
    full = evaluate(FixedAdapter(second), data, **options)
    assert full.top1 == 0 and full.top5 == 0.5  # tench wins; the true class is second
    masked = evaluate(FixedAdapter(second), data, label_subset="imagenet-a", **options)
    assert masked.top1 == 0.5 and masked.top5 == 1.0  # not the cached full-space rows
    subset = masked.model.label_space.subset
    assert subset is not None and subset.name == "imagenet-a" and subset.classes == 200
    assert masked.options is not None and masked.options["label_subset"] == "imagenet-a"
    rows = masked.predictions
    assert set(rows["top1"]) <= {
        int(o) for o in subset_outputs(load_label_subset("imagenet-a"), LabelSpace.imagenet1k())
    }
    p_second = np.exp(8.0) / (np.exp(8.0) + 199)
    right = rows[rows["label"] == a_classes[0]]
    assert right["p_true"].to_numpy() == pytest.approx(p_second, rel=1e-5)
    with pytest.raises(EvalkitError, match="outside the label subset imagenet-r"):
        evaluate(FixedAdapter(second), data, label_subset="imagenet-r", **options)


def test_imagenet_v2_layout(tmp_path: Path) -> None:
    root = tmp_path / "v2"
    pixel = Image.new("RGB", (4, 4), (9, 9, 9))
    for index in range(1000):
        (root / str(index)).mkdir(parents=True)
        pixel.save(root / str(index) / "a.png")
    assert detect_format(root) == "imagenet-v2"
    dataset = load_dataset(root)
    assert dataset.format == "imagenet-v2" and len(dataset.classes) == 1000
    labels = {s.path.parent.name: s.label for s in dataset.samples}
    assert labels["0"] == "n01440764" and labels["999"] == WNIDS[999]  # index, not sort order
    assert labels["10"] == WNIDS[10]
    partial = tmp_path / "part"
    for name in ("1", "2"):
        (partial / name).mkdir(parents=True)
        pixel.save(partial / name / "a.png")
    assert detect_format(partial) == "imagefolder"  # digits 0-9 stay an ImageFolder
    assert load_dataset(partial, "imagenet-v2").classes == (WNIDS[1], WNIDS[2])
    (partial / "cat").mkdir()
    pixel.save(partial / "cat" / "a.png")
    with pytest.raises(EvalkitError, match="'cat' is not one"):
        load_dataset(partial, "imagenet-v2")
