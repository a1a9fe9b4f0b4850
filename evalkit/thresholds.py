"""What counts as a regression: the accuracy gate's limits and the opt-in latency check.

Light on purpose (no pandas/scipy): the pytest plugin reads its options into these at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalkit.results import RunResult

MAX_DROP = 0.01  # one accuracy point
ALPHA = 0.01

LATENCY_STATS = ("p50", "p90", "p99")


@dataclass(frozen=True)
class SlowdownCheck:
    """``p50:25%``: fail when the batch latency statistic grew by more than 25% (opt-in)."""

    stat: str
    limit: float

    @classmethod
    def parse(cls, text: str) -> SlowdownCheck:
        match = re.fullmatch(r"\s*(p\d+)\s*:\s*(\d+(?:\.\d+)?)\s*%\s*", text)
        if not match or match.group(1) not in LATENCY_STATS:
            raise ValueError(
                f"expected STAT:PERCENT% with STAT one of {', '.join(LATENCY_STATS)} "
                f"(e.g. p50:25%), got {text!r}"
            )
        return cls(match.group(1), float(match.group(2)) / 100)

    def fails(self, current: RunResult, baseline: RunResult) -> str | None:
        before = baseline.timing["batch_latency_ms"][self.stat]
        after = current.timing["batch_latency_ms"][self.stat]
        if not before or after is None or after <= before * (1 + self.limit):
            return None
        return (
            f"{current.id}: batch latency {self.stat} {before:.1f} ms -> {after:.1f} ms "
            f"(+{100 * (after / before - 1):.0f}%, limit +{100 * self.limit:g}%)"
        )


@dataclass(frozen=True)
class GateSettings:
    baseline_dir: Path | None = None
    save_baseline: bool = False
    report_dir: Path | None = None
    max_drop: float = MAX_DROP
    alpha: float = ALPHA
    timing: tuple[SlowdownCheck, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
