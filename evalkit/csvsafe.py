"""CSV cells that a spreadsheet would run as formulas, made inert (OWASP "CSV injection").

A text cell that starts with ``= + - @``, a tab or a carriage return is written with a tab in
front, so Excel, LibreOffice and Google Sheets show it as text. Numbers stay numbers. Files that
evalkit reads back (the predictions) lose that one tab again on reading: :func:`restored` is the
exact inverse of :func:`inert`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.atomic import write_atomic

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """``value`` with a leading tab when it is text a spreadsheet would evaluate."""
    return "\t" + value if isinstance(value, str) and value.startswith(TRIGGERS) else value


def restored(value: Any) -> Any:
    """The inverse of :func:`inert`: the text as it was before writing."""
    if isinstance(value, str) and value.startswith("\t") and value[1:].startswith(TRIGGERS):
        return value[1:]
    return value


def _map_text(
    frame: pd.DataFrame, change: Any, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    out = frame.copy()
    for column in columns if columns is not None else out.columns:
        if column in out.columns and _is_text(out[column]):
            out[column] = out[column].map(change)
    out.columns = pd.Index([change(c) for c in out.columns])
    out.index = pd.Index([change(i) for i in out.index], name=change(out.index.name))
    return out


def _is_text(values: Any) -> bool:
    """A column of Python objects or pandas strings (a duplicated name gives a frame: no)."""
    return isinstance(values, pd.Series) and (
        values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
    )


def inert_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index labels are inert."""
    return _map_text(frame, inert)


def restored_frame(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``frame`` as it was written: ``columns`` (text) passed through :func:`restored`."""
    return _map_text(frame, restored, columns)


def write_csv(path: Path, frame: pd.DataFrame, *, index: bool = False, **options: Any) -> None:
    """Write ``frame`` as CSV atomically, every text cell inert; lines end in CRLF (RFC 4180),
    so a cell holding a carriage return or a newline (a file name can) is quoted whole.
    ``options`` go to pandas."""
    safe = inert_frame(frame)
    write_atomic(path, lambda tmp: safe.to_csv(tmp, index=index, lineterminator="\r\n", **options))
