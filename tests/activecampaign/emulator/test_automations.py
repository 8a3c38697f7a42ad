"""Automations: a run whenever a contact enters a list, unless excluded; counted in the state and per contact."""

from __future__ import annotations

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import configure, contact_view, finish, imported, make_list, submit


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000, bulk_single_per_minute=10_000
    )


def runs(admin: httpx.Client) -> int:
    return int(admin.get("/state").json()["automation_runs"])


def contact_id(api: httpx.Client, email: str) -> str:
    return str(api.get("/contacts", params={"email": email}).json()["contacts"][0]["id"])


@pytest.mark.parametrize("setting", ["on", "off"])
def test_automations_option(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, automations=setting)
    list_id = make_list(emulator_api)
    imported(
        emulator_api, [{"email": e, "subscribe": [{"listid": list_id}]} for e in ("a@example.com", "b@example.com")]
    )
    automations = emulator_api.get("/automations").json()
    if setting == "on":
        assert runs(emulator_admin) == 2
        assert [(a["name"], a["status"], a["entered"]) for a in automations["automations"]] == [
            ("Welcome series", "1", "2")
        ]
        assert automations["meta"]["starts"] == [{"id": "1", "series": "1", "type": "subscribe"}]
    else:
        assert runs(emulator_admin) == 0
        assert automations["automations"] == [] and automations["meta"]["total"] == "0"


def test_exclude_automations(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    subscribe = [{"listid": list_id}]
    imported(emulator_api, [{"email": "a@example.com", "subscribe": subscribe}] * 2, exclude_automations=True)
    assert runs(emulator_admin) == 0
    imported(
        emulator_api,
        [
            {"email": "b@example.com", "subscribe": subscribe, "exclude_automations": True},
            {"email": "c@example.com", "subscribe": subscribe, "exclude_automations": False},
            {"email": "d@example.com", "subscribe": subscribe, "exclude_automations": "true"},
        ],
        exclude_automations=False,
    )
    assert runs(emulator_admin) == 1
    assert [contact_view(emulator_admin, e)["automation_runs"] for e in ("b@example.com", "c@example.com")] == [0, 1]


def test_only_entering_a_list_starts_a_run(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    first, second = make_list(emulator_api, "First"), make_list(emulator_api, "Second")
    emulator_admin.post("/contacts", json={"contacts": [{"email": "gone@example.com", "lists": {first: 2}}]})
    # Seeding starts nothing.
    assert runs(emulator_admin) == 0
    imported(
        emulator_api,
        [
            {"email": "a@example.com", "subscribe": [{"listid": first}]},
            {"email": "gone@example.com", "subscribe": [{"listid": first}]},
        ],
    )
    assert runs(emulator_admin) == 1
    # Already on the list: nothing; a second list: one more.
    imported(emulator_api, [{"email": "a@example.com", "subscribe": [{"listid": first}, {"listid": second}]}] * 2)
    assert runs(emulator_admin) == 2
    gone = int(contact_id(emulator_api, "gone@example.com"))
    for status in (1, 1, 2, 1):
        emulator_api.post("/contactLists", json={"contactList": {"list": first, "contact": gone, "status": status}})
    assert runs(emulator_admin) == 4
    assert contact_view(emulator_admin, "gone@example.com")["automation_runs"] == 2


@pytest.mark.parametrize("setting", ["run", "never"])
def test_contact_list_automations(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, contact_list_automations=setting)
    list_id = make_list(emulator_api)
    new_id = emulator_api.post("/contact/sync", json={"contact": {"email": "a@example.com"}}).json()["contact"]["id"]
    emulator_api.post("/contactLists", json={"contactList": {"list": list_id, "contact": new_id, "status": 1}})
    assert runs(emulator_admin) == (1 if setting == "run" else 0)
    # Bulk import is not affected by this option.
    imported(emulator_api, [{"email": "b@example.com", "subscribe": [{"listid": list_id}]}])
    assert runs(emulator_admin) == (2 if setting == "run" else 1)


def test_runs_as_the_api_shows_them(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    batch_id = submit(emulator_api, [{"email": "a@example.com", "subscribe": [{"listid": list_id}]}] * 2)
    finish(emulator_api, batch_id)
    a = contact_id(emulator_api, "a@example.com")
    emulator_api.post("/contact/sync", json={"contact": {"email": "b@example.com"}})
    b = contact_id(emulator_api, "b@example.com")
    emulator_api.post("/contactLists", json={"contactList": {"list": list_id, "contact": b, "status": 1}})
    listed = emulator_api.get("/contactAutomations").json()
    assert [(r["contact"], r["automation"], r["status"]) for r in listed["contactAutomations"]] == [
        (a, "1", "2"),
        (b, "1", "2"),
    ]
    assert listed["meta"] == {"total": "2", "showcase_stats": []}
    own = emulator_api.get(f"/contacts/{a}/contactAutomations").json()["contactAutomations"]
    # A run names the bulk import that started it.
    assert [(r["id"], r["batchid"]) for r in own] == [("1", batch_id)]
    assert emulator_api.get(f"/contacts/{b}/contactAutomations").json()["contactAutomations"][0]["batchid"] is None
    assert emulator_api.get(f"/contacts/{a}").json()["contact"]["contactAutomations"] == ["1"]
    # Deleting a contact takes its runs away; the account's count of runs stays.
    emulator_api.delete(f"/contacts/{a}")
    assert [r["contact"] for r in emulator_api.get("/contactAutomations").json()["contactAutomations"]] == [b]
    assert runs(emulator_admin) == 2
    assert emulator_api.get(f"/contacts/{a}/contactAutomations").status_code == 404
