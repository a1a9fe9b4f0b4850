"""False-alarm rate and power of the regression gate, by simulation (the table in docs/gate.md).

    python benchmarks/gate_simulation.py [--trials 10000]

Runs the gate's own decision rule (evalkit.compare.is_regression) on simulated paired runs.
"""

from __future__ import annotations

import argparse

from evalkit.compare import simulate_gate

DISCORDANCE = (0.02, 0.04, 0.06, 0.08, 0.10, 0.20)


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
