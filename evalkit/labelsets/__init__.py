"""Label subsets: score a model on a benchmark that covers only some of its classes.

ImageNet-A and ImageNet-R cover 200 of ImageNet-1k's classes, and are scored with the model's
outputs restricted to them: top-k is taken among those outputs and the probabilities are
renormalised over them (the softmax of the kept logits). The two class lists ship with evalkit
(their source is in each file's header); any other subset is a text file with one class per
line (a wnid, an ImageNet-1k index or a class name; ``#`` starts a comment).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace
from evalkit.options import LABEL_SUBSETS
from evalkit.results import LabelSubsetInfo

BUNDLED = {name: f"{name}.txt" for name in LABEL_SUBSETS}


@dataclass(frozen=True)
class LabelSubset:
    """A named list of classes (as written: keys, indices or names) and where it came from."""

    name: str
    source: str
    entries: tuple[str, ...]
    sha256: str


def _parse(text: str, where: str) -> tuple[str, ...]:
    entries = tuple(
        line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()
    )
    if not entries:
        raise EvalkitError(f"label subset {where} lists no classes; write one class per line")
    repeated = sorted({e for e in entries if entries.count(e) > 1})
    if repeated:
        raise EvalkitError(f"label subset {where} lists {repeated[0]!r} twice; list each once")
    return entries


def load_label_subset(spec: str) -> LabelSubset:
    """A bundled subset by name (``imagenet-a``, ``imagenet-r``) or a class-list file."""
    if spec in BUNDLED:
        data = resources.files(__name__).joinpath(BUNDLED[spec]).read_bytes()
        source = f"evalkit/labelsets/{BUNDLED[spec]}"
        name = spec
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise EvalkitError(
                f"label subset {spec!r} is neither {' nor '.join(BUNDLED)} nor a file; pass a "
                "text file with one class (wnid, index or name) per line"
            )
        data, source, name = path.read_bytes(), str(path), path.stem
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EvalkitError(f"label subset {source} is not UTF-8 text") from None
    entries = _parse(text, source)
    return LabelSubset(name, source, entries, hashlib.sha256(data).hexdigest())


def subset_outputs(subset: LabelSubset, space: LabelSpace) -> np.ndarray:
    """The model outputs of the subset's classes, ascending; every entry must be a class."""
    outputs = [space.resolve(entry) for entry in subset.entries]
    missing = [e for e, out in zip(subset.entries, outputs, strict=True) if out is None]
    if missing:
        raise EvalkitError(
            f"label subset {subset.name}: {len(missing)} class(es) are not classes of the "
            f"model ({space.name}): {', '.join(repr(m) for m in missing[:5])}; list the "
            "model's class keys, indices or names"
        )
    found = np.array(sorted({int(out) for out in outputs if out is not None}), dtype=np.int64)
    if found.size != len(outputs):
        raise EvalkitError(f"label subset {subset.name} names the same model class twice")
    return found


def label_subset_outputs(spec: str | None, space: LabelSpace) -> np.ndarray | None:
    """The outputs ``--label-subset`` keeps (None: all of them)."""
    return None if spec is None else subset_outputs(load_label_subset(spec), space)


def describe(subset: LabelSubset, outputs: np.ndarray) -> LabelSubsetInfo:
    return LabelSubsetInfo(
        name=subset.name, source=subset.source, sha256=subset.sha256, classes=int(outputs.size)
    )


def check_covers(
    subset: LabelSubset, outputs: np.ndarray, targets: np.ndarray, classes: Sequence[str]
) -> None:
    """Every dataset class must be one of the subset's (else it could never be predicted)."""
    kept = {int(out) for out in outputs}
    outside = [label for label, t in zip(classes, targets, strict=True) if int(t) not in kept]
    if outside:
        raise EvalkitError(
            f"{len(outside)} dataset class(es) are outside the label subset {subset.name}: "
            f"{', '.join(repr(c) for c in outside[:5])}; a model restricted to it could never "
            "predict them — use the subset that matches the data, or none"
        )


def restrict(scores: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Probabilities renormalised over ``outputs`` (the others 0): the softmax of the kept
    logits. A row whose kept probabilities all underflowed becomes uniform over them."""
    kept = scores[:, outputs].astype(np.float64)
    total = kept.sum(axis=1, keepdims=True)
    kept = np.where(total > 0, kept / np.where(total > 0, total, 1), 1.0 / outputs.size)
    masked = np.zeros(scores.shape, dtype=np.float32)
    masked[:, outputs] = kept
    return masked


def matching_bundled(classes: Sequence[str]) -> str | None:
    """The bundled subset whose classes the dataset's are exactly (wnids), if any."""
    wanted = set(classes)
    for name in BUNDLED:
        if wanted == set(load_label_subset(name).entries):
            return name
    return None
