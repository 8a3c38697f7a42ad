"""Fault injection: injected statuses, frequencies, dropped connections, delays and batch outcomes."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import finish


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000)


def faults(admin: httpx.Client, *rules: dict[str, Any]) -> None:
    response = admin.post("/faults", json={"rules": list(rules)})
    assert response.status_code == 200, response.text


def statuses(api: httpx.Client, n: int, path: str = "/users/me") -> list[int]:
    return [api.get(path).status_code for _ in range(n)]


def make_list(api: httpx.Client, name: str = "Audience") -> httpx.Response:
    body = {"name": name, "stringid": name.lower(), "sender_url": "https://x.test", "sender_reminder": "r"}
    return api.post("/lists", json={"list": body})


def test_status_with_body_and_retry_after(
    emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    faults(
        emulator_admin,
        {"method": "GET", "path": "^/api/3/users/me$", "status": 429, "retry_after": 2.5, "times": 1},
        {"method": "*", "path": "/groups", "status": 402, "body": "Payment Required"},
    )
    limited = emulator_api.get("/users/me")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2.5"
    assert emulator_api.get("/users/me").status_code == 200
    payment = emulator_api.get("/groups")
    assert (payment.status_code, payment.text) == (402, "Payment Required")
    # Faults come before the key check.
    assert httpx.get(f"{emulator.api_url}/groups").status_code == 402
    log = emulator_admin.get("/requests").json()
    assert [entry["status"] for entry in log] == [429, 200, 402, 402]


MAINTENANCE = "<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>"


def test_odd_200s_html_pages_and_empty_bodies(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    faults(
        emulator_admin,
        {"method": "GET", "path": "^/api/3/users/me$", "status": 200, "body": MAINTENANCE, "content_type": "text/html"},
        {"method": "POST", "path": "bulk_import", "status": 200, "body": MAINTENANCE, "content_type": "text/html"},
        {"method": "GET", "path": "^/api/3/import/info$", "status": 200},
        {"method": "GET", "path": "^/api/3/lists$", "status": 200, "body": "", "content_type": "application/json"},
        {
            "method": "GET",
            "path": "^/api/3/contacts$",
            "status": 200,
            "body": {"contacts": 1},
            "content_type": "text/html",
        },
    )
    for response in (
        emulator_api.get("/users/me"),
        emulator_api.post("/import/bulk_import", json={"contacts": [{"email": "a@example.com"}] * 2}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.text == MAINTENANCE
    empty = emulator_api.get("/import/info", params={"batchId": "b"})
    assert (empty.status_code, empty.content) == (200, b"")
    assert "content-type" not in empty.headers
    empty_json = emulator_api.get("/lists")
    assert (empty_json.status_code, empty_json.content, empty_json.headers["content-type"]) == (
        200,
        b"",
        "application/json",
    )
    mislabelled = emulator_api.get("/contacts")
    assert mislabelled.headers["content-type"].startswith("text/html") and mislabelled.json() == {"contacts": 1}
    # Nothing behind a fault happened: no batch was queued.
    assert emulator_admin.get("/batches").json() == []
    assert [e["status"] for e in emulator_admin.get("/requests").json()] == [200] * 5


def test_times_every_and_seeded_probability(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "GET", "path": "users", "status": 500, "times": 2})
    assert statuses(emulator_api, 4) == [500, 500, 200, 200]
    faults(emulator_admin, {"method": "GET", "path": "users", "status": 502, "every": 3})
    assert statuses(emulator_api, 7) == [200, 200, 502, 200, 200, 502, 200]
    faults(emulator_admin, {"method": "GET", "path": "users", "status": 503, "probability": 0.5, "seed": 7})
    rng = random.Random(7)
    expected = [503 if rng.random() < 0.5 else 200 for _ in range(20)]
    assert statuses(emulator_api, 20) == expected
    assert 0 < expected.count(503) < 20
    # Non-matching methods and paths are untouched; an empty rule set clears everything.
    assert emulator_api.post("/groups", json={"group": {"title": "t"}}).status_code == 200
    faults(emulator_admin)
    assert statuses(emulator_api, 3) == [200, 200, 200]


def test_per_group_permission_fault(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    make_list(emulator_api)
    group_id = emulator_admin.post("/groups", json={"title": "Sales"}).json()["id"]
    faults(
        emulator_admin,
        {
            "method": "POST",
            "path": "^/api/3/listGroups$",
            "status": 403,
            "body": {"message": "Forbidden"},
            "match_json": {"listGroup.groupid": group_id},
        },
    )
    denied = emulator_api.post("/listGroups", json={"listGroup": {"listid": 1, "groupid": int(group_id)}})
    assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"})
    assert emulator_api.post("/listGroups", json={"listGroup": {"listid": 1, "groupid": 3}}).status_code == 201
    faults(
        emulator_admin,
        {"method": "GET", "path": "^/api/3/lists/1$", "status": 403, "body": {"message": "Forbidden"}},
    )
    assert emulator_api.get("/lists/1").status_code == 403


def test_drop_connection_before_the_effect(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "POST", "path": "^/api/3/lists$", "drop_connection": True, "times": 1})
    with pytest.raises(httpx.TransportError):
        make_list(emulator_api)
    assert emulator_admin.get("/state").json()["lists"] == []
    assert make_list(emulator_api).status_code == 200
    assert [entry["status"] for entry in emulator_admin.get("/requests").json()] == [0, 200]


def test_drop_connection_after_the_effect(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "POST", "path": "^/api/3/lists$", "drop_after_effect": True, "times": 1})
    with pytest.raises(httpx.TransportError):
        make_list(emulator_api)
    assert [lst["name"] for lst in emulator_admin.get("/state").json()["lists"]] == ["Audience"]
    assert emulator_admin.get("/requests").json()[0]["status"] == 0


def test_drop_without_access_to_the_socket(
    emulator: Any, emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    # Under another ASGI server the emulator cannot reach the socket; a truncated response still breaks
    # the client's read.
    lookup = emulator.emulator.connection_lookup
    emulator.emulator.connection_lookup = None
    try:
        faults(emulator_admin, {"method": "GET", "path": "users", "drop_connection": True, "times": 1})
        with pytest.raises(httpx.TransportError):
            emulator_api.get("/users/me")
    finally:
        emulator.emulator.connection_lookup = lookup
    assert emulator_api.get("/users/me").status_code == 200


def test_delay_provokes_read_timeouts(emulator: Any, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "GET", "path": "users", "delay_s": 0.4, "times": 2})
    headers = {"Api-Token": emulator.api_key}
    with (
        httpx.Client(base_url=emulator.api_url, headers=headers, timeout=0.1) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.get("/users/me")
    with httpx.Client(base_url=emulator.api_url, headers=headers, timeout=5) as patient:
        assert patient.get("/users/me").status_code == 200  # delayed too, but answered within the patience
        (rule,) = emulator_admin.get("/faults").json()["rules"]
        assert rule["fired"] == 2  # both requests were held back; the rule is spent
        assert patient.get("/users/me").status_code == 200


@pytest.mark.parametrize(("outcome", "applied"), [("failed", 0), ("interrupted", 2)])
def test_import_status_outcomes(
    outcome: str, applied: int, emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    faults(emulator_admin, {"method": "POST", "path": "bulk_import", "import_status": outcome, "times": 1})
    contacts = [{"email": f"c{n}@example.com"} for n in range(4)]
    response = emulator_api.post("/import/bulk_import", json={"contacts": contacts})
    assert response.status_code == 200
    info = finish(emulator_api, response.json()["batchId"], outcome)
    assert len(info["success"]) == applied
    assert emulator_admin.get("/state").json()["contacts"] == applied
    # The rule is spent: the next batch completes.
    again = emulator_api.post("/import/bulk_import", json={"contacts": contacts})
    finish(emulator_api, again.json()["batchId"], "completed")
    assert emulator_admin.get("/state").json()["contacts"] == 4


def test_import_status_false_holds(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "POST", "path": "bulk_import", "import_status": "false", "hold_s": 3})
    response = emulator_api.post("/import/bulk_import", json={"contacts": [{"email": "a@example.com"}] * 2})
    # The hold is on the emulator's clock: read its answer right away, then wait the batch out.
    early = emulator_api.get("/import/info", params={"batchId": response.json()["batchId"]}).json()
    assert early["status"] is False
    assert finish(emulator_api, response.json()["batchId"], "completed")["success"] == ["1"]


def test_bad_rules_are_refused(emulator_admin: httpx.Client) -> None:
    for rule in (
        {"path": "x"},
        {"path": "(", "status": 500},
        {"path": "x", "status": 500, "drop_connection": True},
        {"path": "x", "import_status": "lost"},
        {"path": "x", "status": 500, "every": 0},
        {"path": "x", "status": 500, "probability": 2},
        {"path": "x", "status": 500, "colour": "red"},
        {"path": "x", "delay_s": 1, "content_type": "text/html"},
        {"path": "x", "status": 200, "content_type": 7},
    ):
        assert emulator_admin.post("/faults", json={"rules": [rule]}).status_code == 400, rule
    assert emulator_admin.post("/faults", json={"rules": "nope"}).status_code == 400
    faults(emulator_admin, {"path": "x", "status": 500, "times": 1})
    assert emulator_admin.get("/faults").json()["rules"][0]["fired"] == 0
