"""Corruption robustness summaries (ImageNet-C, Hendrycks & Dietterich, ICLR 2019): corruption
errors normalised by AlexNet's, their mean (mCE) and the relative mCE.

For a model with top-1 error ``E[c][s]`` on corruption ``c`` at severity ``s`` and clean error
``E_clean``, with AlexNet's errors ``A[c][s]`` and ``A_clean``:

- ``CE_c = sum_s E[c][s] / sum_s A[c][s]``; ``mCE = mean_c CE_c``;
- ``relative CE_c = sum_s (E[c][s] - E_clean) / sum_s (A[c][s] - A_clean)``;
  ``relative mCE = mean_c relative CE_c``.

Errors are fractions in [0, 1] (not percentages). When only some severities were evaluated, both
sums run over those severities only (numerator and denominator alike), so a CE over severities
{1, 3, 5} compares the model with AlexNet on the same three severities; it is not the published
five-severity number. The means run over the corruptions given; the published mCE uses all 15.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.corruption_spec import CORRUPTIONS, GROUPS, SEVERITIES
from evalkit.metrics import accuracy_summary
from evalkit.results import PATH, Robustness, prediction_hits

# AlexNet's top-1 error on ImageNet-C per corruption, severities 1-5 (torchvision's pretrained
# AlexNet, the model the benchmark normalises by). Source: the "AlexNet ImageNet-C Error" table
# added to the README of https://github.com/hendrycks/robustness by PR #20 (commit
# 76d93933ab5ff56044973bbd4efe75cc2a795a7a, merged as 82423cfe08ea93daee41f8f18698ef6986cb8a30,
# 2019-10-10; the same numbers Dan Hendrycks posted in issue #10 of that repository). The table
# was later replaced in the README by a link to the mCE spreadsheet; ``ImageNet-C/test.py`` itself
# prints only unnormalised errors. The per-corruption averages of these rows are the values
# other code uses (e.g. ALEXNET_ERR in google-research/augmix imagenet.py at
# 9b9824c7c19bf7e72df2d085d97b99b3bfb00ba4: 0.886428, 0.894468, ...).
ALEXNET_ERRORS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.69528, 0.82542, 0.93554, 0.98138, 0.99452),
    "shot_noise": (0.71224, 0.85108, 0.93574, 0.98182, 0.99146),
    "impulse_noise": (0.78374, 0.89808, 0.94870, 0.98720, 0.99548),
    "defocus_blur": (0.65624, 0.73202, 0.85036, 0.91364, 0.94714),
    "glass_blur": (0.64308, 0.75054, 0.88806, 0.91622, 0.93344),
    "motion_blur": (0.58430, 0.70048, 0.82108, 0.89750, 0.92638),
    "zoom_blur": (0.70008, 0.76992, 0.80784, 0.84198, 0.87198),
    "snow": (0.71726, 0.88392, 0.86468, 0.91870, 0.94952),
    "frost": (0.61390, 0.79734, 0.88790, 0.89942, 0.93430),
    "fog": (0.67474, 0.76050, 0.84378, 0.87260, 0.94500),
    "brightness": (0.45140, 0.48502, 0.54048, 0.62166, 0.72440),
    "contrast": (0.64548, 0.76150, 0.88874, 0.97760, 0.99270),
    "elastic_transform": (0.52596, 0.70116, 0.55686, 0.64076, 0.80554),
    "pixelate": (0.52218, 0.54620, 0.73728, 0.87092, 0.91262),
    "jpeg_compression": (0.51002, 0.54718, 0.57294, 0.65458, 0.74778),
}

# AlexNet's clean top-1 error for the relative mCE: 1 - 0.56522, torchvision's published top-1
# accuracy of its pretrained AlexNet (IMAGENET1K_V1, resize 256 + centre crop 224, the weights
# ImageNet-C's authors used). It rounds to 0.4348 (4 decimals) and to the paper's 43.5%. The
# robustness repository itself has no clean-error constant (test.py leaves that code commented).
ALEXNET_CLEAN_ERROR = 0.43478


def corruption_errors(
    errors: Mapping[str, Sequence[float]], severities: Sequence[int] = SEVERITIES
) -> dict[str, float]:
    """``CE_c = sum_s E[c][s] / sum_s A[c][s]`` for each corruption given.

    ``errors[c][i]`` is the model's top-1 error (0-1) at severity ``severities[i]``; pass
    ``severities`` when fewer than all five were evaluated (both sums then use only those).
    """
    checked = _check(errors, severities)
    return {
        name: sum(values) / sum(ALEXNET_ERRORS[name][s - 1] for s in severities)
        for name, values in checked.items()
    }


def mce(errors: Mapping[str, Sequence[float]], severities: Sequence[int] = SEVERITIES) -> float:
    """Mean corruption error: the mean of :func:`corruption_errors` over the corruptions given."""
    values = corruption_errors(errors, severities)
    return sum(values.values()) / len(values)


def relative_corruption_errors(
    errors: Mapping[str, Sequence[float]],
    clean_error: float,
    severities: Sequence[int] = SEVERITIES,
) -> dict[str, float]:
    """``sum_s (E[c][s] - E_clean) / sum_s (A[c][s] - A_clean)`` for each corruption given."""
    checked = _check(errors, severities)
    _check_rate(clean_error, "clean_error")
    result = {}
    for name, values in checked.items():
        model = sum(value - clean_error for value in values)
        alexnet = sum(ALEXNET_ERRORS[name][s - 1] - ALEXNET_CLEAN_ERROR for s in severities)
        result[name] = model / alexnet
    return result


def relative_mce(
    errors: Mapping[str, Sequence[float]],
    clean_error: float,
    severities: Sequence[int] = SEVERITIES,
) -> float:
    """Relative mCE: the mean of :func:`relative_corruption_errors` over the corruptions given."""
    values = relative_corruption_errors(errors, clean_error, severities)
    return sum(values.values()) / len(values)


def _check(
    errors: Mapping[str, Sequence[float]], severities: Sequence[int]
) -> dict[str, list[float]]:
    levels = list(severities)
    if not levels or len(set(levels)) != len(levels) or not set(levels) <= set(SEVERITIES):
        raise ValueError(f"severities must be distinct values from {SEVERITIES}, got {levels}")
    if not errors:
        raise ValueError("no corruption errors given")
    checked: dict[str, list[float]] = {}
    for name, values in errors.items():
        if name not in ALEXNET_ERRORS:
            valid = ", ".join(ALEXNET_ERRORS)
            raise ValueError(f"unknown corruption {name!r}; valid names: {valid}")
        row = [float(value) for value in values]
        if len(row) != len(levels):
            raise ValueError(
                f"{name}: {len(row)} errors for {len(levels)} severities {tuple(levels)}"
            )
        for value in row:
            _check_rate(value, name)
        checked[name] = row
    return checked


def _check_rate(value: float, what: str) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what}: errors are fractions in [0, 1], got {value!r}")


# --- the results' ``robustness`` section, from the corrupted variants' predictions ----------
CORRUPTION, SEVERITY = "corruption", "severity"  # columns of the corrupted predictions table
NORMALIZATION = (
    "AlexNet top-1 errors per corruption and severity, hendrycks/robustness README "
    "(commit 76d93933); clean error 0.43478 (torchvision AlexNet)"
)


def group_of(corruption: str) -> str:
    return next(name for name, members in GROUPS.items() if corruption in members)


def robustness_section(
    corrupted: pd.DataFrame,
    clean_error: float,
    setup: Mapping[str, Any],
    failed: Mapping[tuple[str, int], int] | None = None,
) -> Robustness | None:
    """The ``robustness`` section: per corruption and severity top-1/top-5, then CE, mCE and
    relative mCE over the severities evaluated. ``setup``: the section's descriptive fields
    (corruptions, severities, protocol, geometry, seed, …); ``failed``: variants that could
    not be made. None when no variant was evaluated."""
    if not len(corrupted) or not math.isfinite(clean_error):
        return None
    severities = [int(s) for s in setup["severities"]]
    cells, errors = _cells(corrupted, severities, failed or {})
    complete = {name: row for name, row in errors.items() if all(map(math.isfinite, row))}
    if not complete:
        return None
    ce = corruption_errors(complete, severities)
    relative = relative_corruption_errors(complete, clean_error, severities)
    per_corruption = [
        {
            "corruption": name,
            "group": group_of(name),
            "error": sum(row) / len(row),
            "ce": ce[name],
            "relative_ce": relative[name],
        }
        for name, row in complete.items()
    ]
    return Robustness.model_validate(
        dict(setup)
        | {
            "clean_error": clean_error,
            "mce": sum(ce.values()) / len(ce),
            "relative_mce": sum(relative.values()) / len(relative),
            "normalization": NORMALIZATION,
            "errors": per_corruption,
            "cells": cells,
        }
    )


def _cells(
    corrupted: pd.DataFrame, severities: list[int], failed: Mapping[tuple[str, int], int]
) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Per corruption and severity, top-1/top-5 (the ``cells``) and the top-1 errors."""
    hits1, hits5 = prediction_hits(corrupted, 1), prediction_hits(corrupted, 5)
    where = corrupted.groupby(
        [corrupted[CORRUPTION].astype(str), corrupted[SEVERITY].astype(int)]
    ).indices
    none = np.array([], dtype=np.int64)
    cells, errors = [], {}
    for name in [c for c in CORRUPTIONS if c in set(corrupted[CORRUPTION])]:
        row = []
        for level in severities:
            member = where.get((name, level), none)
            top1 = accuracy_summary(hits1[member])
            cells.append(
                {
                    "corruption": name,
                    "severity": level,
                    "top1": top1,
                    "top5": accuracy_summary(hits5[member]),
                    "failed": failed.get((name, level), 0),
                }
            )
            row.append(1.0 - top1["value"] if member.size else float("nan"))
        errors[name] = row
    return cells, errors


def image_terms(corrupted: pd.DataFrame) -> pd.Series:
    """Each image's share of the mCE, by path: ``(1/C) sum_c sum_s err[c][s] / sum_s A[c][s]``
    over the corruptions and severities in ``corrupted``. Their mean over the images is the mCE
    (exactly, when every image has every variant): what a paired test of mCE resamples."""
    names = corrupted[CORRUPTION].astype(str)
    levels = sorted({int(level) for level in corrupted[SEVERITY]})
    present = [name for name in CORRUPTIONS if name in set(names)]
    alexnet = {name: sum(ALEXNET_ERRORS[name][s - 1] for s in levels) for name in present}
    weight = names.map(alexnet).to_numpy(np.float64) * len(present)
    wrong = ~prediction_hits(corrupted, 1)
    terms = pd.Series(wrong / weight, index=corrupted[PATH].to_numpy())
    return terms.groupby(level=0, sort=False).sum()
