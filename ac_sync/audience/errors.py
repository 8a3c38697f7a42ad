"""The one exception type the audience package raises for bad input or configuration."""

from __future__ import annotations


class AudienceError(Exception):
    """Bad usage, configuration or audience data; the message is one line meant for the user."""


def one_line(exc: BaseException) -> str:
    """First non-empty line of an engine error: DuckDB and PostgreSQL append hints and query excerpts."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
