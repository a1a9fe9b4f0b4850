"""``--corruptions`` inside a run: the spec, the plan's variants, decoding once per image, the
model inputs of corrupted crops, the ``robustness`` section and the mCE gate (no model)."""

from __future__ import annotations

import dataclasses
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from evalkit.analysis.robustness import (
    ALEXNET_ERRORS,
    CORRUPTION,
    SEVERITY,
    image_terms,
    mce,
    relative_mce,
    robustness_section,
)
from evalkit.compare.checks import check_metric, paired
from evalkit.corruption_spec import CORRUPTIONS, GROUPS, parse_corruptions
from evalkit.data import corrupted as corrupted_inputs
from evalkit.data.corruptions import corrupt, jpeg_roundtrip, sample_seed
from evalkit.data.datasets import Dataset, Sample
from evalkit.data.properties import PROPERTIES
from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.options import EvalOptions
from evalkit.plan import plan_run, variants_of
from evalkit.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
from evalkit.runner import SharedImage, load_group
from evalkit.scoring import corrupted_of, predictions_of, split_variants
from evalkit.store import SCHEMA
from evalkit.tracking import run_metrics
from helpers import fake_run, hits_table

SETUP = {
    "benchmark": "imagenet-c",
    "corruptions": "noise,fog:1,3",
    "severities": [1, 3],
    "protocol": "jpeg",
    "geometry": "test",
    "seed": 0,
    "implementation": 1,
    "complete": False,
}


def test_spec_parsing_and_canonical_text() -> None:
    assert parse_corruptions("imagenet-c").spec == "imagenet-c"
    assert parse_corruptions("imagenet-c").complete
    chosen = parse_corruptions(" fog, noise : 3,1 ")
    assert chosen.corruptions == (*GROUPS["noise"], "fog") and chosen.severities == (1, 3)
    assert parse_corruptions(chosen.spec) == chosen and not chosen.complete
    assert len(parse_corruptions("imagenet-c:2").pairs()) == 15
    with pytest.raises(EvalkitError, match="did you mean gaussian_noise"):
        parse_corruptions("gausian_noise")
    for bad in ("imagenet-c:0", "imagenet-c:6", "imagenet-c:x", "imagenet-c:", "fog:3,noise"):
        with pytest.raises(EvalkitError, match="severities are 1 to 5, comma-separated, after a"):
            parse_corruptions(bad)
    with pytest.raises(EvalkitError, match="corruption-protocol"):
        EvalOptions(corruptions="fog", corruption_protocol="png")


def test_identity_names_the_corruptions_and_the_seed_only_when_it_matters() -> None:
    plain = EvalOptions().identity()
    assert "corruptions" not in plain and "seed" not in plain
    noisy = EvalOptions(corruptions="noise").identity()
    assert noisy["corruptions"] == "gaussian_noise,shot_noise,impulse_noise"
    assert noisy["corruption_protocol"] == "jpeg" and "seed" in noisy
    assert "seed" not in EvalOptions(corruptions="contrast,pixelate").identity()


@pytest.fixture()
def two_images(tmp_path: Path, photos: list[Image.Image]) -> Dataset:
    samples = []
    for i, photo in enumerate(photos[:2]):
        path = tmp_path / "c" / f"{i}.jpg"
        path.parent.mkdir(exist_ok=True)
        photo.convert("RGB").save(path, quality=95)
        samples.append(Sample(path, "c"))
    return Dataset(root=tmp_path, format="imagefolder", classes=("c",), samples=tuple(samples))


def test_plan_keeps_each_image_with_its_variants(two_images: Dataset) -> None:
    chosen = parse_corruptions("gaussian_noise,contrast:1,2")
    variants = variants_of(chosen, "jpeg", seed=0)
    plan = plan_run(two_images, [0], images_per_shard=3, variants=variants)
    assert len(plan) == 10 and len(plan.samples) == 2
    assert [len(shard.samples) for shard in plan.shards] == [5, 5]  # whole images
    assert {p.index for p in plan.shards[0].samples} == {0}
    ids = [p.id for shard in plan.shards for p in shard.samples]
    assert len(set(ids)) == 10
    plain = plan_run(two_images, [0], images_per_shard=3)
    assert plain.fingerprint == plan.fingerprint  # the data is the same data
    assert [p.id for p in plain.samples] == [p.id for p in plan.samples]

    def ids_with(protocol: str, seed: int) -> list[str]:
        again = plan_run(
            two_images, [0], images_per_shard=3, variants=variants_of(chosen, protocol, seed)
        )
        return [p.id for p in again.shards[0].samples]

    first = plan.shards[0].samples
    noise = [i for i, p in enumerate(first) if p.variant and p.variant.corruption != "contrast"]
    reseeded = ids_with("jpeg", 1)
    assert all(reseeded[i] != ids[i] for i in noise)  # noise draws from the seed
    assert reseeded[-1] == ids[4]  # contrast does not
    assert set(ids_with("memory", 0)[1:]).isdisjoint(ids)


def test_one_read_per_image_and_inputs_as_the_reference_makes_them(
    two_images: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    torchvision = pytest.importorskip("torchvision.transforms.functional")
    import evalkit.runner as runner

    reads: list[Path] = []

    original = runner.read_image_file
    monkeypatch.setattr(runner, "read_image_file", lambda p: reads.append(p) or original(p))
    transform = ImageTransform(crop=224, resize=232, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    small = dataclasses.replace(transform, crop=32, resize=36, interpolation="bicubic")
    chosen = parse_corruptions("gaussian_noise,fog,pixelate:2")
    for protocol in ("jpeg", "memory"):
        variants = variants_of(chosen, protocol, 7)
        plan = plan_run(two_images, [0], images_per_shard=8, variants=variants)
        items = [p for p in plan.shards[0].samples if p.index == 0]
        for model in (transform, small):
            reads.clear()
            loaded = load_group(model, dataclasses.replace(model, resize=None), items)
            assert reads == [items[0].sample.path] and all(x.error is None for x in loaded)
            np.testing.assert_array_equal(loaded[0].array, model(Image.open(reads[0])))
            photo = Image.open(reads[0]).convert("RGB")
            crop = torchvision.center_crop(torchvision.resize(photo, 256), 224)
            for planned, item in zip(items[1:], loaded[1:], strict=True):
                variant = planned.variant
                assert variant is not None
                seed = sample_seed(7, planned.source_id, variant.corruption, variant.severity)
                pixels = corrupt(np.asarray(crop), variant.corruption, variant.severity, seed)
                if protocol == "jpeg":
                    pixels = jpeg_roundtrip(pixels)
                image = Image.fromarray(pixels)
                if model.crop != 224:
                    image = image.resize((32, 32), Image.Resampling.BICUBIC)
                expected = (np.asarray(image, np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
                np.testing.assert_allclose(item.array, expected.transpose(2, 0, 1), atol=1e-5)
                assert item.properties == loaded[0].properties and item.corrupt_s > 0


def test_an_image_split_into_tasks_is_read_and_decoded_once(
    two_images: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the runner loads an image's variants in batch-sized tasks on several threads: they share
    # one read, one decode and one reference crop, and give what one task would
    import evalkit.runner as runner

    reads: list[Path] = []
    original = runner.read_image_file
    monkeypatch.setattr(runner, "read_image_file", lambda p: reads.append(p) or original(p))
    transform = ImageTransform(crop=224, resize=256, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    direct = dataclasses.replace(transform, resize=None)
    variants = variants_of(parse_corruptions("noise,fog,pixelate:1,2"), "jpeg", 3)
    plan = plan_run(two_images, [0], images_per_shard=8, variants=variants)
    items = [p for p in plan.shards[0].samples if p.index == 0]
    whole = load_group(transform, direct, items)
    reads.clear()
    chunks = [items[start : start + 3] for start in range(0, len(items), 3)]
    shared = SharedImage(items[0].sample.path, users=len(chunks))
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda c: load_group(transform, direct, c, source=shared), chunks))
    assert reads == [items[0].sample.path]
    loaded = [item for part in parts for item in part]
    assert [x.index for x in loaded] == [x.index for x in whole]
    for split, one in zip(loaded, whole, strict=True):
        np.testing.assert_array_equal(split.array, one.array)
    assert sum(x.decode_s > 0 for x in loaded) == 1  # counted once, by the task that decoded
    assert shared.users == 0 and shared.get(False)[2]  # the last task dropped the image


def test_loading_runs_two_batches_of_inputs_ahead_whatever_the_task_sizes() -> None:
    # a partly cached corrupted run mixes tasks of up to a batch (an image with its copies) and
    # tasks of one input: the threads are kept two batches of inputs ahead either way, not a
    # fixed number of tasks sized for the largest (which left the model waiting on 1-input tasks)
    from evalkit.runner import prefetch

    sizes = [16, 16, 12, *[1] * 60, 16, *[1] * 30]
    submitted: list[int] = []

    def load(index: int, size: int) -> int:
        return index

    def watched() -> list[int]:
        for size in sizes:
            submitted.append(size)
            yield size

    ahead = []  # (inputs, tasks) submitted and not yet handed out, and the newest one's size
    with ThreadPoolExecutor(2) as pool:
        for index in prefetch(pool, load, watched(), 34, lambda size: size, 3):
            ahead.append((sum(submitted[index:]), len(submitted) - index, submitted[-1]))
    assert len(ahead) == len(sizes)
    before_the_end = ahead[: len(sizes) - 40]
    assert all(inputs >= 34 and tasks >= 3 for inputs, tasks, _ in before_the_end)
    # and no further ahead than that: without the newest task, there was not enough in flight
    assert all(inputs - newest < 34 or tasks == 3 for inputs, tasks, newest in before_the_end)
    assert [inputs for inputs, _, _ in ahead[:4]] == [44, 34, 34, 34]


def test_unreadable_image_fails_with_its_variants(tmp_path: Path) -> None:
    broken = tmp_path / "c" / "x.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"not a jpeg")
    data = Dataset(tmp_path, "imagefolder", (Sample(broken, "c"),), ("c",))
    variants = variants_of(parse_corruptions("fog:1"), "jpeg", 0)
    plan = plan_run(data, [0], images_per_shard=4, variants=variants)
    transform = ImageTransform(crop=224, resize=256)
    loaded = load_group(transform, transform, plan.shards[0].samples)
    assert len(loaded) == 2 and loaded[0].error == loaded[1].error
    assert loaded[0].error is not None and loaded[0].array is None


def store_rows(images: int, variants: list[str], errors: dict[int, str]) -> pa.Table:
    """Store rows of a corrupted run: each image (class ``c<i mod 3>``, top-1 output i mod 7),
    then one row per variant; ``errors``: row number -> error (an unreadable image's rows all
    carry it)."""
    per = len(variants) + 1
    n = images * per
    image = np.repeat(np.arange(images), per)
    top = np.stack([(image + j) % 7 for j in range(5)], axis=1).astype(np.int32)
    top_p = np.tile(np.float32([0.5, 0.2, 0.1, 0.1, 0.1]), (images * per, 1))
    failed = [errors.get(row) for row in range(n)]

    def measured(name: str) -> float | bool:
        return True if SCHEMA.field(name).type == pa.bool_() else 0.5

    def lists(values: np.ndarray, kind: pa.DataType) -> pa.Array:
        flat = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), 5)
        return pa.array(
            [None if e else v for v, e in zip(flat.to_pylist(), failed, strict=True)], kind
        )

    columns = {
        "sample_id": [f"{row:064x}" for row in range(n)],
        "index": image,
        "path": [f"c{i % 3}/{i}.png" for i in image],
        "label": [f"c{i % 3}" for i in image],
        "target": image % 3,
        "top_k": lists(top, pa.list_(pa.int32())),
        "top_p": lists(top_p, pa.list_(pa.float32())),
        "p_true": np.full(n, 0.25, np.float32),
        "p_top1": np.full(n, 0.5, np.float32),
        "sum_sq": np.full(n, 0.35, np.float32),
        "error": failed,
        **{name: [None if e else measured(name) for e in failed] for name in PROPERTIES},
        "variant": [None if row % per == 0 else variants[row % per - 1] for row in range(n)],
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def test_store_rows_of_a_corrupted_run_are_scored_as_arrays() -> None:
    """Splitting and reading the store rows of 400 images x 75 variants: the images', the
    variants' and the failures' tables as the rows say, without a Python object per value
    (1,750 bytes a row traced before 0.6.6, when the rows went through Python lists; 250 now)."""
    variants = [f"{name}:{level}" for name in CORRUPTIONS for level in range(1, 6)]
    per = len(variants) + 1
    rows = store_rows(
        400,
        variants,
        {per * 3 + i: "cannot read: x" for i in range(per)} | {per * 5 + 8: "cannot preprocess: y"},
    )
    labels = LabelSpace.from_names([f"o{j}" for j in range(7)])
    tracemalloc.start()
    try:
        clean, corrupted_rows = split_variants(rows)
        images, failures = predictions_of(clean, labels)
        variants_frame = corrupted_of(corrupted_rows, labels, failures, SETUP)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500 * len(rows)
    assert [(f.file, f.reason) for f in failures] == [("c0/3.png", "cannot read: x")]
    assert len(images) == 399 and images["path"].iloc[3] == "c1/4.png"
    assert images["predicted"].iloc[3] == "o4" and images["top2"].iloc[3] == 5
    assert images["brightness"].iloc[0] == 0.5 and images["grayscale"].iloc[0] == 1.0
    frame = variants_frame.frame
    assert len(frame) == 399 * 75 - 1 and variants_frame.failed == {("shot_noise", 3): 1}
    first = frame.iloc[:75]
    assert first["corruption"].tolist() == [v.split(":")[0] for v in variants]
    assert first["severity"].tolist() == [int(v.split(":")[1]) for v in variants]
    assert frame["top1"].tolist() == [int(p.split("/")[1].split(".")[0]) % 7 for p in frame["path"]]


class _Finishing:
    """A Keras-application-like adapter: a transform to 0-255 pixels, then ``finish``."""

    id = "test:finishing"
    transform = ImageTransform(crop=160, resize=183, divide_by=1.0, layout="NHWC")

    def finish(self, pixels: np.ndarray) -> np.ndarray:
        return pixels / 127.5 - 1.0

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.finish(self.transform(image))


def test_crop_input_uses_the_model_normalization_and_refuses_undeclared_preprocessing() -> None:
    to_input = corrupted_inputs.crop_input(_Finishing())  # type: ignore[arg-type]
    crop = Image.new("RGB", (224, 224), (255, 0, 127))
    array = to_input(crop)
    assert array.shape == (160, 160, 3)
    np.testing.assert_allclose(array[0, 0], [1.0, -1.0, 127 / 127.5 - 1.0], atol=1e-6)

    class Bare:
        id = "plugin:bare"

        def preprocess(self, image: Image.Image) -> np.ndarray:
            return np.zeros(1)

    with pytest.raises(EvalkitError, match="plugin:bare does not declare its preprocessing"):
        corrupted_inputs.crop_input(Bare())  # type: ignore[arg-type]
    assert "resized to 160x160 (bicubic)" in corrupted_inputs.crop_geometry(160, "bicubic")


def corrupted_table(hits: dict[tuple[str, int], np.ndarray], classes: list[str]) -> pd.DataFrame:
    """A corrupted predictions table: for each (corruption, severity), one row per image whose
    top-1 is right where ``hits`` says (image i is ``<class>/<i>.png`` as in the clean table)."""
    parts = []
    for (name, level), right in hits.items():
        table = hits_table(right, classes)
        table.insert(1, CORRUPTION, name)
        table.insert(2, SEVERITY, level)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def error_rates(rng: np.random.Generator, n: int) -> dict[tuple[str, int], np.ndarray]:
    chosen = parse_corruptions(SETUP["corruptions"])  # type: ignore[arg-type]
    return {pair: rng.random(n) < 0.3 + 0.1 * pair[1] for pair in chosen.pairs()}


def test_section_reproduces_the_hand_computed_mce(rng: np.random.Generator) -> None:
    classes = ["a", "b", "c"]
    wrong = error_rates(rng, 90)
    frame = corrupted_table({pair: ~w for pair, w in wrong.items()}, classes)
    section = robustness_section(frame, 0.1, SETUP, failed={("fog", 3): 2})
    assert section is not None
    errors = {
        name: [float(wrong[(name, s)].mean()) for s in (1, 3)] for name in (*GROUPS["noise"], "fog")
    }
    by_hand = np.mean(
        [sum(errors[c]) / (ALEXNET_ERRORS[c][0] + ALEXNET_ERRORS[c][2]) for c in errors]
    )
    assert section.mce == pytest.approx(by_hand, abs=1e-12)
    assert section.mce == pytest.approx(mce(errors, (1, 3)), abs=1e-12)
    assert section.relative_mce == pytest.approx(relative_mce(errors, 0.1, (1, 3)), abs=1e-12)
    cell = section.cell("fog", 3)
    assert cell is not None and cell.failed == 2 and cell.top1.n == 90
    assert cell.error == pytest.approx(errors["fog"][1])
    assert [e.corruption for e in section.errors] == [c for c in CORRUPTIONS if c in errors]
    assert float(image_terms(frame).mean()) == pytest.approx(section.mce, abs=1e-12)
    assert robustness_section(frame.iloc[:0], 0.1, SETUP) is None


def _with_corruptions(run: object, frame: pd.DataFrame) -> object:
    run.corrupted = frame  # type: ignore[attr-defined]
    run.robustness = robustness_section(frame, 1 - run.top1, SETUP)  # type: ignore[attr-defined]
    return run


def test_mce_gate_fails_a_corruption_regression_that_top1_does_not_see(
    rng: np.random.Generator,
) -> None:
    classes = ["a", "b", "c"]
    n = 300
    clean = hits_table(rng.random(n) < 0.9, classes)
    wrong = error_rates(rng, n)
    before = _with_corruptions(
        fake_run(clean, classes), corrupted_table({p: ~w for p, w in wrong.items()}, classes)
    )
    worse = {pair: w | (rng.random(n) < 0.15) for pair, w in wrong.items()}
    after = _with_corruptions(
        fake_run(clean, classes), corrupted_table({p: ~w for p, w in worse.items()}, classes)
    )
    data = paired(before, after)  # type: ignore[arg-type]
    assert not check_metric(data, "top1", 0.01, 0.01).regression
    check = check_metric(data, "mce", 0.01, 0.01)
    assert check.regression and check.current > check.baseline
    assert check.baseline == pytest.approx(before.robustness.mce)  # type: ignore[attr-defined]
    assert "mCE" in check.summary()
    logged = run_metrics(after)  # type: ignore[arg-type]
    section = after.robustness  # type: ignore[attr-defined]
    assert (logged["mce"], logged["relative_mce"]) == (section.mce, section.relative_mce)
    assert not check_metric(paired(before, before), "mce", 0.01, 0.01).regression  # type: ignore[arg-type]

    plain = fake_run(clean, classes)
    with pytest.raises(EvalkitError, match="has no corruption results"):
        check_metric(paired(before, plain), "mce", 0.01, 0.01)  # type: ignore[arg-type]
    other = _with_corruptions(fake_run(clean, classes), after.corrupted)  # type: ignore[attr-defined]
    other.robustness.protocol = "memory"  # type: ignore[attr-defined]
    with pytest.raises(EvalkitError, match="protocol differ"):
        check_metric(paired(before, other), "mce", 0.01, 0.01)  # type: ignore[arg-type]
