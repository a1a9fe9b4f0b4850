"""Number and text formatting shared by every presentation (terminal, Markdown, HTML, CSV).

Every formatter shows a missing value (``None``, NaN, an undefined template value) as "—".
"""

from __future__ import annotations

import math
import re
from typing import Any

MISSING = "—"


def missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    import jinja2

    return isinstance(value, jinja2.Undefined)


def num(value: Any, digits: int = 1, *, grouping: bool = True, sign: bool = False) -> str:
    """``1,234.5`` (``grouping``: thousands separators; ``sign``: always a sign)."""
    if missing(value):
        return MISSING
    spec = ("+" if sign else "") + ("," if grouping else "") + f".{digits}f"
    return f"{float(value):{spec}}"


def pct(value: Any, digits: int = 2, *, sign: bool = False) -> str:
    """A fraction as a percentage without the sign: ``0.9759`` -> ``97.59``."""
    return MISSING if missing(value) else num(100 * float(value), digits, grouping=False, sign=sign)


def count(value: Any) -> str:
    """An integer with thousands separators."""
    return MISSING if missing(value) else f"{int(value):,}"


def general(value: Any, digits: int = 3) -> str:
    """Significant digits (p-values): ``2.98e-08``, ``0.21``, ``1``."""
    return MISSING if missing(value) else f"{float(value):.{digits}g}"


def interval(value: Any, low: Any, high: Any) -> str:
    """An accuracy with its interval, in percent: ``97.59 [95.9, 98.6]``."""
    if missing(value):
        return MISSING
    return f"{pct(value)} [{pct(low, 1)}, {pct(high, 1)}]"


def markdown_cell(value: object) -> str:
    """Text safe inside a Markdown table cell (pipes, newlines, HTML brackets escaped)."""
    text = re.sub(r"\s+", " ", str(value))
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"
