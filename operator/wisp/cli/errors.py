"""``CliError``: a failure the ``wisp`` command prints as one line, with a non-zero exit code."""

from __future__ import annotations


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
