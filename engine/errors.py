"""The engine's exceptions, one tree, and the record a run keeps of any failure of a sync.

    SyncInputError          something the user gave is wrong (terminal); the command line exits 2, no traceback
    ├── ConfigError         settings, flags or the credentials source
    ├── AudienceError       the audience source or its data
    └── StateError          the sync state: a damaged file, or a location it cannot be kept in
    SyncFailure             something an operator can fix while the run waits; a stable `code`, and the context
    │                       its playbook shows (resolutions/ keeps the playbooks, forms and actions)
    ├── InvalidGroupName    no user group has exactly the title                    (ensure-group)
    ├── AmbiguousListName   several lists share the list's name                   (ensure-list)
    ├── ListPermissionDenied the key's user may not create or link the list       (ensure-list)
    ├── StateMismatch       the state at the list's id was written for another list (ensure-list)
    ├── AmbiguousField      two custom fields match one column                     (mapping)
    ├── UnknownField        a column is mapped to a field that does not exist      (mapping)
    ├── TooManyRemovals     a mirror sync would remove more than allowed           (upload-contacts)
    └── ListGone            the list was deleted or replaced while the run wrote into it (upload-contacts)

Each is raised by the engine code that finds it out. The ActiveCampaign boundary has its own tree
(`ac_sync.activecampaign.errors`): some of its errors carry a code too (INVALID_CREDENTIALS, MISSING_PERMISSION,
PAYMENT_REQUIRED, RATE_LIMIT_EXHAUSTED, API_URL_INVALID), since the client is what finds those out.

A run keeps a `FailureRecord` of whatever stopped one of its syncs: typed or not, with a code (the failure's
own, or one that names its kind), the step, and the context; it is what summaries, playbooks and resolutions
read, and it pickles and serialises where an exception would not.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class SyncInputError(Exception):
    """Bad usage, configuration or input; the message is one line meant for the user."""

    quiet_traceback: ClassVar[bool] = True


class ConfigError(SyncInputError):
    """Missing or invalid settings, flags or credentials source."""


class AudienceError(SyncInputError):
    """Bad usage, configuration or audience data.

    The one exception to one line: an error in the user's own SQL keeps DuckDB's or PostgreSQL's whole message
    (engine_message), since its caret, hints and candidate columns are what the user needs to fix it.
    """


class StateError(SyncInputError):
    """The sync state cannot be read or written; the message names the file and how to rebuild the state."""


class StateWriteError(StateError):
    """A file of the sync state could not be written (a full disk, a permission, the store refusing): the
    message names the path, what it would have recorded, and what the next run does without it."""


class SyncFailure(Exception):
    """A failure an operator can fix while the run waits. `context`: what its playbook shows (names, ids,
    counts; never the API key, never an audience's email)."""

    code: ClassVar[str] = "SYNC_FAILURE"
    title: ClassVar[str] = "The sync failed"
    quiet_traceback: ClassVar[bool] = True

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only context would be lost by Exception's own pickling (a result Prefect persists).
        return (_rebuilt, (type(self), self.message, self.context))


def _rebuilt(cls: type[SyncFailure], message: str, context: dict[str, Any]) -> SyncFailure:
    return cls(message, **context)


class InvalidGroupName(SyncFailure):
    code, title = "INVALID_GROUP_NAME", "No user group has that name"


class AmbiguousListName(SyncFailure):
    code, title = "AMBIGUOUS_LIST_NAME", "Several lists share the list name"


class ListPermissionDenied(SyncFailure):
    code, title = "LIST_PERMISSION_DENIED", "The key's user may not create or link the list"


class StateMismatch(SyncFailure):
    code, title = "STATE_MISMATCH", "The sync state was written for another list"


class ListGone(SyncFailure):
    code, title = "LIST_GONE", "The list was deleted or replaced while the sync ran"


class AmbiguousField(SyncFailure):
    code, title = "AMBIGUOUS_FIELD", "Several custom fields match one column"


class UnknownField(SyncFailure):
    code, title = "UNKNOWN_FIELD", "A column is mapped to a custom field that does not exist"


class TooManyRemovals(SyncFailure):
    code, title = "TOO_MANY_REMOVALS", "The sync would remove more contacts than allowed"


SYNC_FAILURES: dict[str, type[SyncFailure]] = {cls.code: cls for cls in SyncFailure.__subclasses__()}

# Failures that are no operator's form to fill: the code that names each kind, and its title.
KINDS: dict[str, tuple[str, str]] = {
    "ConfigError": ("CONFIG_INVALID", "A setting, flag or credentials source is wrong"),
    "AudienceError": ("AUDIENCE_INVALID", "The audience cannot be read"),
    "StateWriteError": ("STATE_UNWRITABLE", "The sync state cannot be written"),
    "StateError": ("STATE_DAMAGED", "The sync state cannot be read or written"),
    "ServerError": ("API_UNAVAILABLE", "ActiveCampaign kept failing (5xx) past the retry budget"),
    "TransportError": ("API_UNAVAILABLE", "ActiveCampaign could not be reached past the retry budget"),
    "UnconfirmedWriteError": ("WRITE_UNCONFIRMED", "A write may have happened: its answer could not be read"),
    "UnexpectedAnswerError": ("UNEXPECTED_ANSWER", "ActiveCampaign answered something the sync cannot read"),
    "ValidationError": ("API_REFUSED", "ActiveCampaign refused a request"),
    "NotFoundError": ("API_REFUSED", "ActiveCampaign did not find something the sync needs"),
    "ListBusy": ("LIST_BUSY", "Another run holds the list"),
}
INTERNAL = ("INTERNAL_ERROR", "The sync stopped on an unexpected error")


class FailureRecord(BaseModel):
    """What a run keeps of the failure that stopped one of its syncs (or the whole run)."""

    model_config = ConfigDict(frozen=True)

    code: str
    title: str
    message: str
    step: str
    # typed: an operator's resolution continues the run; input: the user's input is wrong (exit 2 alone);
    # transient: the same step may succeed later; error: anything else
    kind: Literal["typed", "input", "transient", "error"]
    sync: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)

    @property
    def resolvable(self) -> bool:
        return self.kind == "typed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "step": self.step,
            "message": self.message,
            **({"sync": self.sync} if self.sync else {}),
            **self.context,
        }


def record_of(exc: BaseException, *, step: str, sync: str | None = None, **context: Any) -> FailureRecord:
    """The record of `exc`, raised in `step` (of the sync `sync`): its own code where it has one, else its kind's."""
    code = getattr(exc, "code", None)
    own = {k: v for k, v in (getattr(exc, "context", None) or {}).items() if v is not None}
    given = {k: v for k, v in context.items() if v is not None}
    message = str(getattr(exc, "message", None) or exc) if not isinstance(exc, SyncInputError) else str(exc)
    if isinstance(code, str) and code:
        title = str(getattr(exc, "title", None) or code.replace("_", " ").capitalize())
        return FailureRecord(
            code=code, title=title, message=message, step=step, kind="typed", sync=sync, context={**given, **own}
        )
    kind_code, title = next((KINDS[cls.__name__] for cls in type(exc).__mro__ if cls.__name__ in KINDS), INTERNAL)
    if isinstance(exc, SyncInputError):
        kind: Literal["typed", "input", "transient", "error"] = "input"
    elif getattr(exc, "transient", False):
        kind = "transient"
    else:
        kind = "error"
        if kind_code == INTERNAL[0]:
            message = f"{type(exc).__name__}: {one_line(exc)}"
    return FailureRecord(code=kind_code, title=title, message=message, step=step, kind=kind, sync=sync, context=given)


def one_line(exc: BaseException) -> str:
    """First non-empty line of an engine error: DuckDB and PostgreSQL append hints and query excerpts."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


_LINE_MARK = re.compile(r"^LINE (\d+):", re.M)
# DuckDB quotes the record it could not read ("Original Line: a@example.com,Ann,..."): a row of the audience,
# personal data that the message would carry into the terminal, the summary and Prefect, and of any length.
_ORIGINAL_LINE = re.compile(r"^(Original Line:).*$", re.M)
LONGEST_MESSAGE_LINE = 500


def engine_message(exc: BaseException, lines_before: int = 0) -> str:
    """The whole message of a DuckDB or PostgreSQL error about the user's own SQL, caret and hints included.

    `lines_before`: lines of this tool's SQL that came before the user's query in the statement sent; the
    engines' `LINE n:` marks are renumbered to count the user's lines, padded so that the caret stays aligned.
    """
    text = _ORIGINAL_LINE.sub(r"\1 (left out: it holds a row of the audience)", str(exc).strip())
    text = "\n".join(
        line if len(line) <= LONGEST_MESSAGE_LINE else line[:LONGEST_MESSAGE_LINE] + " …" for line in text.splitlines()
    )
    text = text or type(exc).__name__

    def renumber(match: re.Match[str]) -> str:
        sent = int(match.group(1))
        own = max(sent - lines_before, 1)
        return f"LINE {own}:" + " " * (len(str(sent)) - len(str(own)))

    return _LINE_MARK.sub(renumber, text) if lines_before else text
