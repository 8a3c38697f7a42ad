"""Rate limits and keys: the 5/s account limit, the bulk import per-minute limits, 403s."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # Real speed: the per-second window must outlast a burst of requests.
    return EmulatorConfig(time_scale=1.0)


def test_seven_requests_at_once_five_pass(emulator: Any, emulator_admin: httpx.Client) -> None:
    async def burst() -> list[httpx.Response]:
        headers = {"Api-Token": emulator.api_key}
        async with httpx.AsyncClient(base_url=emulator.api_url, headers=headers) as client:
            return list(await asyncio.gather(*(client.get("/users/me") for _ in range(7))))

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429] * 2
    for response in responses:
        assert response.headers["RateLimit-Limit"] == "5"
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
            assert response.headers["RateLimit-Remaining"] == "0"
            assert response.json() == {"message": "Too Many Requests"}
    remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in responses if r.status_code == 200)
    assert remaining == [0, 1, 2, 3, 4]
    log = emulator_admin.get("/requests").json()
    assert sorted(entry["status"] for entry in log) == statuses


def test_forbidden_requests_use_up_the_limit(emulator: Any, emulator_api: httpx.Client) -> None:
    with httpx.Client(base_url=emulator.api_url, headers={"Api-Token": "wrong"}) as wrong:
        assert [wrong.get("/users/me").status_code for _ in range(5)] == [403] * 5
    assert emulator_api.get("/users/me").status_code == 429


def test_bulk_import_per_minute_limit(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    emulator_admin.post("/config", json={"bulk_per_minute": 2, "requests_per_second": 100})
    several = {"contacts": [{"email": "a@example.com"}, {"email": "b@example.com"}]}
    assert [emulator_api.post("/import/bulk_import", json=several).status_code for _ in range(2)] == [
        200,
        200,
    ]
    limited = emulator_api.post("/import/bulk_import", json=several)
    assert limited.status_code == 400
    assert limited.json()["success"] == 0
    assert limited.json()["message"] == "Rate limit exceeded."
    assert limited.json()["failureReasons"][0].startswith("Up to 2 imports may be requested per minute.")
    # Single-contact requests count in their own window.
    single = emulator_api.post("/import/bulk_import", json={"contacts": [{"email": "c@example.com"}]})
    assert single.status_code == 200


def test_bulk_import_single_contact_limit(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    emulator_admin.post("/config", json={"bulk_single_per_minute": 1, "requests_per_second": 100})
    one = {"contacts": [{"email": "a@example.com"}]}
    assert emulator_api.post("/import/bulk_import", json=one).status_code == 200
    limited = emulator_api.post("/import/bulk_import", json=one)
    assert limited.status_code == 400
    assert limited.json()["failureReasons"][0].startswith("Up to 1 imports")
    several = {"contacts": [{"email": "a@example.com"}, {"email": "b@example.com"}]}
    assert emulator_api.post("/import/bulk_import", json=several).status_code == 200
    outstanding = emulator_api.get("/import/bulk_import").json()
    queued = outstanding["outstanding"] + outstanding["recentlyCompleted"]
    assert sum(int(day["batches"]) for day in queued) == 2


def test_admin_requests_are_not_limited_or_logged(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    for _ in range(10):
        assert emulator_admin.get("/state").status_code == 200
    assert emulator_api.get("/users/me").status_code == 200
    assert [entry["path"] for entry in emulator_admin.get("/requests").json()] == ["/api/3/users/me"]
