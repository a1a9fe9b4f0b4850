"""False-alarm rate and power of the regression gate, by simulation (the table in docs/gate.md).

    python benchmarks/gate_simulation.py [--trials 10000]

Runs the gate's own decision rule (evalkit.compare.stats.is_regression) on simulated paired runs.
"""

from __future__ import annotations

import argparse

import numpy as np

from evalkit.compare.stats import is_regression
from evalkit.options import ALPHA, MAX_DROP

DISCORDANCE = (0.02, 0.04, 0.06, 0.08, 0.10, 0.20)


def simulate_gate(
    *,
    n: int,
    accuracy: float,
    drop: float,
    discordance: float,
    trials: int = 2000,
    seed: int = 0,
    max_drop: float = MAX_DROP,
    alpha: float = ALPHA,
) -> float:
    """Fraction of simulated comparisons that the gate calls a regression.

    The baseline gets each of ``n`` samples right with probability ``accuracy``. The current
    model disagrees with it on a fraction ``discordance`` of the samples (run-to-run noise, a
    retrained or quantized model) and is ``drop`` worse on average: right->wrong flips happen on
    ``(discordance + drop) / 2`` of the samples, wrong->right on ``(discordance - drop) / 2``.
    ``drop=0`` measures the false-alarm rate; ``drop>0`` the power.
    """
    if not 0 <= drop <= discordance:
        raise ValueError("need 0 <= drop <= discordance")
    rng = np.random.default_rng(seed)
    right = rng.binomial(n, accuracy, size=trials)
    worse = rng.binomial(right, min(1.0, (discordance + drop) / 2 / accuracy))
    better = rng.binomial(n - right, min(1.0, (discordance - drop) / 2 / (1 - accuracy)))
    return float(np.mean(is_regression(worse, better, n, max_drop, alpha)))


def table(n: int, drop: float, trials: int) -> str:
    lines = [
        f"n={n}, true drop {100 * drop:g} points:",
        "| discordance | " + " | ".join(f"{100 * d:g}%" for d in DISCORDANCE) + " |",
        "|---|" + "---|" * len(DISCORDANCE),
    ]
    rates = [
        simulate_gate(n=n, accuracy=0.8, drop=drop, discordance=max(d, drop), trials=trials)
        for d in DISCORDANCE
    ]
    name = "false alarms" if drop == 0 else "detected"
    lines.append(f"| {name} | " + " | ".join(f"{100 * r:.1f}%" for r in rates) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000)
    trials = parser.parse_args().trials
    for n, drop in ((1000, 0.0), (1000, 0.03), (1000, 0.02), (5000, 0.02), (50_000, 0.015)):
        print(table(n, drop, trials), end="\n\n")


if __name__ == "__main__":
    main()
