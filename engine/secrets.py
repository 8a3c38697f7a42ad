"""Secrets under any input: keys checked without being echoed, kept out of child processes, redacted from logs.

Three defences, each for a way a key has leaked:
- clean_api_key / clean_api_url refuse, up front and in one line that never repeats the key, what a paste can
  bring along (a no-break space, a tab, a control character); httpx otherwise failed on the header with a
  traceback that printed the whole key, and that text reached Prefect's database.
- kept_from_children: the temporary Prefect server is a child process started with a copy of `os.environ`
  (prefect.server.api.server.SubprocessASGIServer._run_uvicorn_command), so while a run lasts the secret
  variables live in this process only (SyncSettings reads them from held_secrets()).
- RedactSecrets, a logging filter on every handler (the console, Prefect's API log handler that ships logs to
  its database), replaces every secret this process has seen, and any `Api-Token` header value, in each
  record's message, arguments and exception; scrub() and scrub_exception() do the same for text and
  exceptions that are stored or printed otherwise.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Iterator

from ac_sync.activecampaign.errors import ApiUrlError
from ac_sync.activecampaign.urls import normalise_base_url
from ac_sync.engine.errors import ConfigError

# What can come from the environment with a secret in it. The credentials block's key never is in os.environ.
SECRET_ENV = ("AC_SYNC_API_KEY", "AC_SYNC_DATABASE_URL")
ASCII_WHITESPACE = " \t\r\n\x0b\x0c"
REDACTED = "[redacted]"
# Shorter values are no real key (ActiveCampaign's have 72 characters); redacting them would mangle every
# log line that happens to contain those few letters.
MIN_SECRET_LENGTH = 8

_CHARACTER_NAMES = {
    "\xa0": "a no-break space",
    "\u202f": "a narrow no-break space",
    "\u2007": "a figure space",
    "\u200b": "a zero-width space",
    "\u200c": "a zero-width non-joiner",
    "\u200d": "a zero-width joiner",
    "\u2060": "a word joiner",
    "\ufeff": "a byte-order mark",
    "\u2028": "a line separator",
    "\u00ad": "a soft hyphen",
    " ": "a space",
    "\t": "a tab",
    "\n": "a line break",
    "\r": "a carriage return",
    "\x00": "a NUL character",
}
# An Api-Token header as it is printed: `Api-Token: k`, `'Api-Token': 'k'`, `"api-token": "k"`, `b'k'`.
_HEADER_VALUE = re.compile(r"(?i)(api[-_]token['\"]?\s*[:=]\s*b?['\"]?)[^\s'\",}\]]+")
# The password of a URL (a warehouse URL: postgresql://user:password@host/db).
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")

_lock = threading.Lock()
_forms: set[str] = set()  # every secret seen, in every form it may be printed in
_held: dict[str, str] = {}  # secret environment variables moved out of os.environ (kept_from_children)


# --- checking what was pasted ---------------------------------------------------------------------------


def describe_character(ch: str) -> str:
    """A character for a message, by name: the invisible ones are exactly what a user cannot see in the value."""
    if ch in _CHARACTER_NAMES:
        return _CHARACTER_NAMES[ch]
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "")
    if name:
        return f"{code} ({name.lower()})"
    return f"the control character {code}" if unicodedata.category(ch).startswith("C") else code


def _first_bad_character(value: str) -> tuple[int, str] | None:
    """(1-based position, character) of the first character that is not printable ASCII (space excluded)."""
    for index, ch in enumerate(value):
        if not "\x21" <= ch <= "\x7e":
            return index + 1, ch
    return None


def clean_api_key(raw: str, where: str) -> str:
    """The key without the ASCII whitespace around it; ConfigError, naming the character but not the key, for
    any other character that cannot be in an API key.

    Surrounding whitespace is stripped silently: a key copied with its line's end (echo, a terminal selection,
    a `.env` line) is what users paste, and no API key holds whitespace, so stripping cannot change a real one.
    Inside the key, or anywhere when it is not ASCII (a no-break space from a web page), it is refused: the
    paste went wrong, and guessing which part is the key would send a wrong one.
    """
    remember_secret(raw)
    key = raw.strip(ASCII_WHITESPACE)
    remember_secret(key)
    bad = _first_bad_character(key)
    if bad is not None:
        position, ch = bad
        position += len(raw) - len(raw.lstrip(ASCII_WHITESPACE))  # counted in the value as given
        raise ConfigError(
            f"{where} holds a character that cannot be in an API key ({describe_character(ch)} at position"
            f" {position}): paste it again"
        )
    return key


def clean_api_url(raw: str, where: str) -> str:
    """The URL without the ASCII whitespace around it, once normalise_base_url accepts it; else ConfigError.

    A URL that cannot be right (no scheme, plain HTTP to a remote host, a path, a pasted invisible character)
    is a configuration error to fix before the run, not a failure to resolve while it waits.
    """
    url = raw.strip(ASCII_WHITESPACE)
    bad = _first_bad_character(url)
    if bad is not None:
        position, ch = bad
        position += len(raw) - len(raw.lstrip(ASCII_WHITESPACE))
        raise ConfigError(
            f"{where} holds a character that cannot be in a URL ({describe_character(ch)} at position {position}):"
            " copy it again from ActiveCampaign's Settings → Developer page"
        )
    try:
        normalise_base_url(url)
    except ApiUrlError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    return url


# --- keeping secrets out of child processes ---------------------------------------------------------------


@contextlib.contextmanager
def kept_from_children() -> Iterator[None]:
    """While the block runs, SECRET_ENV is not in os.environ, so no child process started meanwhile inherits it.

    Prefect starts its temporary server (when no PREFECT_API_URL is set) at the run's first API call, with
    `env={**os.environ, ...}`; that server lives as long as the run. The values stay readable in this process
    through held_secrets() (SyncSettings' source after the environment). Afterwards they are put back, unless
    the variable was set again meanwhile (a rotated key): the process's environment is then as it was.
    """
    with _lock:
        popped = {name: os.environ.pop(name) for name in SECRET_ENV if name in os.environ}
        _held.update(popped)
    for value in popped.values():
        remember_secret(value)
    try:
        yield
    finally:
        with _lock:
            for name, value in popped.items():
                os.environ.setdefault(name, value)
                if _held.get(name) == value:
                    del _held[name]


def held_secrets() -> dict[str, str]:
    """The secret environment variables kept_from_children has moved out of os.environ, by name."""
    with _lock:
        return dict(_held)


# --- redaction --------------------------------------------------------------------------------------------


def remember_secret(value: str | None) -> None:
    """Redact `value` from now on, in the forms it is printed in: as is, repr()'d, JSON-escaped, as bytes."""
    if not value or len(value.strip(ASCII_WHITESPACE)) < MIN_SECRET_LENGTH:
        return
    forms = {value, value.strip(ASCII_WHITESPACE), repr(value)[1:-1], json.dumps(value)[1:-1]}
    forms.add(repr(value.encode("utf-8", "backslashreplace"))[2:-1])
    with _lock:
        _forms.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)


def scrub(text: str) -> str:
    """`text` with every remembered secret, any Api-Token header value and any URL password replaced."""
    with _lock:
        forms = sorted(_forms, key=len, reverse=True)
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    text = _HEADER_VALUE.sub(rf"\g<1>{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", text)


def scrub_exception(exc: BaseException) -> BaseException:
    """Scrub, in place, the arguments and message attributes of `exc` and of the exceptions chained to it.

    In place, because Prefect builds the failed state's message, and pickles the exception into its results,
    from the very object it logged.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        with contextlib.suppress(Exception):
            current.args = tuple(scrub(a) if isinstance(a, str) else a for a in current.args)
        for attr in ("message", "object", "detail"):  # ACError.message; UnicodeError.object
            value = getattr(current, attr, None)
            if isinstance(value, str) and scrub(value) != value:
                with contextlib.suppress(Exception):
                    setattr(current, attr, scrub(value))
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        stack.extend(e for e in getattr(current, "exceptions", ()) if isinstance(e, BaseException))
    return exc


class RedactSecrets(logging.Filter):
    """Replaces secrets in a record's message, arguments, exception and stack text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its message: the handler will say so
            message = None
        if message is not None:
            clean = scrub(message)
            if clean != message:
                record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            scrub_exception(record.exc_info[1])
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FILTER = RedactSecrets()
# The loggers whose handlers the tool's processes write through; Prefect's "api" handler (APILogHandler, which
# ships records to the Prefect database) hangs on the flow- and task-run loggers.
LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.extra", "prefect.workers", "uvicorn")


def install_redaction() -> int:
    """Put the RedactSecrets filter on every handler of this process's loggers (again: handlers may be new).

    Idempotent; answers how many handlers it was added to. Prefect's logging is configured first if it was
    not yet (importing a flow does it), so that its handlers exist to be filtered.
    """
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    loggers += [lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    added = 0
    for handler in {id(h): h for lg in loggers for h in lg.handlers}.values():
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
            added += 1
    return added
