"""Tags and contacts' tags: the endpoints, case-insensitive names, and bulk import adding (never removing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import configure, contact_view, imported


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000, bulk_single_per_minute=10_000
    )


def new_tag(api: httpx.Client, name: str, **extra: Any) -> httpx.Response:
    return api.post("/tags", json={"tag": {"tag": name, **extra}})


def names(api: httpx.Client, params: dict[str, Any] | None = None) -> list[str]:
    body = api.get("/tags", params=params or {}).json()
    return [t["tag"] for t in body["tags"]]


def test_create_tags(emulator_api: httpx.Client) -> None:
    created = new_tag(emulator_api, "My Tag", description="Description")
    assert created.status_code == 201
    assert {k: created.json()["tag"][k] for k in ("tag", "description", "tagType", "id")} == {
        "tag": "My Tag",
        "description": "Description",
        "tagType": "contact",
        "id": "1",
    }
    assert new_tag(emulator_api, "Template tag", tagType="template").json()["tag"]["tagType"] == "template"
    assert new_tag(emulator_api, " ").status_code == 422
    assert emulator_api.post("/tags", json={"tag": "unwrapped"}).status_code == 400


@pytest.mark.parametrize("setting", ["error", "allow"])
def test_duplicate_tag_names(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, duplicate_tag_names=setting)
    new_tag(emulator_api, "VIP")
    again = new_tag(emulator_api, "vip")
    if setting == "error":
        assert again.status_code == 422
        assert again.json()["errors"][0]["code"] == "duplicate"
        assert names(emulator_api) == ["VIP"]
    else:
        assert again.status_code == 201
        assert names(emulator_api) == ["VIP", "vip"]
    # Bulk import matches the oldest tag of that name either way.
    imported(emulator_api, [{"email": "a@example.com", "tags": ["Vip"]}])
    assert contact_view(emulator_admin, "a@example.com")["tags"] == ["VIP"]


def test_search_filters_orders_and_pages(emulator_api: httpx.Client) -> None:
    for name in ("one", "Two", "three", "twenty", "tw"):
        new_tag(emulator_api, name)
    assert names(emulator_api, {"search": "TW"}) == ["Two", "twenty", "tw"]
    assert names(emulator_api, {"filters[search][eq]": "two"}) == ["Two"]
    assert names(emulator_api, {"filters[search][neq]": "two"}) == ["one", "three", "twenty", "tw"]
    assert names(emulator_api, {"filters[search][starts_with]": "t"}) == ["Two", "three", "twenty", "tw"]
    assert names(emulator_api, {"filters[search][contains]": "e"}) == ["one", "three", "twenty"]
    assert names(emulator_api, {"filters[search][lt]": "three"}) == ["one"]
    assert names(emulator_api, {"filters[search][gte]": "twenty"}) == ["Two", "twenty"]
    assert names(emulator_api, {"search": "tw", "orders[search]": "weight"}) == ["tw", "Two", "twenty"]
    assert names(emulator_api, {"orders[search]": "DESC"}) == ["Two", "twenty", "tw", "three", "one"]
    page = emulator_api.get("/tags", params={"limit": 2, "offset": 1}).json()
    assert [t["tag"] for t in page["tags"]] == ["Two", "three"] and page["meta"] == {"total": "5"}
    assert emulator_api.get("/tags", params={"filters[search][like]": "t"}).status_code == 400
    assert emulator_api.get("/tags", params={"orders[search]": "sideways"}).status_code == 400


def test_contact_tags(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    contact_id = emulator_api.post("/contact/sync", json={"contact": {"email": "a@example.com"}}).json()["contact"][
        "id"
    ]
    new_tag(emulator_api, "one")
    new_tag(emulator_api, "two")
    first = emulator_api.post("/contactTags", json={"contactTag": {"contact": contact_id, "tag": "1"}})
    assert first.status_code == 201
    assert {k: first.json()["contactTag"][k] for k in ("contact", "tag", "id")} == {
        "contact": contact_id,
        "tag": "1",
        "id": "1",
    }
    # Tagging again with the same tag answers the contactTag the contact has.
    again = emulator_api.post("/contactTags", json={"contactTag": {"contact": int(contact_id), "tag": 1}})
    assert (again.status_code, again.json()["contactTag"]["id"]) == (201, "1")
    emulator_api.post("/contactTags", json={"contactTag": {"contact": contact_id, "tag": "2"}})
    listed = emulator_api.get(f"/contacts/{contact_id}/contactTags").json()["contactTags"]
    assert [(ct["id"], ct["tag"]) for ct in listed] == [("1", "1"), ("2", "2")]
    assert contact_view(emulator_admin, "a@example.com")["tags"] == ["one", "two"]
    assert emulator_api.delete("/contactTags/1").status_code == 200
    assert contact_view(emulator_admin, "a@example.com")["tags"] == ["two"]
    missing = emulator_api.delete("/contactTags/1")
    assert missing.status_code == 404
    assert missing.json() == {"message": "No Result found for SubscriberTag with id 1"}
    no_contact = emulator_api.post("/contactTags", json={"contactTag": {"contact": 99, "tag": 1}})
    assert (no_contact.status_code, no_contact.json()["errors"][0]["detail"]) == (404, "Contact not found")
    no_tag = emulator_api.post("/contactTags", json={"contactTag": {"contact": contact_id, "tag": 99}})
    assert (no_tag.status_code, no_tag.json()["errors"][0]["detail"]) == (404, "Tag not found")
    incomplete = emulator_api.post("/contactTags", json={"contactTag": {"contact": contact_id}})
    assert incomplete.status_code == 422
    assert incomplete.json()["errors"][0]["source"] == {"pointer": "/data/attributes/tag"}
    assert emulator_api.get("/contacts/99/contactTags").status_code == 404


def test_bulk_import_adds_tags_and_never_removes(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    new_tag(emulator_api, "VIP")
    imported(emulator_api, [{"email": "a@example.com", "tags": ["vip", "Spring", "spring", " "]}])
    assert contact_view(emulator_admin, "a@example.com")["tags"] == ["VIP", "Spring"]
    # A missing tag is created once, in the spelling first seen.
    assert names(emulator_api) == ["VIP", "Spring"]
    imported(emulator_api, [{"email": "a@example.com", "tags": ["autumn"]}, {"email": "b@example.com"}])
    assert contact_view(emulator_admin, "a@example.com")["tags"] == ["VIP", "Spring", "autumn"]
    assert contact_view(emulator_admin, "b@example.com")["tags"] == []
    tagged = emulator_api.get("/contacts", params={"tagid": 2}).json()
    assert [c["email"] for c in tagged["contacts"]] == ["a@example.com"]
    assert tagged["meta"]["page_input"]["tagid"] == 2
