"""Paired statistics for two runs on the same samples: the exact McNemar test and the gate's
regression rule (a drop large enough to matter and unlikely under no real change)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binom


def mcnemar_worse_p(worse: Any, better: Any) -> Any:
    """One-sided exact McNemar p-value that the current run is worse (scalars or arrays).

    ``worse``: samples the baseline got right and the current run wrong; ``better``: the other
    way round. Under no change, each discordant sample is equally likely to go either way, so
    the p-value is P(X >= worse) for X ~ Binomial(worse + better, 1/2) (1 when nothing flipped).
    """
    worse, better = np.asarray(worse), np.asarray(better)
    p = binom.sf(worse - 1, worse + better, 0.5)
    p = np.where(worse + better == 0, 1.0, p)
    return float(p) if p.ndim == 0 else p


def mcnemar_two_sided_p(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value: do two runs differ in top-1 accuracy?"""
    one_sided = min(
        mcnemar_worse_p(only_first, only_second), mcnemar_worse_p(only_second, only_first)
    )
    return float(min(1.0, 2 * one_sided))


def is_regression(worse: Any, better: Any, n: int, max_drop: float, alpha: float) -> Any:
    """The gate's verdict: a top-1 drop of at least ``max_drop`` that is significant at ``alpha``.

    Works on arrays too, so a simulation (benchmarks/gate_simulation.py) runs exactly this rule.
    """
    drop = (np.asarray(worse) - np.asarray(better)) / n
    return regressed(drop, mcnemar_worse_p(worse, better), max_drop, alpha)


def regressed(drop: Any, p_worse: Any, max_drop: float, alpha: float) -> Any:
    """The rule behind every gated metric: worse by at least ``max_drop`` (the drop measured
    in the direction that is worse) and a one-sided p-value below ``alpha`` (scalars or arrays)."""
    verdict = (np.asarray(drop) >= max_drop - 1e-12) & (np.asarray(p_worse) < alpha)
    return bool(verdict) if np.ndim(verdict) == 0 else verdict
