"""User-facing errors and the exit codes of the ``evalkit`` command.

Exit codes (the CLI's contract, documented in ``evalkit --help`` and the README):

- 0: success;
- 1: the gate found a regression (``compare --fail-on-regression``);
- 2: a usage or input error: a bad option, a missing or corrupt file, missing weights;
- 3: an internal error: a bug in evalkit (one line on stderr, the full traceback in a file);
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
import unicodedata
from pathlib import Path

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "exit status: 0 success, 1 regression found (compare --fail-on-regression), "
    "2 usage or input error (bad option, missing or corrupt file, missing weights), "
    "3 internal error (a bug: the traceback is written to a file), 130 interrupted"
)


class EvalkitError(Exception):
    """A problem with the user's input or environment (not a bug in evalkit).

    The CLI prints ``str(error)`` as one line and exits with status 2; no traceback.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        # messages quote library errors that may span lines; the user sees one line
        super().__init__(one_line(str(message)))


class RegressionError(EvalkitError):
    """An accuracy regression was detected (exit status 1)."""

    exit_code = EXIT_REGRESSION


class MissingWeightsError(EvalkitError):
    """A model's weights are neither given, cached, nor downloadable here."""


def printable(text: str) -> str:
    """``text`` safe to print on a terminal or in a table: control and format characters (escape
    sequences, bells, right-to-left overrides) and undecodable bytes become ``\\x..`` escapes."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch == " " or unicodedata.category(ch)[0] not in "CZ"
        else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` with its whitespace runs (newlines too) collapsed and other control characters
    escaped (:func:`printable`), cut at ``limit`` characters."""
    flat = printable(" ".join(text.split()))
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def crash_folder() -> Path:
    """Where tracebacks of internal errors go: ``$EVALKIT_CACHE/crashes`` (default
    ~/.cache/evalkit/crashes)."""
    base = Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit"))
    return base.expanduser() / "crashes"


def write_crash_report(error: BaseException, argv: list[str]) -> Path:
    """Write ``error``'s full traceback (and the command line) to a new file; its path.

    Falls back to the temporary folder when the cache folder cannot be written.
    """
    text = "evalkit " + " ".join(argv) + "\n\n" + "".join(traceback.format_exception(error))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    for folder in (crash_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
            return folder / name
        except OSError:
            continue
    raise error
