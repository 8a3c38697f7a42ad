"""The judgement table on its own: what each answer means, with no client, transport or clock in the way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ac_sync.activecampaign import errors as ac
from ac_sync.activecampaign.judgement import (
    RULES,
    Action,
    judge,
    judge_transport,
    judge_unparsed,
    message_of,
    retry_after_s,
)

BULK_LIMIT = {"success": 0, "message": "Rate limit exceeded.", "failureReasons": ["Up to 100 imports..."]}
FORBIDDEN = {"errors": [{"title": "Forbidden", "detail": "You do not have permission to access this resource"}]}
NOW = 1_748_959_509.0  # Tue, 03 Jun 2025 14:05:09 GMT


def verdict_of(status: int, body: Any = None, **headers: str) -> tuple[Action, type[ac.ACError] | None]:
    verdict = judge(status, body, httpx.Headers({k.replace("_", "-"): v for k, v in headers.items()}), now=NOW)
    return verdict.action, verdict.error


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, {"lists": []}, {}, (Action.OK, None)),
        (201, None, {}, (Action.OK, None)),
        (204, None, {}, (Action.OK, None)),
        (200, "<html>not the API</html>", {}, (Action.OK, None)),  # whether it fits is the operation's to say
        (301, None, {"Location": "https://acme.activehosted.com"}, (Action.REFUSE, ac.ApiUrlError)),
        (302, "moved", {}, (Action.REFUSE, ac.ApiUrlError)),
        (307, None, {}, (Action.REFUSE, ac.ApiUrlError)),
        (429, None, {}, (Action.THROTTLE, ac.RateLimitedError)),
        (429, {"message": "Too Many Requests"}, {"Retry-After": "2"}, (Action.THROTTLE, ac.RateLimitedError)),
        (503, None, {"Retry-After": "1"}, (Action.THROTTLE, ac.RateLimitedError)),
        (503, None, {"Retry-After": ""}, (Action.RETRY, ac.ServerError)),
        (503, "<html>Service Unavailable</html>", {}, (Action.RETRY, ac.ServerError)),
        (400, BULK_LIMIT, {}, (Action.THROTTLE, ac.RateLimitedError)),
        (400, {"message": "RATE LIMIT EXCEEDED"}, {}, (Action.THROTTLE, ac.RateLimitedError)),
        (400, {"errors": "Rate limit exceeded."}, {}, (Action.REFUSE, ac.ValidationError)),  # only `message` says it
        (422, {"message": "Rate limit exceeded."}, {}, (Action.REFUSE, ac.ValidationError)),
        (400, {"success": 0, "message": "No import found for batchId b-1."}, {}, (Action.REFUSE, ac.ValidationError)),
        (500, None, {}, (Action.RETRY, ac.ServerError)),
        (502, "<html>Bad Gateway</html>", {}, (Action.RETRY, ac.ServerError)),
        (504, None, {"Retry-After": "5"}, (Action.RETRY, ac.ServerError)),
        (402, {"message": "Pay"}, {}, (Action.REFUSE, ac.PaymentRequiredError)),
        (403, FORBIDDEN, {}, (Action.REFUSE, ac.AuthenticationError)),
        (403, None, {"Retry-After": "5"}, (Action.REFUSE, ac.AuthenticationError)),
        (404, {"message": "No Result found"}, {}, (Action.REFUSE, ac.NotFoundError)),
        (400, {"errors": [{"title": "Invalid email"}]}, {}, (Action.REFUSE, ac.ValidationError)),
        (409, None, {}, (Action.REFUSE, ac.ValidationError)),
        (422, {"errors": [{"title": "duplicate"}]}, {}, (Action.REFUSE, ac.ValidationError)),
    ],
)
def test_each_answer_gets_its_verdict(
    status: int, body: Any, headers: dict[str, str], expected: tuple[Action, type[ac.ACError] | None]
) -> None:
    assert verdict_of(status, body, **headers) == expected


def test_headers_are_read_whatever_their_case() -> None:
    assert judge(503, None, httpx.Headers({"retry-after": "4"})).wait_s == 4.0


@pytest.mark.parametrize(
    ("status", "body", "headers", "wait_s", "bulk"),
    [
        (429, None, {"Retry-After": "3"}, 3.0, False),
        (429, None, {"Retry-After": "0.5"}, 0.5, False),
        (429, None, {}, None, False),  # no wait given: the client backs off
        (503, None, {"Retry-After": "Tue, 03 Jun 2025 14:05:19 GMT"}, 10.0, False),
        (503, None, {"Retry-After": "soon"}, None, False),  # unreadable: throttled all the same, backed off
        (400, BULK_LIMIT, {}, None, True),  # the bulk limit names no wait, and backs off from its own base
        (400, BULK_LIMIT, {"Retry-After": "6"}, 6.0, True),
    ],
)
def test_a_throttle_carries_the_wait_it_implies(
    status: int, body: Any, headers: dict[str, str], wait_s: float | None, bulk: bool
) -> None:
    verdict = judge(status, body, httpx.Headers(headers), now=NOW)
    assert (verdict.action, verdict.wait_s, verdict.bulk) == (Action.THROTTLE, wait_s, bulk)


def test_only_throttles_carry_a_wait() -> None:
    assert judge(504, None, httpx.Headers({"Retry-After": "5"})).wait_s is None
    assert judge(403, None, httpx.Headers({"Retry-After": "5"})).wait_s is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("-3", 0.0),
        ("Tue, 03 Jun 2025 14:05:29 GMT", 20.0),
        ("Tue, 03 Jun 2025 14:00:00 GMT", 0.0),  # in the past: no wait
        ("in a while", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_s(value, now=NOW) == seconds


def test_every_rule_decides_some_answer() -> None:
    # No rule hidden behind an earlier one: each is the first to apply to one of these answers.
    samples = [
        (200, None, {}),
        (302, None, {}),
        (429, None, {}),
        (503, None, {"Retry-After": "1"}),
        (400, BULK_LIMIT, {}),
        (500, None, {}),
        (402, None, {}),
        (403, None, {}),
        (404, None, {}),
        (418, None, {}),
    ]
    deciding = [next(i for i, r in enumerate(RULES) if r.applies(s, b, httpx.Headers(h))) for s, b, h in samples]
    assert deciding == list(range(len(RULES)))


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (403, FORBIDDEN, "GET /api/3/groups: forbidden (403): You do not have permission to access this resource"),
        (403, None, "GET /api/3/groups: forbidden (403)"),
        (402, {"message": "Pay"}, "GET /api/3/groups: payment required (402): Pay"),
        (404, {"message": "No Result found"}, "GET /api/3/groups: not found (404): No Result found"),
        (422, {"errors": "Bulk operation failed."}, "GET /api/3/groups: refused (422): Bulk operation failed."),
        (
            301,
            None,
            "GET /api/3/groups: the API URL answered with a redirect (301); use the exact URL from Settings → "
            "Developer",
        ),
        (429, None, "GET /api/3/groups: the account stayed rate-limited after 11 throttled answers"),
        (502, None, "GET /api/3/groups: server error 502 persisted after 6 attempts"),
    ],
)
def test_the_words_of_each_verdict(status: int, body: Any, message: str) -> None:
    detail = f": {text}" if (text := message_of(body)) else ""
    verdict = judge(status, body, httpx.Headers())
    facts = {"url": "https://acme.api-us1.com/api/3", "reason": "", "attempts": 11 if status == 429 else 6}
    assert verdict.message(where="GET /api/3/groups", status=status, detail=detail, **facts) == message


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectError("refused"), ac.ApiUrlError),  # never reached: the URL is wrong
        (httpx.ConnectTimeout("slow"), ac.TransportError),  # a slow host may answer later
        (httpx.ReadTimeout("slow"), ac.TransportError),
        (httpx.RemoteProtocolError("reset"), ac.TransportError),
        (httpx.WriteError("broken pipe"), ac.TransportError),
    ],
)
def test_no_answer_is_retried_then_raised_by_kind(exc: httpx.TransportError, error: type[ac.ACError]) -> None:
    verdict = judge_transport(exc)
    assert (verdict.action, verdict.error) == (Action.RETRY, error)
    words = verdict.message(where="GET /api/3/users/me", url="https://a.api-us1.com/api/3", reason=type(exc).__name__)
    assert words == f"GET /api/3/users/me: could not reach https://a.api-us1.com/api/3 ({type(exc).__name__})"


def test_an_unreadable_answer_is_retried_unless_the_request_creates_something() -> None:
    facts = {"where": "POST /api/3/lists", "status": 201, "attempts": 3, "reason": "no 'list' object in {}"}
    retried, not_retried = judge_unparsed(retry_allowed=True), judge_unparsed(retry_allowed=False)
    assert (retried.action, retried.error) == (Action.RETRY, ac.UnexpectedAnswerError)
    assert (not_retried.action, not_retried.error) == (Action.REFUSE, ac.UnexpectedAnswerError)
    assert retried.message(**facts) == (
        "POST /api/3/lists: unexpected answer (201, after 3 attempts): no 'list' object in {}"
    )
    assert not_retried.message(**facts) == (
        "POST /api/3/lists: unexpected answer (201, not retried, it may have acted): no 'list' object in {}"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (FORBIDDEN, "You do not have permission to access this resource"),
        ({"errors": [{"title": "Forbidden"}]}, "Forbidden"),
        ({"errors": "  Bulk operation failed.  "}, "Bulk operation failed."),
        ({"message": "No Result found"}, "No Result found"),
        ({"error": "bad"}, "bad"),
        ("<html>\n<body>Maintenance</body></html>", "<html>"),
        ({}, ""),
        (None, ""),
        ([1, 2], ""),
    ],
)
def test_message_of_any_envelope(body: Any, message: str) -> None:
    assert message_of(body) == message
