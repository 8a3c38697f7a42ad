"""What the emulator's tests do again and again: lists, options, batches, users with their own keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx


def configure(admin: httpx.Client, **changes: Any) -> None:
    response = admin.post("/config", json=changes)
    assert response.status_code == 200, response.text


def make_list(api: httpx.Client, name: str = "Audience") -> str:
    body = {
        "name": name,
        "stringid": name.lower().replace(" ", "-"),
        "sender_url": "https://x.test",
        "sender_reminder": "r",
    }
    response = api.post("/lists", json={"list": body})
    assert response.is_success, response.text
    return str(response.json()["list"]["id"])


def make_field(api: httpx.Client, title: str, kind: str = "text", options: tuple[str, ...] = (), **extra: Any) -> str:
    response = api.post("/fields", json={"field": {"title": title, "type": kind, **extra}})
    assert response.status_code == 201, response.text
    field_id = str(response.json()["field"]["id"])
    if options:
        entries = [{"field": field_id, "value": v, "label": v} for v in options]
        assert api.post("/fieldOption/bulk", json={"fieldOptions": entries}).status_code == 201
    return field_id


def submit(api: httpx.Client, contacts: list[dict[str, Any]], **extra: Any) -> str:
    response = api.post("/import/bulk_import", json={"contacts": contacts, **extra})
    assert response.status_code == 200, response.text
    assert response.json()["queued_contacts"] == len(contacts)
    return str(response.json()["batchId"])


def finish(api: httpx.Client, batch_id: str, final: str = "completed") -> dict[str, Any]:
    """Poll import/info until the batch reaches `final`; its last answer."""
    for _ in range(1000):
        info: dict[str, Any] = api.get("/import/info", params={"batchId": batch_id}).json()
        if info["status"] == final:
            return info
        time.sleep(0.005)
    raise AssertionError(f"batch never reached {final}")


def imported(api: httpx.Client, contacts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Submit a batch and wait for it to complete; its import/info answer."""
    return finish(api, submit(api, contacts, **extra))


def contact_view(admin: httpx.Client, email: str) -> dict[str, Any]:
    response = admin.get("/contacts", params={"email": email})
    assert response.status_code == 200, response.text
    return dict(response.json())


def make_group(admin: httpx.Client, title: str, **flags: int) -> str:
    """A group holding `flags` (pgListAdd=1, ...) and no other right; its id."""
    response = admin.post("/groups", json={"title": title, **flags})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


@contextmanager
def user_client(emulator: Any, admin: httpx.Client, group_id: str, key: str = "user-key") -> Iterator[httpx.Client]:
    """A client for a new user of group `group_id`, sending that user's own key."""
    created = admin.post("/users", json={"username": key, "group_id": int(group_id), "api_key": key})
    assert created.status_code == 200, created.text
    with httpx.Client(base_url=emulator.api_url, headers={"Api-Token": key}) as client:
        yield client
