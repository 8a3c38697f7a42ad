"""The admin surface acceptance checks drive (/work/shared/interface.md): names and shapes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(time_scale=50, requests_per_second=10_000)


def make_list(api: httpx.Client, name: str = "Audience") -> str:
    body = {"name": name, "stringid": name.lower(), "sender_url": "https://x.test", "sender_reminder": "r"}
    return str(api.post("/lists", json={"list": body}).json()["list"]["id"])


def test_fresh_account_state(emulator_admin: httpx.Client, emulator_api: httpx.Client) -> None:
    assert emulator_admin.get("/state").json() == {
        "groups": [{"id": "3", "title": "Admin"}],
        "lists": [],
        "contacts": 0,
        "automation_runs": 0,
    }
    me = emulator_api.get("/users/me").json()["user"]
    assert me["id"] == "1"
    groups = emulator_api.get("/groups").json()
    assert [g["id"] for g in groups["groups"]] == ["3"] and groups["meta"]["total"] == "1"


def test_state_shape(emulator_admin: httpx.Client, emulator_api: httpx.Client) -> None:
    group_id = emulator_admin.post("/groups", json={"title": "Marketing"}).json()["id"]
    assert group_id == "4"
    list_id = make_list(emulator_api)
    emulator_api.post("/listGroups", json={"listGroup": {"listid": int(list_id), "groupid": int(group_id)}})
    seeded = emulator_admin.post(
        "/contacts",
        json={
            "contacts": [
                {"email": "a@example.com", "lists": {list_id: 1}},
                {"email": "b@example.com", "lists": {list_id: 2}},
                {"email": "c@example.com"},
            ]
        },
    )
    assert seeded.status_code == 200
    assert emulator_admin.get("/state").json() == {
        "groups": [{"id": "3", "title": "Admin"}, {"id": "4", "title": "Marketing"}],
        "lists": [
            {
                "id": list_id,
                "name": "Audience",
                "stringid": "audience",
                "group_ids": ["4"],
                "members": {"a@example.com": 1, "b@example.com": 2},
            }
        ],
        "contacts": 3,
        "automation_runs": 0,
    }
    # The API sees what the admin seeded.
    titles = [g["title"] for g in emulator_api.get("/groups").json()["groups"]]
    assert titles == ["Admin", "Marketing"]
    unsubscribed = emulator_api.get("/contacts", params={"listid": list_id, "status": 2}).json()["contacts"]
    assert [c["email"] for c in unsubscribed] == ["b@example.com"]


def test_seeding_is_all_or_nothing(emulator_admin: httpx.Client, emulator_api: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    response = emulator_admin.post(
        "/contacts",
        json={
            "contacts": [
                {"email": "a@example.com", "lists": {list_id: 1}},
                {"email": "b@example.com", "lists": {"99": 1}},
            ]
        },
    )
    assert response.status_code == 400
    assert "error" in response.json()
    assert emulator_admin.get("/state").json()["contacts"] == 0


def test_reset(emulator_admin: httpx.Client, emulator_api: httpx.Client) -> None:
    make_list(emulator_api)
    emulator_admin.post("/groups", json={"title": "Marketing"})
    emulator_admin.post("/keys", json={"valid": ["other"]})
    emulator_admin.post("/faults", json={"rules": [{"path": "x", "status": 500}]})
    emulator_admin.post("/exclusions", json={"emails": ["x@example.com"]})
    assert emulator_admin.post("/reset").status_code == 200
    assert emulator_admin.get("/state").json() == {
        "groups": [{"id": "3", "title": "Admin"}],
        "lists": [],
        "contacts": 0,
        "automation_runs": 0,
    }
    assert emulator_admin.get("/requests").json() == []
    assert emulator_admin.get("/faults").json() == {"rules": []}
    assert emulator_api.get("/users/me").status_code == 200
    assert emulator_api.get("/lists/exclusions").json()["exclusions"] == []
    # Ids start again too.
    assert emulator_admin.post("/groups", json={"title": "Again"}).json() == {"id": "4"}
    assert make_list(emulator_api) == "1"


def test_key_rotation(emulator: Any, emulator_admin: httpx.Client) -> None:
    url = f"{emulator.api_url}/users/me"
    assert emulator_admin.post("/keys", json={"valid": ["k1", "k2"]}).status_code == 200
    assert httpx.get(url, headers={"Api-Token": emulator.api_key}).status_code == 403
    assert httpx.get(url, headers={"Api-Token": "k1"}).status_code == 200
    emulator_admin.post("/keys", json={"valid": ["k2"]})
    assert httpx.get(url, headers={"Api-Token": "k1"}).status_code == 403
    assert httpx.get(url, headers={"Api-Token": "k2"}).status_code == 200
    assert emulator_admin.post("/keys", json={"valid": "k3"}).status_code == 400


def test_request_log(emulator: Any, emulator_admin: httpx.Client, emulator_api: httpx.Client) -> None:
    emulator_api.get("/lists", params={"filters[name]": "x", "limit": 5})
    httpx.get(f"{emulator.api_url}/users/me")
    emulator_api.post("/import/bulk_import", json={"contacts": [{"email": "a@example.com"}] * 3})
    emulator_api.get("/nowhere")
    log = emulator_admin.get("/requests").json()
    assert [(e["method"], e["path"], e["status"], e["contacts"]) for e in log] == [
        ("GET", "/api/3/lists", 200, None),
        ("GET", "/api/3/users/me", 403, None),
        ("POST", "/api/3/import/bulk_import", 200, 3),
        ("GET", "/api/3/nowhere", 404, None),
    ]
    assert set(log[0]) == {"t", "method", "path", "query", "status", "contacts"}
    assert "filters" in log[0]["query"] and "limit=5" in log[0]["query"]
    times = [e["t"] for e in log]
    assert times == sorted(times) and all(isinstance(t, float) and t >= 0 for t in times)


def test_contact_view_and_seeded_fields_and_tags(emulator_admin: httpx.Client, emulator_api: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    body = {"field": {"title": "Colour", "type": "dropdown"}}
    field_id = emulator_api.post("/fields", json=body).json()["field"]["id"]
    entry = {
        "email": "Ann@Example.com",
        "first_name": "Ann",
        "phone": "123",
        "lists": {list_id: 2},
        # Seeding stores values as given, even one that is no option: a test can script any state.
        "fields": {field_id: "Purple"},
        "tags": ["VIP", "vip", "new"],
    }
    assert emulator_admin.post("/contacts", json={"contacts": [entry]}).json() == {"ids": ["1"]}
    assert emulator_admin.get("/contacts", params={"email": "ann@example.com"}).json() == {
        "email": "Ann@Example.com",
        "first_name": "Ann",
        "last_name": "",
        "phone": "123",
        "fields": {field_id: "Purple"},
        "tags": ["VIP", "new"],
        "lists": {list_id: 2},
        "automation_runs": 0,
    }
    unknown = emulator_admin.get("/contacts", params={"email": "bob@example.com"})
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert emulator_admin.get("/contacts").status_code == 400
    for bad in ({"fields": {"99": "x"}}, {"fields": ["x"]}, {"tags": "vip"}, {"tags": [""]}):
        response = emulator_admin.post("/contacts", json={"contacts": [{"email": "bob@example.com", **bad}]})
        assert response.status_code == 400, bad
    assert emulator_admin.get("/state").json()["contacts"] == 1


def test_admin_groups_take_flags(emulator_admin: httpx.Client, emulator_api: httpx.Client) -> None:
    group_id = emulator_admin.post(
        "/groups", json={"title": "Editors", "pgListAdd": 1, "pgContactImport": True}
    ).json()["id"]
    group = emulator_api.get(f"/groups/{group_id}").json()["group"]
    granted = {k for k, v in group.items() if k.startswith("pg") and v == "1"}
    assert granted == {"pgListAdd", "pgContactImport"} and group["p_admin"] == "0"
    admin = emulator_api.get("/groups/3").json()["group"]
    assert admin["p_admin"] == "1" and admin["pgListAdd"] == "1"


def test_bad_admin_bodies(emulator_admin: httpx.Client) -> None:
    assert emulator_admin.post("/groups", json={}).status_code == 400
    assert emulator_admin.post("/exclusions", json={"emails": "x"}).status_code == 400
    assert emulator_admin.post("/contacts", content=b"not json").status_code == 400
