"""A real account: users with their own keys, the Admin group's rights, group flags, visible lists, limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import configure, imported, make_field, make_group, make_list, user_client

ADMIN_ONLY = {
    "errors": [{"status": 403, "title": "Forbidden", "detail": "You do not have permission to access this resource."}]
}
LIST_BODY = {"list": {"name": "Mine", "stringid": "mine", "sender_url": "https://x.test", "sender_reminder": "r"}}
# Every flag a group can hold, so that what a non-admin is refused is refused for not being admin.
ALL_FLAGS = {
    flag: 1
    for flag in (
        "pgListAdd",
        "pgListEdit",
        "pgListDelete",
        "pgContactAdd",
        "pgContactEdit",
        "pgContactDelete",
        "pgContactImport",
        "pgContactFields",
        "pgGroupAdd",
        "pgGroupEdit",
        "pgGroupDelete",
        "pg_user_add",
        "pg_user_edit",
    )
}


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000, bulk_single_per_minute=10_000
    )


def detail(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    return str(response.json()["errors"][0]["detail"])


def test_users(emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    me = emulator_api.get("/users/me").json()["user"]
    assert (me["id"], me["username"]) == ("1", "admin")
    group_id = make_group(emulator_admin, "Marketing")
    created = emulator_admin.post(
        "/users",
        json={
            "username": "mia",
            "group_id": int(group_id),
            "api_key": "mia-key",
            "first_name": "Mia",
            "email": "m@x.test",
        },
    )
    assert created.json() == {"id": "2"}
    with httpx.Client(base_url=emulator.api_url, headers={"Api-Token": "mia-key"}) as mia:
        mine = mia.get("/users/me").json()["user"]
    assert (mine["id"], mine["username"], mine["firstName"], mine["email"]) == ("2", "mia", "Mia", "m@x.test")
    users = emulator_api.get("/users").json()
    assert [u["username"] for u in users["users"]] == ["admin", "mia"] and users["meta"] == {"total": "2"}
    assert emulator_api.get("/users/2").json()["user"]["username"] == "mia"
    assert emulator_api.get("/users/9").status_code == 404
    body = {"user": {"username": "jdoe", "email": "j@x.test", "firstName": "J", "password": "p", "group": group_id}}
    through_api = emulator_api.post("/users", json=body)
    assert through_api.status_code == 201 and through_api.json()["user"]["id"] == "3"
    assert emulator_api.post("/users", json=body).status_code == 422
    assert emulator_api.post("/users", json={"user": {**body["user"], "username": "k", "group": 99}}).status_code == 400
    assert emulator_api.post("/users", json={"user": {"username": "k"}}).status_code == 400
    for bad in (
        {"username": "x", "group_id": 99, "api_key": "k"},
        {"username": "x", "group_id": int(group_id)},
        {"username": "x", "group_id": int(group_id), "api_key": "mia-key"},
        {"username": "x", "group_id": int(group_id), "api_key": emulator.api_key},
        {"group_id": int(group_id), "api_key": "k"},
    ):
        assert emulator_admin.post("/users", json=bad).status_code == 400, bad


def test_user_keys_come_and_go(emulator: Any, emulator_admin: httpx.Client) -> None:
    group_id = make_group(emulator_admin, "Marketing")
    with user_client(emulator, emulator_admin, group_id, "mia-key") as mia:
        assert mia.get("/users/me").json()["user"]["id"] == "2"
        # Rotating keys without hers revokes it; a reset forgets her.
        emulator_admin.post("/keys", json={"valid": [emulator.api_key]})
        assert mia.get("/users/me").status_code == 403
        emulator_admin.post("/keys", json={"valid": [emulator.api_key, "mia-key"]})
        assert mia.get("/users/me").json()["user"]["id"] == "2"
        emulator_admin.post("/reset")
        assert mia.get("/users/me").status_code == 403


def test_only_admins_reach_users_and_groups(emulator: Any, emulator_admin: httpx.Client) -> None:
    group_id = make_group(emulator_admin, "Powerful", **ALL_FLAGS)
    with user_client(emulator, emulator_admin, group_id) as user:
        for response in (
            user.get("/users"),
            user.get("/users/1"),
            user.post("/users", json={"user": {"username": "x", "email": "x@x.test", "group": 3}}),
            user.get("/groups"),
            user.post("/groups", json={"group": {"title": "Mine"}}),
            user.get("/groups/3"),
            user.delete("/groups/3"),
        ):
            assert response.status_code == 403, response.request.url
            assert response.json() == ADMIN_ONLY
        assert user.get("/users/me").status_code == 200
    assert [g["title"] for g in emulator_admin.get("/state").json()["groups"]] == ["Admin", "Powerful"]


def _visible_list(api: httpx.Client, group_id: str) -> str:
    list_id = make_list(api)
    api.post("/listGroups", json={"listGroup": {"listid": int(list_id), "groupid": int(group_id)}})
    return list_id


def _existing_contact(api: httpx.Client) -> str:
    return str(api.post("/contact/sync", json={"contact": {"email": "old@example.com"}}).json()["contact"]["id"])


Attempt = Callable[[httpx.Client, httpx.Client, str], httpx.Response]
# A request per flag: (flag, request as a user of group_id, expected status with the flag, refusal detail).
FLAG_CASES: list[tuple[str, Attempt, int, str | None]] = [
    (
        "pgListAdd",
        lambda user, api, g: user.post("/lists", json=LIST_BODY),
        200,
        "You do not have permission to add lists.",
    ),
    (
        "pgListEdit",
        lambda user, api, g: user.post(
            "/listGroups", json={"listGroup": {"listid": int(make_list(api)), "groupid": int(g)}}
        ),
        201,
        None,  # the reference's {"message": "Forbidden"} on this endpoint
    ),
    (
        "pgListDelete",
        lambda user, api, g: user.delete(f"/lists/{_visible_list(api, g)}"),
        200,
        "You do not have permission to delete lists.",
    ),
    (
        "pgContactAdd",
        lambda user, api, g: user.post("/contacts", json={"contact": {"email": "new@example.com"}}),
        201,
        "You do not have permission to add contacts.",
    ),
    (
        "pgContactAdd",
        lambda user, api, g: user.post("/contact/sync", json={"contact": {"email": "new@example.com"}}),
        201,
        "You do not have permission to add contacts.",
    ),
    (
        "pgContactEdit",
        lambda user, api, g: (
            _existing_contact(api),
            user.post("/contact/sync", json={"contact": {"email": "old@example.com", "firstName": "O"}}),
        )[1],
        200,
        "You do not have permission to edit contacts.",
    ),
    (
        "pgContactEdit",
        lambda user, api, g: user.post(
            "/contactLists",
            json={"contactList": {"list": _visible_list(api, g), "contact": _existing_contact(api), "status": 1}},
        ),
        200,
        "You do not have permission to edit contacts.",
    ),
    (
        "pgContactDelete",
        lambda user, api, g: user.delete(f"/contacts/{_existing_contact(api)}"),
        200,
        "You do not have permission to delete contacts.",
    ),
    (
        "pgContactImport",
        lambda user, api, g: user.post("/import/bulk_import", json={"contacts": [{"email": "a@example.com"}] * 2}),
        200,
        "You do not have permission to import contacts.",
    ),
    (
        "pgContactFields",
        lambda user, api, g: user.post("/fields", json={"field": {"title": "Colour"}}),
        201,
        None,
    ),
]


@pytest.mark.parametrize(
    ("flag", "attempt", "allowed", "refusal"),
    [pytest.param(*case, id=f"{case[0]}-{n}") for n, case in enumerate(FLAG_CASES)],
)
@pytest.mark.parametrize("granted", [False, True])
def test_group_flags(
    flag: str,
    attempt: Attempt,
    allowed: int,
    refusal: str | None,
    granted: bool,
    emulator: Any,
    emulator_api: httpx.Client,
    emulator_admin: httpx.Client,
) -> None:
    # A group created without flags has none; this one has just the flag under test, or nothing.
    group_id = make_group(emulator_admin, "Team", **({flag: 1} if granted else {}))
    with user_client(emulator, emulator_admin, group_id) as user:
        response = attempt(user, emulator_api, group_id)
    if granted:
        assert response.status_code == allowed, response.text
    elif refusal is None:
        assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
    else:
        assert detail(response) == refusal
        assert response.json()["errors"][0]["title"] == "Forbidden"


@pytest.mark.parametrize("style", ["reference", "errors", "message"])
def test_permission_denied_body(style: str, emulator: Any, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, permission_denied_body=style)
    with user_client(emulator, emulator_admin, make_group(emulator_admin, "Nobody")) as user:
        fields = user.post("/fields", json={"field": {"title": "Colour"}})
        lists = user.post("/lists", json=LIST_BODY)
    message = {"message": "Forbidden"}
    assert fields.status_code == lists.status_code == 403
    if style == "message":
        assert fields.json() == lists.json() == message
    elif style == "errors":
        assert detail(fields) == "You do not have permission to manage custom fields."
        assert detail(lists) == "You do not have permission to add lists."
    else:
        assert fields.json() == message
        assert detail(lists) == "You do not have permission to add lists."


@pytest.mark.parametrize("status", [403, 404])
def test_non_admins_see_only_their_lists(
    status: int, emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    configure(emulator_admin, hidden_list_status=status)
    group_id = make_group(emulator_admin, "Team", pgContactImport=1, pgContactEdit=1)
    theirs = _visible_list(emulator_api, group_id)
    hidden = make_list(emulator_api, "Hidden")
    contact_id = _existing_contact(emulator_api)
    with user_client(emulator, emulator_admin, group_id) as user:
        assert [lst["id"] for lst in user.get("/lists").json()["lists"]] == [theirs]
        assert user.get("/lists", params={"filters[name]": "hidden"}).json()["meta"]["total"] == "0"
        assert user.get(f"/lists/{theirs}").status_code == 200
        refused = user.get(f"/lists/{hidden}")
        change = user.post("/contactLists", json={"contactList": {"list": hidden, "contact": contact_id, "status": 1}})
        # Bulk import skips a list the user does not see, like an unknown one.
        both = [{"listid": theirs}, {"listid": hidden}]
        info = imported(user, [{"email": "a@example.com", "subscribe": both}, {"email": "b@example.com"}])
    assert info["failure"] == []
    if status == 403:
        assert refused.json() == {
            "errors": [{"status": 403, "title": "Forbidden", "detail": "You do not have permission to view lists."}]
        }
    else:
        assert refused.json() == {"message": f"No Result found for _List with id {hidden}"}
    assert refused.status_code == change.status_code == status
    members = {lst["id"]: lst["members"] for lst in emulator_admin.get("/state").json()["lists"]}
    assert members == {theirs: {"a@example.com": 1}, hidden: {}}
    assert [lst["id"] for lst in emulator_api.get("/lists").json()["lists"]] == [theirs, hidden]


@pytest.mark.parametrize("setting", ["none", "own_group"])
def test_non_admin_list_link(
    setting: str, emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    configure(emulator_admin, non_admin_list_link=setting)
    group_id = make_group(emulator_admin, "Team", pgListAdd=1, pgListEdit=1)
    with user_client(emulator, emulator_admin, group_id) as user:
        created = user.post("/lists", json=LIST_BODY).json()["list"]
        seen = [lst["id"] for lst in user.get("/lists").json()["lists"]]
        if setting == "none":
            # Invisible to its own creator until linked.
            assert seen == []
            assert (
                user.post(
                    "/listGroups", json={"listGroup": {"listid": int(created["id"]), "groupid": int(group_id)}}
                ).status_code
                == 201
            )
        else:
            assert seen == [created["id"]]
        assert [lst["id"] for lst in user.get("/lists").json()["lists"]] == [created["id"]]
        assert user.get(f"/lists/{created['id']}").json()["list"]["userid"] == "2"
    # An admin's new list is never linked.
    emulator_api.post("/lists", json={"list": {**LIST_BODY["list"], "name": "Admin's", "stringid": "admins"}})
    assert [lst["group_ids"] for lst in emulator_admin.get("/state").json()["lists"]] == [[group_id], []]


def test_group_limits(emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    group_id = make_group(emulator_admin, "Team")
    answer = emulator_admin.post("/group-limits", json={"group_id": int(group_id), "limitList": 2, "limitContact": 10})
    assert answer.json() == {"group_id": group_id, "limitList": 2, "limitContact": 10}
    assert (
        emulator_admin.post("/group-limits", json={"group_id": int(group_id), "limitList": 3}).json()["limitContact"]
        == 10
    )
    limits = emulator_api.get("/groupLimits").json()
    assert [(g["groupid"], g["limitList"], g["limitContact"]) for g in limits["groupLimits"]] == [
        ("3", "0", "0"),
        (group_id, "3", "10"),
    ]
    assert limits["meta"] == {"total": "2"}
    for bad in ({"group_id": 99, "limitList": 1}, {"group_id": int(group_id), "limitList": -1}, {"limitList": 1}):
        assert emulator_admin.post("/group-limits", json=bad).status_code == 400, bad


@pytest.mark.parametrize("setting", ["all", "admin"])
def test_group_limits_readable(setting: str, emulator: Any, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, group_limits_readable=setting)
    with user_client(emulator, emulator_admin, make_group(emulator_admin, "Team")) as user:
        response = user.get("/groupLimits")
    if setting == "all":
        assert response.status_code == 200 and len(response.json()["groupLimits"]) == 2
    else:
        assert (response.status_code, response.json()) == (403, ADMIN_ONLY)


@pytest.mark.parametrize("status", [403, 422])
def test_list_limit(status: int, emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, list_limit_status=status)
    group_id = make_group(emulator_admin, "Team", pgListAdd=1)
    emulator_admin.post("/group-limits", json={"group_id": int(group_id), "limitList": 2})
    # A list linked to the group counts, as does one its users made.
    _visible_list(emulator_api, group_id)
    with user_client(emulator, emulator_admin, group_id) as user:
        assert user.post("/lists", json=LIST_BODY).status_code == 200
        refused = user.post("/lists", json={"list": {**LIST_BODY["list"], "name": "More", "stringid": "more"}})
        assert refused.status_code == status
        entry = refused.json()["errors"][0]
        assert entry["detail"] == "Your group has reached its limit of 2 lists."
        if status == 422:
            assert (entry["code"], entry["source"]) == ("limit_exceeded", {"pointer": "/data/attributes/name"})
        else:
            assert entry["title"] == "Forbidden"
        # Admins of other groups are not held by this group's limit; 0 lifts it.
        assert emulator_api.post(
            "/lists", json={"list": {**LIST_BODY["list"], "name": "A", "stringid": "a"}}
        ).is_success
        emulator_admin.post("/group-limits", json={"group_id": int(group_id), "limitList": 0})
        assert user.post("/lists", json={"list": {**LIST_BODY["list"], "name": "More", "stringid": "more"}}).is_success
    assert len(emulator_admin.get("/state").json()["lists"]) == 4


@pytest.mark.parametrize("status", [403, 422])
def test_contact_limit(status: int, emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, contact_limit_status=status)
    group_id = make_group(emulator_admin, "Team", pgContactImport=1, pgContactAdd=1, pgContactEdit=1)
    emulator_admin.post("/group-limits", json={"group_id": int(group_id), "limitContact": 2})
    _existing_contact(emulator_api)  # an admin's contact does not count for the group
    with user_client(emulator, emulator_admin, group_id) as user:
        contacts = [{"email": e} for e in ("a@example.com", "b@example.com", "c@example.com", "old@example.com")]
        info = imported(user, contacts)
        # New contacts beyond the limit fail; updating an existing one is no new contact.
        assert len(info["success"]) == 2 and info["failure"] == ["c@example.com"]
        for refused in (
            user.post("/contacts", json={"contact": {"email": "d@example.com"}}),
            user.post("/contact/sync", json={"contact": {"email": "d@example.com"}}),
        ):
            assert refused.status_code == status
            assert refused.json()["errors"][0]["detail"] == "Your group has reached its limit of 2 contacts."
        assert (
            user.post("/contact/sync", json={"contact": {"email": "a@example.com", "firstName": "A"}}).status_code
            == 200
        )
        # Deleting one of the group's contacts makes room again.
        a_id = emulator_api.get("/contacts", params={"email": "a@example.com"}).json()["contacts"][0]["id"]
        emulator_api.delete(f"/contacts/{a_id}")
        assert user.post("/contacts", json={"contact": {"email": "d@example.com"}}).status_code == 201
    assert emulator_admin.get("/state").json()["contacts"] == 3


def test_a_user_whose_group_is_gone_has_no_rights(
    emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    group_id = make_group(emulator_admin, "Team", pgContactFields=1)
    with user_client(emulator, emulator_admin, group_id) as user:
        make_field(user, "Before")
        assert emulator_api.delete(f"/groups/{group_id}").status_code == 200
        assert user.get("/users/me").status_code == 200
        assert user.post("/fields", json={"field": {"title": "After"}}).json() == {"message": "Forbidden"}
