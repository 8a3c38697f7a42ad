"""The engine's exceptions: one tree, each message meant for the person running the sync (one line, but for SQL).

    SyncInputError          something the user gave is wrong; the command line exits 2 without a traceback
    ├── ConfigError         settings, flags or the credentials source
    ├── AudienceError       the audience source or its data
    └── StateError          the sync state: a damaged file, or a location it cannot be kept in

The ActiveCampaign boundary has its own tree (`ac_sync.activecampaign.errors`); the failures an operator fixes while a
run waits are `ac_sync.resolutions.failures.SyncFailure`.
"""

from __future__ import annotations

import re


class SyncInputError(Exception):
    """Bad usage, configuration or input; the message is one line meant for the user."""


class ConfigError(SyncInputError):
    """Missing or invalid settings, flags or credentials source."""


class AudienceError(SyncInputError):
    """Bad usage, configuration or audience data.

    The one exception to one line: an error in the user's own SQL keeps DuckDB's or PostgreSQL's whole message
    (engine_message), since its caret, hints and candidate columns are what the user needs to fix it.
    """


class StateError(SyncInputError):
    """The sync state cannot be read or written; the message names the file and how to rebuild the state."""


def one_line(exc: BaseException) -> str:
    """First non-empty line of an engine error: DuckDB and PostgreSQL append hints and query excerpts."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


_LINE_MARK = re.compile(r"^LINE (\d+):", re.M)


def engine_message(exc: BaseException, lines_before: int = 0) -> str:
    """The whole message of a DuckDB or PostgreSQL error about the user's own SQL, caret and hints included.

    `lines_before`: lines of this tool's SQL that came before the user's query in the statement sent; the
    engines' `LINE n:` marks are renumbered to count the user's lines, padded so that the caret stays aligned.
    """
    text = str(exc).strip() or type(exc).__name__

    def renumber(match: re.Match[str]) -> str:
        sent = int(match.group(1))
        own = max(sent - lines_before, 1)
        return f"LINE {own}:" + " " * (len(str(sent)) - len(str(own)))

    return _LINE_MARK.sub(renumber, text) if lines_before else text
