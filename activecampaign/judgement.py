"""What an answer of ActiveCampaign's API means: a table of rules from (status, body, headers) to a verdict.

The client's request loop sends, asks `judge`, and acts on the verdict: it parses an OK answer, retries a
RETRY after a backoff, pauses the account's limiter for a THROTTLE, and raises a REFUSE. The first rule that
matches decides, so `RULES` is the one place that says which answers are transient. A request that got no
answer (`judge_transport`) and a 2xx answer the operation could not read (`judge_unparsed`) are judged here
too. Nothing in this module sends, sleeps or counts: it only reads the answer (and, for an HTTP-date
Retry-After, the clock).

A verdict names the error to raise and its message's words: at once for a REFUSE, once the retry budget is
spent for a RETRY or a THROTTLE. The words are a template of `where` ("GET /api/3/lists"), `status`,
`detail` (": " and the API's own message, or nothing), `attempts`, `url` (the base URL) and `reason`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import httpx

from ac_sync.activecampaign.errors import (
    ACError,
    ApiUrlError,
    AuthenticationError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnexpectedAnswerError,
    ValidationError,
)


class Action(Enum):
    OK = "ok"  # a 2xx: the operation parses it
    RETRY = "retry"  # transient: the same request again, after a backoff, within the failure budget
    THROTTLE = "throttle"  # the account is over its rate: pause all of its requests, then this one again
    REFUSE = "refuse"  # no retry can change the answer: raise at once


@dataclass(frozen=True)
class Verdict:
    action: Action
    error: type[ACError] | None = None  # raised at once (REFUSE), or once the budget is spent (RETRY, THROTTLE)
    words: str = ""  # the error's message, a template (see the module's docstring)
    wait_s: float | None = None  # THROTTLE: the pause Retry-After asks for; None: back off
    bulk: bool = False  # THROTTLE by the bulk limit, which names no wait: back off from its own, longer, base

    def message(self, **facts: Any) -> str:
        return self.words.format(**facts)


Predicate = Callable[[int, Any, Mapping[str, str]], bool]


@dataclass(frozen=True)
class Rule:
    """Answers for which `applies(status, body, headers)` holds get `verdict`."""

    applies: Predicate
    verdict: Verdict


# --- the predicates the table is written in -------------------------------------------------------------------


def status_in(low: int, high: int) -> Predicate:
    """A status from `low` to `high`, both included."""
    return lambda status, body, headers: low <= status <= high


def status_is(code: int) -> Predicate:
    return status_in(code, code)


def with_header(name: str) -> Predicate:
    """The header is there and not empty (httpx's headers ignore case)."""
    return lambda status, body, headers: bool(headers.get(name))


def message_says(words: str) -> Predicate:
    """The body's `message` contains `words`, in any case."""
    return lambda status, body, headers: isinstance(body, dict) and words in str(body.get("message", "")).lower()


def every(*predicates: Predicate) -> Predicate:
    return lambda status, body, headers: all(p(status, body, headers) for p in predicates)


def anything(status: int, body: Any, headers: Mapping[str, str]) -> bool:
    return True


def refuse(error: type[ACError], what: str) -> Verdict:
    """A refusal worded as "GET /api/3/x: `what` (403): the API's message"."""
    return Verdict(Action.REFUSE, error, f"{{where}}: {what} ({{status}}){{detail}}")


OK = Verdict(Action.OK)
REDIRECTED = Verdict(
    Action.REFUSE,
    ApiUrlError,
    "{where}: the API URL answered with a redirect ({status}); use the exact URL from Settings → Developer",
)
_STAYED_LIMITED = "{where}: the account stayed rate-limited after {attempts} throttled answers"
THROTTLED = Verdict(Action.THROTTLE, RateLimitedError, _STAYED_LIMITED)
BULK_THROTTLED = Verdict(Action.THROTTLE, RateLimitedError, _STAYED_LIMITED, bulk=True)
SERVER_TROUBLE = Verdict(
    Action.RETRY, ServerError, "{where}: server error {status} persisted after {attempts} attempts"
)

# The first rule that applies decides. 503 is throttling only when it says how long to wait (the account's
# limit); any other 5xx is the server's trouble. The bulk limit answers 400, the status of a refused format.
RULES: tuple[Rule, ...] = (
    Rule(status_in(0, 299), OK),
    Rule(status_in(300, 399), REDIRECTED),
    Rule(status_is(429), THROTTLED),
    Rule(every(status_is(503), with_header("Retry-After")), THROTTLED),
    Rule(every(status_is(400), message_says("rate limit exceeded")), BULK_THROTTLED),
    Rule(status_in(500, 999), SERVER_TROUBLE),
    Rule(status_is(402), refuse(PaymentRequiredError, "payment required")),
    # The key refused, or a right of its user missing: only who-am-I can tell, and the client asks it.
    Rule(status_is(403), refuse(AuthenticationError, "forbidden")),
    Rule(status_is(404), refuse(NotFoundError, "not found")),
    Rule(anything, refuse(ValidationError, "refused")),
)


def judge(status: int, body: Any, headers: Mapping[str, str], *, now: float | None = None) -> Verdict:
    """The verdict of the first rule of `RULES` that applies; a THROTTLE carries the Retry-After it was given."""
    verdict = next(rule.verdict for rule in RULES if rule.applies(status, body, headers))
    if verdict.action is Action.THROTTLE:
        return replace(verdict, wait_s=retry_after_s(headers.get("Retry-After"), now=now))
    return verdict


def judge_transport(exc: httpx.TransportError) -> Verdict:
    """No answer (refused, reset, timed out) is transient; a host never reached, past the retries, is a wrong URL."""
    error = ApiUrlError if isinstance(exc, httpx.ConnectError) else TransportError
    return Verdict(Action.RETRY, error, "{where}: could not reach {url} ({reason})")


_UNREADABLE = "{where}: unexpected answer ({status}, %s): {reason}"
UNREADABLE = Verdict(Action.RETRY, UnexpectedAnswerError, _UNREADABLE % "after {attempts} attempts")
UNREADABLE_CREATE = Verdict(Action.REFUSE, UnexpectedAnswerError, _UNREADABLE % "not retried, it may have acted")


def untrusted(verdict: Verdict) -> bool:
    """Whether a write given this verdict may have acted although its answer does not say so: a 2xx it could not
    read, a 5xx, a connection lost or timed out (a host never reached, ApiUrlError, got nothing to act on)."""
    unreadable = verdict.error is UnexpectedAnswerError
    return unreadable or (verdict.action is Action.RETRY and verdict.error is not ApiUrlError)


def judge_unparsed(*, retry_allowed: bool) -> Verdict:
    """A 2xx the operation could not read: retried like a transient failure, unless the request creates something
    (the first attempt may have created it, and a second would make a duplicate)."""
    return UNREADABLE if retry_allowed else UNREADABLE_CREATE


# --- reading an answer --------------------------------------------------------------------------------------------


def message_of(body: Any) -> str:
    """One short line out of any of the API's error envelopes."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict):
                # `detail` says what was refused ("You do not have permission..."); `title` only "Forbidden".
                return str(first.get("detail") or first.get("title") or first)
        if isinstance(errors, str) and errors.strip():
            return errors.strip()  # fieldOption/bulk: {"errors": "Bulk operation failed. ..."}
        for key in ("message", "error"):
            if body.get(key):
                return str(body[key])
    if isinstance(body, str) and body.strip():
        return body.strip().splitlines()[0][:200]
    return ""


def http_date(value: str | None) -> datetime | None:
    """An HTTP date (always GMT by RFC 9110) as an aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a Retry-After asks for (a number, or an HTTP date from `now`); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = http_date(value)
        return max(0.0, parsed.timestamp() - (time.time() if now is None else now)) if parsed else None
