"""The client's exception tree: each class's kind and code, what it lets a playbook show, and which 403 is which."""

from __future__ import annotations

import pickle

import httpx
import pytest

from ac_sync.activecampaign import errors as acerr
from ac_sync.activecampaign.judgement import RULES, Action, judge_transport, judge_unparsed
from ac_sync.activecampaign.rights import right_needed
from tests.activecampaign.fake_api import KEY, RETRY, FakeAPI, reply

FORBIDDEN = {"errors": [{"title": "Forbidden", "detail": "You do not have permission to access this resource"}]}
ME = {"user": {"id": "1", "username": "admin", "email": "admin@example.com"}}


@pytest.mark.parametrize(
    ("cls", "transient", "code"),
    [
        (acerr.ACError, False, None),
        (acerr.ApiUrlError, False, "API_URL_INVALID"),
        (acerr.AuthenticationError, False, None),
        (acerr.KeyRefusedError, False, "INVALID_CREDENTIALS"),
        (acerr.PermissionDeniedError, False, "MISSING_PERMISSION"),
        (acerr.PaymentRequiredError, False, "PAYMENT_REQUIRED"),
        (acerr.NotFoundError, False, None),
        (acerr.BatchNotFoundError, False, None),
        (acerr.ValidationError, False, None),
        (acerr.RateLimitedError, True, "RATE_LIMIT_EXHAUSTED"),
        (acerr.ServerError, True, None),
        (acerr.TransportError, True, None),
        (acerr.UnexpectedAnswerError, False, None),
        (acerr.UnconfirmedWriteError, True, None),
    ],
)
def test_each_class_says_its_kind_and_code(cls: type[acerr.ACError], transient: bool, code: str | None) -> None:
    assert (cls.transient, cls.code) == (transient, code)


def test_every_error_class_is_in_the_table_above() -> None:
    def tree(cls: type[acerr.ACError]) -> set[type[acerr.ACError]]:
        return {cls}.union(*(tree(sub) for sub in cls.__subclasses__()))

    assert len(tree(acerr.ACError)) == 14


def test_the_tables_verdicts_agree_with_the_kinds() -> None:
    # Past its budget, an answer retried or throttled ends in an error that says it is transient, and a refusal in
    # one that says it is not. Retried without being transient: a host never reached (no wait fixes its URL) and
    # a 2xx that does not fit (one may be a glitch; one that stays is no such thing).
    verdicts = [rule.verdict for rule in RULES if rule.verdict.action is not Action.OK]
    verdicts += [judge_transport(httpx.ReadTimeout("slow")), judge_unparsed(retry_allowed=False)]
    for verdict in verdicts:
        assert verdict.error is not None
        assert verdict.error.transient == (verdict.action is not Action.REFUSE), verdict
    assert not judge_transport(httpx.ConnectError("refused")).error.transient
    assert not judge_unparsed(retry_allowed=True).error.transient


def test_context_shows_the_request_never_the_body() -> None:
    exc = acerr.ValidationError(
        "POST /api/3/contact/sync: refused (422): Email is invalid",
        status=422,
        method="POST",
        path="contact/sync",
        body={"contact": {"email": "jane@example.com"}},
    )
    assert exc.context == {"method": "POST", "path": "contact/sync", "status": 422}
    assert acerr.TransportError("GET /api/3/groups: could not reach x", method="GET", path="groups").context == {
        "method": "GET",
        "path": "groups",
    }
    denied = acerr.PermissionDeniedError(
        "forbidden", right="add a list (pgListAdd)", status=403, method="POST", path="lists"
    )
    assert denied.context == {"method": "POST", "path": "lists", "status": 403, "right": "add a list (pgListAdd)"}


def test_an_error_survives_pickling_with_its_keywords() -> None:
    denied = acerr.PermissionDeniedError(
        "forbidden", right="add a list (pgListAdd)", status=403, method="POST", path="lists"
    )
    again = pickle.loads(pickle.dumps(denied))
    assert type(again) is acerr.PermissionDeniedError and str(again) == "forbidden"
    assert (again.right, again.status, again.method, again.path) == (denied.right, 403, "POST", "lists")


@pytest.mark.parametrize(
    ("method", "path", "right"),
    [
        ("GET", "groups", "read the user groups (only the Admin group may)"),
        ("POST", "lists", "add a list (pgListAdd)"),
        ("GET", "lists/7", "see the list (its group must be linked to it)"),
        ("DELETE", "contactTags/3", "tag contacts (pgContactEdit)"),
        ("POST", "fieldValues", "read or change custom fields (pgContactFields)"),
        ("/POST", "/automations", "do /POST /api/3/automations"),
        ("GET", "automations", "do GET /api/3/automations"),
    ],
)
def test_the_right_a_request_needs(method: str, path: str, right: str) -> None:
    assert right_needed(method, path) == right


# --- which 403 is which: the client asks who-am-I ------------------------------------------------------------


async def test_a_403_of_a_valid_key_is_a_missing_right() -> None:
    api = FakeAPI().on("POST", "lists", reply(FORBIDDEN, 403)).on("GET", "users/me", reply(ME))
    async with api.client() as ac:
        with pytest.raises(acerr.PermissionDeniedError) as info:
            await ac.create_list(name="VIP", stringid="vip", sender_url="https://x.example", sender_reminder="r")
        stats = ac.stats
    assert str(info.value) == "POST /api/3/lists: forbidden (403): You do not have permission to access this resource"
    assert info.value.right == "add a list (pgListAdd)" and info.value.status == 403
    assert [(s.method, s.path) for s in api.sent] == [("POST", "lists"), ("GET", "users/me")]
    assert stats.total == 2 and stats.by_status == {"403": 1, "200": 1}


async def test_a_403_after_which_who_am_i_refuses_the_key_is_the_key() -> None:
    api = FakeAPI().on("GET", "groups", reply(None, 403)).on("GET", "users/me", reply(None, 403))
    async with api.client() as ac:
        with pytest.raises(acerr.KeyRefusedError) as info:
            await ac.groups()
    assert str(info.value) == "GET /api/3/groups: forbidden (403)" and info.value.path == "groups"
    assert [s.path for s in api.sent] == ["groups", "users/me"]


async def test_a_403_to_who_am_i_is_the_key_without_asking_again() -> None:
    api = FakeAPI().on("GET", "users/me", reply(FORBIDDEN, 403))
    async with api.client() as ac:
        with pytest.raises(acerr.KeyRefusedError):
            await ac.me()
    assert len(api.sent) == 1


@pytest.mark.parametrize(
    "trouble",
    [reply(None, 500), reply(text="<html>maintenance</html>"), reply({"message": "Pay"}, 402)],
    ids=["server-error", "not-the-api", "payment"],
)
async def test_who_am_i_in_other_trouble_does_not_blame_the_key(trouble: httpx.Response) -> None:
    api = FakeAPI().on("GET", "groups", reply(None, 403)).on("GET", "users/me", trouble)
    async with api.client() as ac:
        with pytest.raises(acerr.PermissionDeniedError) as info:
            await ac.groups()
    assert info.value.right == "read the user groups (only the Admin group may)"
    assert api.sent[0].path == "groups" and {s.path for s in api.sent[1:]} == {"users/me"}


async def test_no_403_message_holds_the_key() -> None:
    echo = reply({"message": f"Forbidden for Api-Token {KEY}"}, 403)
    api = FakeAPI().on("GET", "groups", echo).on("GET", "users/me", echo)
    async with api.client() as ac:
        with pytest.raises(acerr.KeyRefusedError) as info:
            await ac.groups()
    assert KEY not in str(info.value) and KEY not in repr(info.value.context)


# --- who-am-I says when the URL is wrong -----------------------------------------------------------------------


async def test_who_am_i_not_found_is_a_wrong_url() -> None:
    api = FakeAPI().on("GET", "users/me", reply({"message": "No Result found for User"}, 404))
    async with api.client() as ac:
        with pytest.raises(acerr.ApiUrlError) as info:
            await ac.me()
    assert str(info.value) == "GET /api/3/users/me: not found (404): No Result found for User"
    assert info.value.status == 404
    assert len(api.sent) == 1


async def test_who_am_i_without_an_answer_is_a_wrong_url() -> None:
    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    api = FakeAPI().on("GET", "users/me", time_out)
    async with api.client() as ac:
        with pytest.raises(acerr.ApiUrlError) as info:
            await ac.me()
        assert ac.stats.by_status == {"transport_error": RETRY.max_attempts}
    assert str(info.value) == "GET /api/3/users/me: could not reach https://acme.api-us1.com/api/3 (ReadTimeout)"


async def test_elsewhere_a_timeout_stays_a_transport_error() -> None:
    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    api = FakeAPI().on("GET", "groups", time_out)
    async with api.client() as ac:
        with pytest.raises(acerr.TransportError):
            await ac.groups()
