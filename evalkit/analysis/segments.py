"""Weak segments: slices, and pairs of slices of two groupings, where top-1 accuracy is lower
than on the rest of the data by more than chance explains.

Every slice with at least ``min_size`` images (and fewer than all) is tried, then every pair
of slices from two different groupings (``brightness q1 & sharpness q1``). Each is tested with
a one-sided Fisher exact test of its accuracy against the rest's (the hypergeometric lower tail
of its correct count), and the p-values of *all* candidates tried are adjusted together with
the Benjamini-Hochberg procedure (false discovery rate ``alpha``). A pair is listed only when,
within each of its two slices, it is significantly worse than the rest of that slice, so a weak
slice does not reappear once per unrelated partner.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import false_discovery_control, hypergeom

from evalkit.analysis.slices import Grouping
from evalkit.metrics import accuracy_summary

MAX_LISTED = 20  # significant segments kept in the results, largest deficit first
EXAMPLES = 4  # misclassified images shown per segment (most confident mistakes first)
TEST = "one-sided Fisher exact (hypergeometric)"
CORRECTION = "benjamini-hochberg"


@dataclass(frozen=True)
class Candidate:
    conditions: tuple[tuple[str, str], ...]  # (grouping, slice value) pairs
    member: np.ndarray


def single_slices(groups: Sequence[Grouping]) -> dict[tuple[str, str], np.ndarray]:
    """Every slice's members, by (grouping, slice value)."""
    return {(g.name, value): g.members(i) for g in groups for i, value in enumerate(g.values)}


def candidates(
    singles: dict[tuple[str, str], np.ndarray], total: int, min_size: int
) -> Iterator[Candidate]:
    """Single slices, then pairs of slices of two different groupings, big enough to test."""
    pieces = [Candidate((condition,), member) for condition, member in singles.items()]
    for single in pieces:
        if min_size <= single.member.sum() < total:
            yield single
    for first, second in combinations(pieces, 2):
        if first.conditions[0][0] == second.conditions[0][0]:
            continue
        member = first.member & second.member
        if min_size <= member.sum() < total:
            yield Candidate(first.conditions + second.conditions, member)


def lower_tail_p(correct: np.ndarray, size: np.ndarray, total: int, right: int) -> np.ndarray:
    """P(a random subset of ``size`` images has at most ``correct`` right ones), when ``right``
    of ``total`` are: Fisher's exact test that the subset is worse than the rest."""
    return np.asarray(hypergeom.cdf(correct, total, right, size), dtype=np.float64)


def weak_segments(
    groups: Sequence[Grouping],
    hits: np.ndarray,
    confidence_of_top1: np.ndarray,
    paths: Sequence[str],
    *,
    min_size: int,
    alpha: float,
) -> dict[str, Any]:
    """The ``weak_segments`` section: what was tried and the significant segments."""
    singles = single_slices(groups)
    tried = list(candidates(singles, hits.size, min_size))
    base = {
        "tried": len(tried),
        "min_size": min_size,
        "alpha": alpha,
        "test": TEST,
        "correction": CORRECTION,
    }
    if not tried:
        return base | {"significant": 0, "segments": []}
    members = np.array([c.member for c in tried])
    size, correct = members.sum(axis=1), (members & hits).sum(axis=1)
    p = lower_tail_p(correct, size, hits.size, int(hits.sum()))
    adjusted = false_discovery_control(p, method="bh")
    accuracy = correct / size
    rest = (hits.sum() - correct) / (hits.size - size)
    significant = np.flatnonzero((adjusted < alpha) & (accuracy < rest))
    keep = [int(i) for i in significant if _adds_to_parts(tried[i], hits, singles, alpha)]
    keep.sort(key=lambda i: (accuracy[i] - rest[i], p[i]))
    segments = [
        _segment(tried[i], hits, confidence_of_top1, paths, float(rest[i]), p[i], adjusted[i])
        for i in keep[:MAX_LISTED]
    ]
    return base | {"significant": len(keep), "segments": segments}


def _adds_to_parts(
    candidate: Candidate, hits: np.ndarray, parents: dict[tuple[str, str], np.ndarray], alpha: float
) -> bool:
    """A pair is worth listing when, within each of its two slices, it is significantly less
    accurate than the rest of that slice (the same exact test at ``alpha``): a weak slice
    paired with an unrelated one is not listed again."""
    member = candidate.member
    size, correct = int(member.sum()), int((member & hits).sum())
    for condition in candidate.conditions if len(candidate.conditions) > 1 else ():
        parent = parents[condition]
        within = lower_tail_p(
            np.array([correct]), np.array([size]), int(parent.sum()), int((parent & hits).sum())
        )
        if within[0] >= alpha:
            return False
    return True


def _segment(
    candidate: Candidate,
    hits: np.ndarray,
    confidence_of_top1: np.ndarray,
    paths: Sequence[str],
    rest: float,
    p: float,
    adjusted: float,
) -> dict[str, Any]:
    member = candidate.member
    top1 = accuracy_summary(hits[member])
    wrong = np.flatnonzero(member & ~hits)
    worst = wrong[np.argsort(-confidence_of_top1[wrong], kind="stable")][:EXAMPLES]
    return {
        "slice": " & ".join(f"{name}={value}" for name, value in candidate.conditions),
        "conditions": [{"name": name, "value": value} for name, value in candidate.conditions],
        "n": int(member.sum()),
        "top1": top1,
        "rest_top1": rest,
        "deficit": rest - float(top1["value"]),
        "p_value": float(p),
        "p_adjusted": float(adjusted),
        "examples": [str(paths[i]) for i in worst],
    }
