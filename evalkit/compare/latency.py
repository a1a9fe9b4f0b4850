"""The opt-in latency check of the gate (``--evalkit-timing-max-slowdown=p50:25%``).

Light on purpose (no pandas/scipy): the pytest plugin parses its option at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.results import RunResult

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

    @classmethod
    def parse_list(cls, text: str) -> tuple[SlowdownCheck, ...]:
        """A comma-separated list of checks (empty text: none)."""
        return tuple(cls.parse(part) for part in text.split(",") if part.strip())

    def fails(self, current: RunResult, baseline: RunResult) -> str | None:
        before = getattr(baseline.timing.batch_latency_ms, self.stat)
        after = getattr(current.timing.batch_latency_ms, self.stat)
        if not before or after is None or after <= before * (1 + self.limit):
            return None
        return (
            f"{current.id}: batch latency {self.stat} {before:.1f} ms -> {after:.1f} ms "
            f"(+{100 * (after / before - 1):.0f}%, limit +{100 * self.limit:g}%)"
        )
