"""Pairs of runs on the same samples, split by idea:

- :mod:`~evalkit.compare.stats`: paired tests (exact McNemar) and the regression rule;
- :mod:`~evalkit.compare.alignment`: pairing two runs' predictions sample by sample;
- :mod:`~evalkit.compare.baselines`: a run against its baseline (verdicts, stored baselines);
- :mod:`~evalkit.compare.latency`: the opt-in latency check (light: read at pytest start-up).

Names are imported on first use, so ``evalkit.compare.latency`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalkit._lazy import lazy_exports

if TYPE_CHECKING:
    from evalkit.compare.alignment import aligned_predictions, flipped_samples, paired_correct
    from evalkit.compare.baselines import Comparison, compare_files, compare_runs
    from evalkit.compare.latency import SlowdownCheck
    from evalkit.compare.stats import is_regression, mcnemar_two_sided_p, mcnemar_worse_p

_LAZY = {
    "aligned_predictions": "evalkit.compare.alignment",
    "flipped_samples": "evalkit.compare.alignment",
    "paired_correct": "evalkit.compare.alignment",
    "Comparison": "evalkit.compare.baselines",
    "compare_files": "evalkit.compare.baselines",
    "compare_runs": "evalkit.compare.baselines",
    "SlowdownCheck": "evalkit.compare.latency",
    "is_regression": "evalkit.compare.stats",
    "mcnemar_two_sided_p": "evalkit.compare.stats",
    "mcnemar_worse_p": "evalkit.compare.stats",
}

__all__ = [
    "Comparison",
    "SlowdownCheck",
    "aligned_predictions",
    "compare_files",
    "compare_runs",
    "flipped_samples",
    "is_regression",
    "mcnemar_two_sided_p",
    "mcnemar_worse_p",
    "paired_correct",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())
