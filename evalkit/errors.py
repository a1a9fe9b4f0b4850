"""User-facing errors: one line that says what is wrong and what to do."""

from __future__ import annotations


class EvalkitError(Exception):
    """A problem with the user's input or environment (not a bug in evalkit).

    The CLI prints ``str(error)`` as one line and exits with status 2; no traceback.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        # messages quote library errors that may span lines; the user sees one line
        super().__init__(" ".join(str(message).split()))


class RegressionError(EvalkitError):
    """An accuracy regression was detected (exit status 1)."""

    exit_code = 1


class MissingWeightsError(EvalkitError):
    """A model's weights are neither given, cached, nor downloadable here."""
