"""Contacts at scale, membership dates and sources, and deletion taking a contact's everything along.

Reads by id order, bounds and id sets with the list filters, and the paging misbehaviours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import configure, contact_view, imported, make_field, make_list


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000, bulk_single_per_minute=10_000
    )


def seed(admin: httpx.Client, contacts: list[dict[str, Any]]) -> list[str]:
    response = admin.post("/contacts", json={"contacts": contacts})
    assert response.status_code == 200, response.text
    return list(response.json()["ids"])


def read(api: httpx.Client, params: Any) -> tuple[list[str], dict[str, Any]]:
    response = api.get("/contacts", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [c["id"] for c in body["contacts"]], body["meta"]


def test_orders_bounds_and_ids_with_list_filters(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    statuses = [1, 2, 1, 0, 1, None]
    seed(
        emulator_admin,
        [{"email": f"c{n}@example.com", "lists": {} if s is None else {list_id: s}} for n, s in enumerate(statuses, 1)],
    )
    assert read(emulator_api, {"orders[id]": "DESC"})[0] == ["6", "5", "4", "3", "2", "1"]
    assert read(emulator_api, {"id_greater": 2, "id_less": 6})[0] == ["3", "4", "5"]
    assert read(emulator_api, {"ids": "5,1,3"})[0] == ["1", "3", "5"]
    assert read(emulator_api, [("ids[]", "2"), ("ids[]", "6")])[0] == ["2", "6"]
    ids, meta = read(
        emulator_api, {"listid": list_id, "status": 1, "orders[id]": "desc", "id_greater": 1, "limit": 1, "offset": 1}
    )
    assert ids == ["3"] and meta["total"] == "2"
    page_input = meta["page_input"]
    assert {k: page_input[k] for k in ("listid", "status", "limit", "offset", "tagid")} == {
        "listid": int(list_id),
        "status": 1,
        "limit": 1,
        "offset": 1,
        "tagid": 0,
    }
    assert read(emulator_api, {"listid": list_id})[0] == ["1", "2", "3", "4", "5"]
    assert read(emulator_api, {"status": 0})[0] == ["4"]
    assert read(emulator_api, {"email": "C3@example.com", "listid": list_id})[0] == ["3"]
    assert read(emulator_api, {"search": "c6"})[0] == ["6"]
    for bad in ({"id_greater": "x"}, {"ids": "1,x"}, {"tagid": "x"}, {"listid": "x"}, {"status": "active"}):
        assert emulator_api.get("/contacts", params=bad).status_code == 400, bad
    wrong_order = emulator_api.get("/contacts", params={"orders[id]": "UP"})
    assert wrong_order.status_code == 422
    assert wrong_order.json()["errors"][0]["source"]["pointer"] == "/data/attributes/orders[id]"


@pytest.mark.parametrize("setting", ["filtered", "unbounded"])
def test_keyset_total(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, keyset_total=setting)
    list_id = make_list(emulator_api)
    seed(emulator_admin, [{"email": f"c{n}@example.com", "lists": {list_id: 1 if n % 2 else 2}} for n in range(10)])
    walked: list[str] = []
    totals: list[str] = []
    last = 0
    while True:
        ids, meta = read(
            emulator_api, {"listid": list_id, "status": 1, "orders[id]": "ASC", "id_greater": last, "limit": 2}
        )
        if not ids:
            break
        walked += ids
        totals.append(meta["total"])
        last = int(ids[-1])
    # The bounds always apply to the items; only what meta.total counts differs.
    assert walked == ["2", "4", "6", "8", "10"]
    assert totals == (["5", "3", "1"] if setting == "filtered" else ["5", "5", "5"])
    assert read(emulator_api, {"listid": list_id, "id_less": 5})[1]["total"] == ("4" if setting == "filtered" else "10")
    assert read(emulator_api, {"ids": "1,2,3", "id_greater": 1})[1]["total"] == ("2" if setting == "filtered" else "3")


@pytest.mark.parametrize("ignore", [False, True])
def test_ignore_paging(ignore: bool, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, ignore_paging=ignore)
    seed(emulator_admin, [{"email": f"c{n}@example.com"} for n in range(25)])
    for n in range(25):
        emulator_admin.post("/groups", json={"title": f"g{n}"})
        emulator_api.post(
            "/lists", json={"list": {"name": f"l{n}", "stringid": f"l{n}", "sender_url": "u", "sender_reminder": "r"}}
        )
    params = {"limit": 5, "offset": 5}
    contacts = emulator_api.get("/contacts", params=params).json()
    groups = emulator_api.get("/groups", params=params).json()
    lists = emulator_api.get("/lists", params=params).json()
    # The totals are right either way; the page is the first one, of the default size, when ignoring.
    assert (contacts["meta"]["total"], groups["meta"]["total"], lists["meta"]["total"]) == ("25", "26", "25")
    first_ids = (contacts["contacts"][0]["id"], groups["groups"][0]["id"], lists["lists"][0]["id"])
    sizes = (len(contacts["contacts"]), len(groups["groups"]), len(lists["lists"]))
    if ignore:
        assert first_ids == ("1", "3", "1") and sizes == (20, 20, 20)
        assert (contacts["meta"]["page_input"]["limit"], contacts["meta"]["page_input"]["offset"]) == (20, 0)
    else:
        assert first_ids == ("6", "8", "6") and sizes == (5, 5, 5)
        assert (contacts["meta"]["page_input"]["limit"], contacts["meta"]["page_input"]["offset"]) == (5, 5)
    # Other paged endpoints always honour paging.
    for n in range(3):
        make_field(emulator_api, f"f{n}")
    assert len(emulator_api.get("/fields", params={"limit": 1}).json()["fields"]) == 1


@pytest.mark.parametrize("ignore", [False, True])
def test_ignore_list_filter(ignore: bool, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, ignore_list_filter=ignore)
    list_id = make_list(emulator_api)
    seed(emulator_admin, [{"email": "on@example.com", "lists": {list_id: 1}}, {"email": "off@example.com"}])
    ids, meta = read(emulator_api, {"listid": list_id, "status": 1})
    if ignore:
        assert ids == ["1", "2"]
        assert (meta["page_input"]["listid"], meta["page_input"]["status"]) == (0, -1)
    else:
        assert ids == ["1"]
        assert (meta["page_input"]["listid"], meta["page_input"]["status"]) == (int(list_id), 1)


@pytest.mark.parametrize("setting", ["honour", "ignore"])
def test_groups_paging(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, groups_paging=setting)
    for n in range(24):
        emulator_admin.post("/groups", json={"title": f"g{n}"})
    plain = emulator_api.get("/groups").json()
    paged = emulator_api.get("/groups", params={"limit": 5, "offset": 20}).json()
    if setting == "honour":
        assert (len(plain["groups"]), len(paged["groups"])) == (20, 5)
        assert paged["groups"][0]["id"] == "23"
    else:
        assert len(plain["groups"]) == len(paged["groups"]) == 25
    assert plain["meta"]["total"] == paged["meta"]["total"] == "25"


def _memberships(api: httpx.Client, contact_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/contacts/{contact_id}/contactLists").json()["contactLists"])


def test_membership_dates_and_sources(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    history = "2023-03-04T05:06:07+02:00"
    ann, bob = seed(
        emulator_admin,
        [
            {"email": "ann@example.com", "lists": {list_id: 1}, "list_udate": history},
            {"email": "bob@example.com", "lists": {list_id: 2}, "list_udate": "2023-01-01T00:00:00Z"},
        ],
    )
    seeded = _memberships(emulator_api, ann)[0]
    # The moment as given, rendered in the API's style and the account's time zone.
    assert datetime.fromisoformat(seeded["udate"]) == datetime.fromisoformat(history)
    assert seeded["sdate"] == seeded["udate"] and seeded["status"] == "1"
    assert seeded["updated_timestamp"] == seeded["udate"][:19].replace("T", " ")
    # Someone seeded as unsubscribed never subscribed: no sdate.
    assert _memberships(emulator_api, bob)[0]["sdate"] is None
    body = {"contactList": {"list": int(list_id), "contact": int(bob), "status": 1, "sourceid": 4}}
    echoed = emulator_api.post("/contactLists", json=body).json()["contactList"]
    assert (echoed["status"], echoed["sourceid"]) == (1, "4") and echoed["sdate"] is not None
    read_back = _memberships(emulator_api, bob)[0]
    assert (read_back["status"], read_back["sourceid"], read_back["sdate"]) == ("1", "4", echoed["sdate"])
    assert datetime.fromisoformat(read_back["udate"]) > datetime.fromisoformat("2023-01-02T00:00:00+00:00")
    # A later unsubscription changes udate and keeps the first subscription's sdate and the source.
    emulator_admin.post("/contacts", json={"contacts": [{"email": "ann@example.com", "lists": {list_id: 2}}]})
    later = _memberships(emulator_api, ann)[0]
    assert (later["status"], later["sdate"], later["sourceid"]) == ("2", seeded["sdate"], "0")
    assert later["udate"] != seeded["udate"]
    assert (
        emulator_admin.post(
            "/contacts", json={"contacts": [{"email": "x@example.com", "list_udate": "yesterday"}]}
        ).status_code
        == 400
    )


def test_responses_carry_the_server_date(emulator_api: httpx.Client) -> None:
    # The client may read the server's clock from it.
    assert emulator_api.get("/users/me").headers["date"].endswith(" GMT")


def test_deleting_a_contact_takes_everything_of_its_along(
    emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    list_id = make_list(emulator_api)
    field_id = make_field(emulator_api, "Colour")
    contact = {"email": "ann@example.com", "tags": ["vip"], "fields": [{"id": field_id, "value": "Red"}]}
    imported(
        emulator_api, [{**contact, "subscribe": [{"listid": list_id}]}, {"email": "bob@example.com", "tags": ["vip"]}]
    )
    ann = emulator_api.get("/contacts", params={"email": "ann@example.com"}).json()["contacts"][0]["id"]
    assert emulator_api.delete(f"/contacts/{ann}").status_code == 200
    missing = emulator_api.delete(f"/contacts/{ann}")
    assert (missing.status_code, missing.json()) == (404, {"message": f"No result found for contact with id {ann}"})
    state = emulator_admin.get("/state").json()
    assert state["contacts"] == 1 and state["lists"][0]["members"] == {}
    assert emulator_api.get("/fieldValues").json()["fieldValues"] == []
    assert emulator_api.get("/contactAutomations").json()["contactAutomations"] == []
    assert emulator_api.get("/contacts", params={"tagid": 1}).json()["meta"]["total"] == "1"
    assert emulator_api.get("/contacts", params={"email": "ann@example.com"}).json()["contacts"] == []
    assert emulator_admin.get("/contacts", params={"email": "ann@example.com"}).status_code == 404
    # The address is free again, and the new contact starts with nothing.
    imported(emulator_api, [{"email": "ann@example.com"}])
    assert contact_view(emulator_admin, "ann@example.com") == {
        "email": "ann@example.com",
        "first_name": "",
        "last_name": "",
        "phone": "",
        "fields": {},
        "tags": [],
        "lists": {},
        "automation_runs": 0,
    }
