"""Bulk import: request limits, all-or-nothing email validation, the asynchronous timeline, effects."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import finish, make_list, submit

VALIDATION_MESSAGE = (
    "JSON payload did not pass validation. Please fix failure Reasons and retry. "
    "The import was not queued for processing."
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000, bulk_single_per_minute=10_000
    )


def members(admin: httpx.Client, list_id: str) -> dict[str, int]:
    lists = {entry["id"]: entry for entry in admin.get("/state").json()["lists"]}
    return dict(lists[list_id]["members"])


def nothing_queued(api: httpx.Client, admin: httpx.Client) -> bool:
    summary = api.get("/import/bulk_import").json()
    return summary == {"outstanding": [], "recentlyCompleted": []} and admin.get("/state").json()["contacts"] == 0


def test_more_than_250_contacts_rejected(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    contacts = [{"email": f"c{n}@example.com"} for n in range(251)]
    response = emulator_api.post("/import/bulk_import", json={"contacts": contacts})
    assert response.status_code == 400
    assert response.json()["success"] == 0
    assert isinstance(response.json()["failureReasons"], list)
    assert nothing_queued(emulator_api, emulator_admin)
    assert emulator_admin.get("/requests").json()[0]["contacts"] == 251
    assert emulator_api.post("/import/bulk_import", json={"contacts": contacts[:250]}).status_code == 200


def _body_of_size(size: int) -> bytes:
    contacts = [{"email": f"c{n}@example.com", "first_name": ""} for n in range(200)]
    body = json.dumps({"contacts": contacts}).encode()
    contacts[0]["first_name"] = "x" * (size - len(body))
    body = json.dumps({"contacts": contacts}).encode()
    assert len(body) == size
    return body


def test_400000_byte_limit(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    too_big = emulator_api.post("/import/bulk_import", content=_body_of_size(400_001), headers=headers)
    assert too_big.status_code == 400
    assert too_big.json()["success"] == 0
    assert nothing_queued(emulator_api, emulator_admin)
    at_limit = emulator_api.post("/import/bulk_import", content=_body_of_size(400_000), headers=headers)
    assert at_limit.status_code == 200


def test_one_bad_email_rejects_the_whole_request(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    contacts = [
        {"email": e}
        for e in (
            "ok@example.com",
            "bad@",
            "fine@example.org",
            "two@@example.com",
            "a b@example.com",
            "x@localhost",
        )
    ]
    response = emulator_api.post("/import/bulk_import", json={"contacts": contacts})
    assert response.status_code == 400
    body = response.json()
    assert body["success"] == 0
    assert body["message"] == VALIDATION_MESSAGE
    assert [r["contact"] for r in body["failureReasons"]] == [1, 3, 4, 5]
    assert {r["failureReason"] for r in body["failureReasons"]} == {"Field\u2018 email\u2019 incorrect format"}
    time.sleep(0.1)  # long past when a queued batch would have completed at this time scale
    assert nothing_queued(emulator_api, emulator_admin)


def test_statuses_move_from_false_to_completed(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    emulator_admin.post(
        "/config",
        json={
            "time_scale": 1.0,
            "info_false_s": 0.5,
            "processing_base_s": 0.9,
            "processing_per_contact_s": 0.0,
        },
    )
    list_id = make_list(emulator_api)
    batch_id = submit(emulator_api, [{"email": "a@example.com", "subscribe": [{"listid": list_id}]}])
    # Effects wait for completion.
    assert emulator_admin.get("/state").json()["contacts"] == 0
    seen = []
    for _ in range(400):
        info = emulator_api.get("/import/info", params={"batchId": batch_id}).json()
        if not seen or seen[-1] != info["status"]:
            seen.append(info["status"])
        if info["status"] == "completed":
            break
        assert info["success"] == [] and info["failure"] == []
        time.sleep(0.01)
    assert seen[0] is False
    assert seen[-1] == "completed"
    assert len(seen) >= 3 and set(seen[1:-1]) <= {"waiting", "claimed", "active"}
    assert members(emulator_admin, list_id) == {"a@example.com": 1}


def test_effects_and_info_lists(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    list_id, other_id = make_list(emulator_api), make_list(emulator_api, "Other")
    existing = emulator_api.post("/contacts", json={"contact": {"email": "old@example.com", "firstName": "Old"}})
    emulator_admin.post("/exclusions", json={"emails": ["Blocked@Example.com"]})
    batch_id = submit(
        emulator_api,
        [
            {"email": "new@example.com", "first_name": "New", "subscribe": [{"listid": list_id}]},
            {
                "email": "OLD@example.com",
                "first_name": "Renamed",
                "subscribe": [{"listid": list_id}],
                "unsubscribe": [{"listid": other_id}],
            },
            {"email": "blocked@example.com", "subscribe": [{"listid": list_id}]},
        ],
    )
    info = finish(emulator_api, batch_id)
    new_id = emulator_api.get("/contacts", params={"email": "new@example.com"}).json()["contacts"][0]["id"]
    # Only newly created contacts count as success; excluded addresses are failures, without reasons.
    assert info["success"] == [new_id]
    assert info["failure"] == ["blocked@example.com"]
    assert members(emulator_admin, list_id) == {"new@example.com": 1, "old@example.com": 1}
    assert members(emulator_admin, other_id) == {"old@example.com": 2}
    old = emulator_api.get("/contacts", params={"email": "old@example.com"}).json()["contacts"][0]
    assert old["id"] == existing.json()["contact"]["id"]
    assert old["firstName"] == "Renamed"
    assert emulator_admin.get("/state").json()["contacts"] == 2


def test_bulk_import_never_resubscribes(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    seeded = emulator_admin.post("/contacts", json={"contacts": [{"email": "gone@example.com", "lists": {list_id: 2}}]})
    assert seeded.status_code == 200
    finish(
        emulator_api,
        submit(
            emulator_api,
            [
                {"email": "gone@example.com", "subscribe": [{"listid": list_id}]},
                {"email": "here@example.com", "subscribe": [{"listid": list_id}]},
            ],
        ),
    )
    assert members(emulator_admin, list_id) == {"gone@example.com": 2, "here@example.com": 1}
    # The contact API, unlike bulk import, does move 2 -> 1 when asked to.
    contact_id = emulator_api.get("/contacts", params={"email": "gone@example.com"}).json()["contacts"][0]["id"]
    moved = emulator_api.post(
        "/contactLists", json={"contactList": {"list": list_id, "contact": contact_id, "status": 1}}
    )
    assert moved.status_code == 200
    assert moved.json()["contactList"]["status"] == 1
    assert members(emulator_admin, list_id)["gone@example.com"] == 1


@pytest.mark.parametrize("status", [404, 400])
def test_unknown_and_missing_batch_ids(status: int, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    emulator_admin.post("/config", json={"unknown_batch_status": status}).raise_for_status()
    missing = emulator_api.get("/import/info")
    assert missing.status_code == 400
    assert missing.json() == {"success": 0, "message": "'batchId' is a required field."}
    unknown = emulator_api.get("/import/info", params={"batchId": "00000000-0000-4000-8000-000000000000"})
    assert unknown.status_code == status
    assert unknown.json() == {
        "success": 0,
        "message": "No import found for batchId 00000000-0000-4000-8000-000000000000.",
    }


def test_forgotten_batches_answer_as_unknown(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    # 5 ActiveCampaign seconds: a tenth of a second at time scale 50.
    emulator_admin.post("/config", json={"batch_retention_s": 5.0}).raise_for_status()
    done = submit(emulator_api, [{"email": "a@example.com"}, {"email": "b@example.com"}])
    finish(emulator_api, done)
    emulator_admin.post("/config", json={"processing_base_s": 10_000}).raise_for_status()
    waiting = submit(emulator_api, [{"email": "c@example.com"}, {"email": "d@example.com"}])
    statuses: list[int] = []
    for _ in range(1000):
        statuses = [emulator_api.get("/import/info", params={"batchId": b}).status_code for b in (done, waiting)]
        if statuses == [404, 404]:
            break
        time.sleep(0.005)
    # Completed or not, a batch past its retention is unknown; what a completed one did stays done.
    assert statuses == [404, 404]
    assert emulator_api.get("/import/bulk_import").json() == {"outstanding": [], "recentlyCompleted": []}
    assert emulator_admin.get("/batches").json() == []
    assert emulator_admin.get("/state").json()["contacts"] == 2


def test_summary_counts(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    finish(emulator_api, submit(emulator_api, [{"email": "a@example.com"}, {"email": "b@example.com"}]))
    emulator_admin.post("/config", json={"processing_base_s": 10_000})
    submit(emulator_api, [{"email": "c@example.com"}])
    summary = emulator_api.get("/import/bulk_import").json()
    assert [(d["batches"], d["contacts"]) for d in summary["recentlyCompleted"]] == [("1", "2")]
    assert [(d["batches"], d["contacts"]) for d in summary["outstanding"]] == [("1", "1")]


def test_contact_endpoints(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    created = emulator_api.post("/contact/sync", json={"contact": {"email": "s@example.com", "firstName": "S"}})
    assert created.status_code == 201
    updated = emulator_api.post("/contact/sync", json={"contact": {"email": "S@example.com", "lastName": "T"}})
    assert updated.status_code == 200
    assert updated.json()["contact"]["id"] == created.json()["contact"]["id"]
    assert (updated.json()["contact"]["firstName"], updated.json()["contact"]["lastName"]) == ("S", "T")
    # Sync leaves list membership alone.
    assert members(emulator_admin, list_id) == {}
    contact_id = created.json()["contact"]["id"]
    emulator_api.post("/contactLists", json={"contactList": {"list": list_id, "contact": contact_id, "status": 1}})
    emulator_admin.post("/contacts", json={"contacts": [{"email": "u@example.com", "lists": {list_id: 2}}]})

    def emails(params: dict[str, Any]) -> list[str]:
        body = emulator_api.get("/contacts", params=params).json()
        assert body["meta"]["total"] == str(len(body["contacts"]))
        return [c["email"] for c in body["contacts"]]

    assert emails({"listid": list_id, "status": 1}) == ["s@example.com"]
    assert emails({"listid": list_id, "status": 2}) == ["u@example.com"]
    assert emails({"listid": list_id}) == ["s@example.com", "u@example.com"]
    assert emails({"email": "U@EXAMPLE.COM"}) == ["u@example.com"]
    assert emails({"emial": "typo@example.com"}) == ["s@example.com", "u@example.com"]
    statuses = emulator_api.get(f"/contacts/{contact_id}/contactLists").json()["contactLists"]
    assert [(s["list"], s["status"]) for s in statuses] == [(list_id, "1")]
    bad = emulator_api.post("/contactLists", json={"contactList": {"list": list_id, "contact": 99, "status": 1}})
    assert bad.status_code == 404
