"""How things are named in files and tables: model display names and file-name slugs."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path


def display_name(model_id: str) -> str:
    """Model id with any file path shortened to its file name."""
    scheme, _, rest = model_id.partition(":")
    return f"{scheme}:{Path(rest).name}" if "/" in rest else model_id


def slug(text: str, *, keep: str = "._-", limit: int = 80, empty: str = "model") -> str:
    """``text`` as a file name: runs of other characters than letters, digits and ``keep``
    become one ``_`` (none at the ends), cut to ``limit`` characters."""
    allowed = re.escape(keep)
    cleaned = re.sub(rf"[^A-Za-z0-9{allowed}]+", "_", text).strip("_")[:limit]
    return cleaned or empty


def did_you_mean(name: str, choices: Iterable[str], prefix: str = "", suffix: str = "") -> str:
    """``"did you mean a, b?"`` for the closest of ``choices`` (case-insensitive), or ``""``."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), by_lower, n=3)
    shown = ", ".join(f"{prefix}{by_lower[c]}{suffix}" for c in close)
    return f"did you mean {shown}?" if close else ""
