"""The percentile bootstrap over samples, for statistics that are not simple proportions (ECE,
NLL, Brier score, macro-F1) and for paired differences between two runs on the same samples.

A statistic is written as a function of a *weight matrix*: row ``r`` holds how many times each
sample is drawn in resample ``r`` (all ones: the sample itself). Sums over samples become matrix
products, so a thousand resamples of 50,000 images take a second. Paired differences draw the
same resamples for both runs. Seeded: the same inputs give the same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000  # intervals of a single run
GATE_RESAMPLES = 2000  # paired tests (p-values down to 1/2001)
SEED = 0
CHUNK_CELLS = 1_000_000  # resamples x samples per weight block (8 MB of float64)

Statistic = Callable[[np.ndarray], np.ndarray]  # (resamples, n) weights -> (resamples,) values


def weight_blocks(n: int, resamples: int, seed: int = SEED) -> Iterator[np.ndarray]:
    """Blocks of resample weights: each row counts how often each of ``n`` samples is drawn
    (``n`` draws with replacement)."""
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_CELLS // max(n, 1))
    done = 0
    while done < resamples:
        size = min(rows, resamples - done)
        yield _block(rng, n, size)  # (keeps no name for a block's temporaries)
        done += size


def _block(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` rows of resample weights, with one (size, n) temporary alive at a time."""
    draws = rng.integers(0, n, size=(size, n))
    draws += n * np.arange(size)[:, None]
    counts = np.bincount(draws.ravel(), minlength=size * n)
    del draws
    return counts.reshape(size, n).astype(np.float64)


def resampled(statistic: Statistic, n: int, resamples: int, seed: int = SEED) -> np.ndarray:
    """The statistic on every resample."""
    if n == 0:
        return np.full(resamples, np.nan)
    values = []
    for block in weight_blocks(n, resamples, seed):
        values.append(statistic(block))
        del block  # before the next block is drawn
    return np.concatenate(values)


def point(statistic: Statistic, n: int) -> float:
    """The statistic on the samples themselves."""
    return float(statistic(np.ones((1, n)))[0]) if n else float("nan")


@dataclass(frozen=True)
class Estimate:
    """A statistic with its percentile-bootstrap interval."""

    value: float
    low: float
    high: float
    interval: str

    def to_dict(self) -> dict[str, float | str]:
        return {"value": self.value, "low": self.low, "high": self.high, "interval": self.interval}


def describe(confidence: float, resamples: int, seed: int) -> str:
    return f"bootstrap {confidence:.0%} (percentile, {resamples} resamples, seed {seed})"


def estimate(
    statistic: Statistic,
    n: int,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Estimate:
    """The statistic and its percentile bootstrap interval."""
    values = resampled(statistic, n, resamples, seed)
    low, high = _percentiles(values, confidence)
    return Estimate(point(statistic, n), low, high, describe(confidence, resamples, seed))


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedDifference:
    """``current - baseline`` of a statistic on the same samples, with its paired bootstrap
    interval and the one-sided p-value that the current run is worse."""

    baseline: float
    current: float
    low: float
    high: float
    p_worse: float
    interval: str

    @property
    def delta(self) -> float:
        return self.current - self.baseline


def paired_difference(
    baseline: Statistic,
    current: Statistic,
    n: int,
    *,
    higher_is_better: bool,
    confidence: float = 0.95,
    resamples: int = GATE_RESAMPLES,
    seed: int = SEED,
) -> PairedDifference:
    """Both runs' statistic on the same resamples. ``p_worse`` inverts the percentile interval:
    the share of resamples in which the current run is *not* worse, (1 + count) / (1 + B)."""

    def difference(weights: np.ndarray) -> np.ndarray:
        return current(weights) - baseline(weights)

    deltas = resampled(difference, n, resamples, seed)
    low, high = _percentiles(deltas, confidence)
    not_worse = deltas >= 0 if higher_is_better else deltas <= 0
    p_worse = (1 + int(not_worse.sum())) / (1 + resamples) if n else 1.0
    return PairedDifference(
        baseline=point(baseline, n),
        current=point(current, n),
        low=low,
        high=high,
        p_worse=p_worse,
        interval=describe(confidence, resamples, seed),
    )
