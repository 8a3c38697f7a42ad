"""The engine's exceptions: one tree, each message one line meant for the person running the sync.

    SyncInputError          something the user gave is wrong; the command line exits 2 without a traceback
    ├── ConfigError         settings, flags or the credentials source
    ├── AudienceError       the audience source or its data
    └── StateError          the sync state: a damaged file, or a location it cannot be kept in

The ActiveCampaign boundary has its own tree (`activecampaign.errors`); the failures an operator fixes while a
run waits are `resolutions.failures.SyncFailure`.
"""

from __future__ import annotations


class SyncInputError(Exception):
    """Bad usage, configuration or input; the message is one line meant for the user."""


class ConfigError(SyncInputError):
    """Missing or invalid settings, flags or credentials source."""


class AudienceError(SyncInputError):
    """Bad usage, configuration or audience data."""


class StateError(SyncInputError):
    """The sync state cannot be read or written; the message names the file and how to rebuild the state."""


def one_line(exc: BaseException) -> str:
    """First non-empty line of an engine error: DuckDB and PostgreSQL append hints and query excerpts."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
