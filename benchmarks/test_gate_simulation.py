"""The gate's false-alarm rate and power, by simulation (the numbers behind docs/gate.md)."""

from __future__ import annotations

import pytest
from gate_simulation import simulate_gate


@pytest.mark.parametrize("discordance", [0.01, 0.03, 0.06, 0.10, 0.20])
def test_simulated_false_alarm_rate_is_at_most_one_percent(discordance: float) -> None:
    assert simulate_gate(n=1000, accuracy=0.8, drop=0.0, discordance=discordance) <= 0.01


@pytest.mark.parametrize("discordance", [0.03, 0.05, 0.06])
def test_simulated_power_for_a_three_point_drop_on_1000_samples(discordance: float) -> None:
    """>= 90% while the models disagree on <= 6% of samples (docs/gate.md has the full table)."""
    assert simulate_gate(n=1000, accuracy=0.8, drop=0.03, discordance=discordance) >= 0.90


def test_simulation_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="drop <= discordance"):
        simulate_gate(n=100, accuracy=0.5, drop=0.05, discordance=0.01)
