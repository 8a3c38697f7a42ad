"""Every create the sync makes, answered in every way that hides whether it acted: the client looks for what the
write would have made before sending it again, and so makes exactly one, whatever the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.emulator import EmulatorServer
from ac_sync.activecampaign.errors import UnconfirmedWriteError
from tests.activecampaign.test_client import make_client

HTML = "<html><body>Down for maintenance</body></html>"
# How a create can be answered when it did act (after_effect) — or when it did not (the proxy answered).
ANSWERS: dict[str, dict[str, Any]] = {
    "html-after": {"status": 200, "body": HTML, "content_type": "text/html", "after_effect": True},
    "empty-after": {"status": 200, "body": "", "after_effect": True},
    "braces-after": {"status": 200, "body": {}, "after_effect": True},
    "500-after": {"status": 500, "body": {"message": "Internal error"}, "after_effect": True},
    "dropped-after": {"drop_after_effect": True},
    "late-after": {"delay_s": 1.5, "after_effect": True},
    "html-before": {"status": 200, "body": HTML, "content_type": "text/html"},
    "dropped-before": {"drop_connection": True},
}


async def _made_field(ac: ACClient) -> int:
    return (await ac.create_field("Plan", "dropdown", perstag="PLAN")).id


def _state(emu: EmulatorServer) -> dict[str, Any]:
    return httpx.get(f"{emu.base_url}/__emulator__/state").json()


def _fields(emu: EmulatorServer) -> list[dict[str, Any]]:
    with httpx.Client(base_url=emu.api_url, headers={"Api-Token": emu.api_key}) as api:
        return api.get("/fields", params={"limit": 100}).json()["fields"]


def _field_options(emu: EmulatorServer) -> list[str]:
    with httpx.Client(base_url=emu.api_url, headers={"Api-Token": emu.api_key}) as api:
        body = api.get("/fields", params={"limit": 100, "include": "options"}).json()
    return sorted(o["value"] for o in body.get("fieldOptions", []))


def _tags(emu: EmulatorServer) -> list[str]:
    with httpx.Client(base_url=emu.api_url, headers={"Api-Token": emu.api_key}) as api:
        return [t["tag"] for t in api.get("/tags", params={"limit": 100}).json()["tags"]]


def _relations(emu: EmulatorServer) -> list[tuple[str, str]]:
    with httpx.Client(base_url=emu.api_url, headers={"Api-Token": emu.api_key}) as api:
        body = api.get("/fields", params={"limit": 100, "include": "fieldRels"}).json()
    return sorted((str(r["field"]), str(r["relid"])) for r in body.get("fieldRels", []))


Create = Callable[[ACClient], Awaitable[Any]]
Count = Callable[[EmulatorServer], Any]
CREATES: dict[str, tuple[str, Create, Count, Any]] = {
    "list": (
        "/lists$",
        lambda ac: ac.create_list(name="VIP", stringid="vip", sender_url="https://x.example", sender_reminder="r"),
        lambda emu: [lst["name"] for lst in _state(emu)["lists"]],
        ["VIP"],
    ),
    "group": (
        "/groups$",
        lambda ac: ac.create_group("Growth"),
        lambda emu: sorted(g["title"] for g in _state(emu)["groups"]),
        ["Admin", "Growth"],
    ),
    "field": (
        "/fields$",
        _made_field,
        lambda emu: [f["perstag"] for f in _fields(emu)],
        ["PLAN"],
    ),
    "tag": ("/tags$", lambda ac: ac.create_tag("vip"), _tags, ["vip"]),
}


@pytest.mark.parametrize("answer", ANSWERS, ids=list(ANSWERS))
@pytest.mark.parametrize("what", CREATES, ids=list(CREATES))
async def test_a_create_answered_oddly_makes_exactly_one(emulator: EmulatorServer, what: str, answer: str) -> None:
    path, create, count, expected = CREATES[what]
    rule = {"method": "POST", "path": path, "times": 1, **ANSWERS[answer]}
    httpx.post(f"{emulator.base_url}/__emulator__/faults", json={"rules": [rule]}).raise_for_status()
    async with make_client(emulator, timeout_s=0.5) as ac:
        made = await create(ac)
    assert made is not None
    assert count(emulator) == expected


@pytest.mark.parametrize("answer", ANSWERS, ids=list(ANSWERS))
async def test_options_and_a_relation_answered_oddly_are_made_once(emulator: EmulatorServer, answer: str) -> None:
    async with make_client(emulator) as ac:
        field_id = await _made_field(ac)
        made = await ac.create_list(name="VIP", stringid="vip", sender_url="https://x.example", sender_reminder="r")
    rules = [
        {"method": "POST", "path": "/fieldOption/bulk$", "times": 1, **ANSWERS[answer]},
        {"method": "POST", "path": "/fieldRels$", "times": 1, **ANSWERS[answer]},
    ]
    httpx.post(f"{emulator.base_url}/__emulator__/faults", json={"rules": rules}).raise_for_status()
    async with make_client(emulator, timeout_s=0.5) as ac:
        options = await ac.add_field_options(field_id, ["Free", "Pro"])
        relation = await ac.relate_field(field_id, made.id)
    assert sorted(o.value for o in options) == ["Free", "Pro"]
    assert (relation.field_id, relation.list_id) == (field_id, made.id)
    assert _field_options(emulator) == ["Free", "Pro"]
    assert _relations(emulator) == [(str(field_id), str(made.id))]


async def test_a_create_that_never_answers_readably_nor_acts_is_unconfirmed(emulator: EmulatorServer) -> None:
    rule = {"method": "POST", "path": "/lists$", "status": 200, "body": HTML, "content_type": "text/html"}
    httpx.post(f"{emulator.base_url}/__emulator__/faults", json={"rules": [rule]}).raise_for_status()
    async with make_client(emulator) as ac:
        with pytest.raises(UnconfirmedWriteError) as info:
            await ac.create_list(name="VIP", stringid="vip", sender_url="https://x.example", sender_reminder="r")
    assert "may still appear" in str(info.value) and _state(emulator)["lists"] == []
