"""Answers are validated, not assumed: odd 2xx answers are retried and then raised, never read as "nothing"."""

from __future__ import annotations

from typing import Any

import pytest

from ac_sync.activecampaign.client import encode_json
from ac_sync.activecampaign.errors import (
    ApiUrlError,
    AuthenticationError,
    NotFoundError,
    UnconfirmedWriteError,
    UnexpectedAnswerError,
    ValidationError,
)
from tests.activecampaign.fake_api import KEY, RETRY, FakeAPI, example, reply

GOOD_LISTS = {"lists": [{"id": "7", "name": "VIP"}], "meta": {"total": "1"}}


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (reply(text="<html><body>Maintenance</body></html>"), "not JSON: '<html><body>Maintenance</body></html>'"),
        (reply(), "an empty body"),
        (reply({}), "no 'lists' array in {}"),
        (reply([]), "a JSON list where an object was expected"),
        (reply({"lists": "VIP"}), "no 'lists' array in an object with 'lists'"),
        (reply({"lists": [{"name": "VIP"}]}), "lists[0].id: Field required"),
        (reply({"lists": [{"id": "seven", "name": "VIP"}]}), "lists[0].id: Value error"),
    ],
    ids=["html", "empty", "empty-object", "array", "not-an-array", "no-id", "bad-id"],
)
async def test_a_lookup_that_did_not_answer_raises_after_the_retries(answer: Any, reason: str) -> None:
    api = FakeAPI().on("GET", "lists", answer)
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError) as info:
            await ac.lists_named("VIP")  # never [] : that answer made the tool create a second list
        stats = ac.stats
    assert len(api.calls("GET", "lists")) == RETRY.max_attempts
    assert stats.by_status["unexpected_body"] == RETRY.max_attempts and stats.retries == RETRY.max_attempts - 1
    assert "200" not in stats.by_status
    message = str(info.value)
    assert message.startswith("GET /api/3/lists: unexpected answer (200, after 3 attempts): ")
    assert reason in message and "\n" not in message
    assert info.value.status == 200


async def test_one_odd_answer_is_retried_like_a_transient_error() -> None:
    api = FakeAPI().on("GET", "lists", reply({}), reply(GOOD_LISTS))
    async with api.client() as ac:
        found = await ac.lists_named("VIP")
        stats = ac.stats
    assert [f.id for f in found] == [7]
    assert stats.retries == 1 and stats.by_status == {"unexpected_body": 1, "200": 1} and stats.total == 2


async def test_an_empty_list_is_an_answer() -> None:
    api = FakeAPI().on("GET", "lists", reply({"lists": [], "meta": {"total": "0"}}))
    async with api.client() as ac:
        assert await ac.lists_named("VIP") == []
    assert len(api.sent) == 1


NO_LISTS = {"lists": [], "meta": {"total": "0"}}
MADE = {"lists": [{"id": "7", "name": "VIP", "stringid": "vip"}], "meta": {"total": "1"}}


@pytest.mark.parametrize(
    "answer",
    [reply({}, 201), reply(text="<html>Maintenance</html>"), reply(), reply({"message": "oops"}, 500)],
    ids=["empty-object", "html", "empty", "500"],
)
async def test_an_odd_answer_to_a_create_is_looked_up_not_sent_again(answer: Any) -> None:
    # The first attempt may have created the list: the lookup finds it, and a second would make a duplicate.
    api = FakeAPI().on("POST", "lists", answer).on("GET", "lists", reply(MADE))
    async with api.client() as ac:
        made = await ac.create_list(name="VIP", stringid="vip", sender_url="https://x.example", sender_reminder="r")
        assert ac.stats.by_status["found_after_unreadable"] == 1
    assert made.id == 7 and len(api.calls("POST", "lists")) == 1


async def test_a_create_is_sent_again_only_when_the_lookup_finds_nothing_and_then_unconfirmed() -> None:
    api = FakeAPI().on("POST", "lists", reply({}, 201)).on("GET", "lists", reply(NO_LISTS))
    async with api.client() as ac:
        with pytest.raises(UnconfirmedWriteError) as info:
            await ac.create_list(name="VIP", stringid="vip", sender_url="https://x.example", sender_reminder="r")
    # Each attempt is followed by a lookup, and only an empty lookup lets the next attempt go.
    assert [s.method for s in api.sent] == ["POST", "GET"] * RETRY.max_attempts
    message = str(info.value)
    assert message.startswith(f"POST /api/3/lists: {RETRY.max_attempts} attempts answered nothing the sync can read")
    assert "may still appear" in message and info.value.transient


async def test_the_key_never_reaches_a_message_even_if_an_answer_echoes_it() -> None:
    page = f"<html>Proxy error. Request headers: Api-Token: {KEY}</html>"
    api = FakeAPI().on("GET", "groups", reply(text=page)).on("GET", "users/5", reply(text=page, status=404))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError) as odd:
            await ac.groups()
        with pytest.raises(NotFoundError) as missing:
            await ac.user(5)
        stats = repr(ac.stats.as_dict())
    for exc in (odd.value, missing.value):
        assert KEY not in str(exc) and KEY not in repr(exc.body) and "[api key]" in str(exc.body)
    assert KEY not in stats
    assert all(s.headers["Api-Token"] == KEY for s in api.sent)


async def test_a_404_where_none_is_expected_stays_not_found() -> None:
    api = FakeAPI().on("GET", "users/9", reply({"message": "No Result found for User with id 9"}, 404))
    async with api.client() as ac:
        with pytest.raises(NotFoundError) as info:
            await ac.user(9)
    assert not isinstance(info.value, UnexpectedAnswerError)
    assert str(info.value) == "GET /api/3/users/9: not found (404): No Result found for User with id 9"
    assert len(api.sent) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"errors": [{"title": "Forbidden", "detail": "You do not have permission to access this resource"}]},
            "GET /api/3/users/me: forbidden (403): You do not have permission to access this resource",
        ),
        ({"errors": [{"title": "Forbidden", "code": "forbidden"}]}, "GET /api/3/users/me: forbidden (403): Forbidden"),
        ({"message": "Forbidden"}, "GET /api/3/users/me: forbidden (403): Forbidden"),
        (None, "GET /api/3/users/me: forbidden (403)"),
    ],
    ids=["detail-over-title", "title-only", "message", "empty"],
)
async def test_a_forbidden_message_says_what_was_refused(body: Any, message: str) -> None:
    api = FakeAPI().on("GET", "users/me", reply(body, 403))
    async with api.client() as ac:
        with pytest.raises(AuthenticationError) as info:
            await ac.me()
    assert str(info.value) == message
    assert len(api.sent) == 1


async def test_an_errors_string_is_the_message() -> None:
    api = FakeAPI().on("POST", "fieldOption/bulk", reply(example("POST /fieldOption/bulk", "422"), 422))
    async with api.client() as ac:
        with pytest.raises(ValidationError) as info:
            await ac.add_field_options(62, ["X"])
    assert str(info.value).endswith(
        "refused (422): Bulk operation failed. Request must contain an array of fieldOption objects."
    )


async def test_me_answering_no_user_is_an_api_url_error() -> None:
    api = FakeAPI().on("GET", "users/me", reply(text="<html>Welcome to Acme</html>"))
    async with api.client() as ac:
        with pytest.raises(ApiUrlError) as info:
            await ac.me()
    assert "not ActiveCampaign's API; check the API URL" in str(info.value)
    assert len(api.sent) == RETRY.max_attempts


async def test_every_body_goes_out_as_encode_json() -> None:
    api = FakeAPI().on("POST", "groups", reply({"group": {"id": "8", "title": "Ünïcode"}}))
    api.on("POST", "tags", reply({"tag": {"id": "9", "tag": "Ünïcode"}}))
    async with api.client() as ac:
        await ac.create_group("Ünïcode", "déscript")
        await ac.create_tag("Ünïcode")
    first, second = api.sent
    assert first.raw == encode_json({"group": {"title": "Ünïcode", "descript": "déscript"}})
    assert second.raw == b'{"tag":{"tag":"\xc3\x9cn\xc3\xafcode","tagType":"contact","description":""}}'
    assert all(s.headers["Content-Type"] == "application/json" for s in api.sent)
    assert all(int(s.headers["Content-Length"]) == len(s.raw) for s in api.sent)


def test_encode_json_refuses_what_is_no_json() -> None:
    with pytest.raises(ValueError):
        encode_json({"x": float("nan")})
