"""The endpoints real clients call beyond what the sync needs: contact and list updates, tags by id, field
options and values by id, contactLists/contactTags collections, webhooks, the API root and empty collections."""

from __future__ import annotations

import re

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import configure, make_field, make_list

PLAIN_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # These tests are about shapes, not the 5/s limit.
    return EmulatorConfig(requests_per_second=10_000)


def _contact(api: httpx.Client, email: str = "ann@example.com", **extra: object) -> str:
    response = api.post("/contacts", json={"contact": {"email": email, **extra}})
    assert response.status_code == 201, response.text
    return str(response.json()["contact"]["id"])


def test_put_contact_updates_names_phone_email_and_field_values(emulator_api: httpx.Client) -> None:
    field_id = make_field(emulator_api, "City")
    contact_id = _contact(emulator_api, firstName="Ann")
    body = {
        "contact": {
            "email": "ann.new@example.com",
            "lastName": "Lee",
            "phone": "555",
            "fieldValues": [{"field": field_id, "value": "Oslo"}],
        }
    }
    response = emulator_api.put(f"/contacts/{contact_id}", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["contact"]["email"] == "ann.new@example.com"
    assert (answer["contact"]["firstName"], answer["contact"]["lastName"]) == ("Ann", "Lee")
    assert [(fv["field"], fv["value"]) for fv in answer["fieldValues"]] == [(field_id, "Oslo")]
    # The new address finds the contact; the old one no longer does.
    assert emulator_api.get("/contacts", params={"email": "ann.new@example.com"}).json()["meta"]["total"] == "1"
    assert emulator_api.get("/contacts", params={"email": "ann@example.com"}).json()["meta"]["total"] == "0"


def test_put_contact_refuses_a_taken_or_bad_email_and_a_missing_contact(emulator_api: httpx.Client) -> None:
    first = _contact(emulator_api)
    _contact(emulator_api, "bob@example.com")
    taken = emulator_api.put(f"/contacts/{first}", json={"contact": {"email": "BOB@example.com"}})
    assert taken.status_code == 422 and taken.json()["errors"][0]["code"] == "duplicate"
    bad = emulator_api.put(f"/contacts/{first}", json={"contact": {"email": "not-an-email"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "email_invalid"
    missing = emulator_api.put("/contacts/99", json={"contact": {"firstName": "X"}})
    assert missing.status_code == 404
    assert missing.json() == {"message": "No Result found for Subscriber with id 99"}
    assert emulator_api.put(f"/contacts/{first}", content=b"[]").status_code == 400


def test_read_contacts_carry_timestamps_and_email_empty(emulator_api: httpx.Client) -> None:
    contact_id = _contact(emulator_api)
    listed = emulator_api.get("/contacts").json()["contacts"][0]
    detail = emulator_api.get(f"/contacts/{contact_id}").json()["contact"]
    for record in (listed, detail):
        assert PLAIN_STAMP.match(record["created_timestamp"]), record["created_timestamp"]
        assert PLAIN_STAMP.match(record["updated_timestamp"])
        assert record["email_empty"] is False
        assert record["created_timestamp"] == record["cdate"][:19].replace("T", " ")


def test_list_udate_is_set_at_creation_and_moves_on_update(emulator_api: httpx.Client) -> None:
    list_id = make_list(emulator_api, "Audience")
    created = emulator_api.get(f"/lists/{list_id}").json()["list"]
    assert created["udate"] == created["cdate"]
    response = emulator_api.put(f"/lists/{list_id}", json={"list": {"name": "Renamed", "sender_reminder": "new"}})
    assert response.status_code == 200, response.text
    updated = response.json()["list"]
    assert (updated["name"], updated["sender_reminder"], updated["stringid"]) == ("Renamed", "new", "audience")
    assert isinstance(updated["udate"], str)
    assert emulator_api.get("/lists", params={"filters[name]": "Renamed"}).json()["meta"]["total"] == "1"


def test_put_list_refuses_a_blank_name_a_duplicate_and_a_missing_list(
    emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    first, _ = make_list(emulator_api, "One"), make_list(emulator_api, "Two")
    assert emulator_api.put(f"/lists/{first}", json={"list": {"name": " "}}).status_code == 422
    assert emulator_api.put(f"/lists/{first}", json={"list": {"name": "Two"}}).status_code == 200
    configure(emulator_admin, duplicate_list_names="error")
    assert emulator_api.put(f"/lists/{first}", json={"list": {"name": "two"}}).status_code == 422
    # Its own name is no duplicate.
    assert emulator_api.put(f"/lists/{first}", json={"list": {"name": "Two"}}).status_code == 422
    missing = emulator_api.put("/lists/99", json={"list": {"name": "X"}})
    assert missing.status_code == 404 and missing.json() == {"message": "No Result found for _List with id 99"}


def _new_list(api: httpx.Client, name: str, **extra: str) -> httpx.Response:
    return api.post(
        "/lists", json={"list": {"name": name, "sender_url": "https://x.test", "sender_reminder": "r", **extra}}
    )


def test_a_list_without_stringid_gets_one_from_its_name(emulator_api: httpx.Client) -> None:
    first = _new_list(emulator_api, "Spring Sale!")
    assert first.status_code == 200, first.text
    assert first.json()["list"]["stringid"] == "spring-sale"
    # Another list of the same name (duplicate names are allowed by default) gets a slug of its own.
    assert _new_list(emulator_api, "Spring Sale").json()["list"]["stringid"] == "spring-sale-2"
    assert _new_list(emulator_api, "Given", stringid="mine").json()["list"]["stringid"] == "mine"


def test_list_stringid_required_keeps_the_old_refusal(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, list_stringid_required=True)
    refused = _new_list(emulator_api, "Spring Sale")
    assert refused.status_code == 422
    assert [e["source"]["pointer"] for e in refused.json()["errors"]] == ["/data/attributes/stringid"]
    assert _new_list(emulator_api, "Spring Sale", stringid="spring").status_code == 200


def test_tags_by_id(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    tag_id = emulator_api.post("/tags", json={"tag": {"tag": "vip", "tagType": "contact"}}).json()["tag"]["id"]
    other = emulator_api.post("/tags", json={"tag": {"tag": "other"}}).json()["tag"]["id"]
    got = emulator_api.get(f"/tags/{tag_id}")
    assert got.status_code == 200 and got.json()["tag"]["tag"] == "vip"
    renamed = emulator_api.put(f"/tags/{tag_id}", json={"tag": {"tag": "VIP 2", "description": "d"}})
    assert renamed.status_code == 200
    assert (renamed.json()["tag"]["tag"], renamed.json()["tag"]["description"]) == ("VIP 2", "d")
    assert emulator_api.get("/tags", params={"search": "vip 2"}).json()["meta"]["total"] == "1"
    clash = emulator_api.put(f"/tags/{other}", json={"tag": {"tag": "vip 2"}})
    assert clash.status_code == 422 and clash.json()["errors"][0]["code"] == "duplicate"
    contact_id = _contact(emulator_api)
    assert emulator_api.post("/contactTags", json={"contactTag": {"contact": contact_id, "tag": tag_id}}).is_success
    assert emulator_api.delete(f"/tags/{tag_id}").json() == {}
    # The contact's use of the tag goes with it.
    assert emulator_api.get(f"/contacts/{contact_id}/contactTags").json()["contactTags"] == []
    missing = emulator_api.get(f"/tags/{tag_id}")
    assert missing.status_code == 404 and missing.json() == {"message": f"No Result found for Tag with id {tag_id}"}


def test_field_options_and_field_value_by_id(emulator_api: httpx.Client) -> None:
    field_id = make_field(emulator_api, "Colour", "dropdown", ("Red", "Blue"))
    options = emulator_api.get(f"/fields/{field_id}/options")
    assert options.status_code == 200
    assert [(o["value"], o["field"]) for o in options.json()["fieldOptions"]] == [
        ("Red", field_id),
        ("Blue", field_id),
    ]
    contact_id = _contact(emulator_api, fieldValues=[{"field": field_id, "value": "Red"}])
    value_id = emulator_api.get(f"/contacts/{contact_id}/fieldValues").json()["fieldValues"][0]["id"]
    got = emulator_api.get(f"/fieldValues/{value_id}")
    assert got.status_code == 200
    assert (got.json()["fieldValue"]["value"], got.json()["fieldValue"]["contact"]) == ("Red", contact_id)
    assert emulator_api.get("/fieldValues/999").json() == {"message": "No Result found for FieldValue with id 999"}
    assert emulator_api.get("/fields/999/options").status_code == 404


@pytest.mark.parametrize("setting", ["accept", "not_found"])
def test_plural_field_options_path(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, plural_field_options_path=setting)
    field_id = make_field(emulator_api, "Size", "dropdown")
    response = emulator_api.post("/fieldOptions/bulk", json={"fieldOptions": [{"field": field_id, "value": "S"}]})
    if setting == "accept":
        assert response.status_code == 201 and response.json()["fieldOptions"][0]["value"] == "S"
    else:
        assert response.status_code == 404 and "message" in response.json()


def test_contact_lists_and_contact_tags_collections_page(emulator_api: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    tag_id = emulator_api.post("/tags", json={"tag": {"tag": "t"}}).json()["tag"]["id"]
    for n in range(3):
        contact_id = _contact(emulator_api, f"c{n}@example.com")
        body = {"contactList": {"list": list_id, "contact": contact_id, "status": 1}}
        assert emulator_api.post("/contactLists", json=body).is_success
        assert emulator_api.post("/contactTags", json={"contactTag": {"contact": contact_id, "tag": tag_id}}).is_success
    page = emulator_api.get("/contactLists", params={"limit": 2, "offset": 1}).json()
    assert page["meta"]["total"] == "3"
    assert [m["contact"] for m in page["contactLists"]] == ["2", "3"]
    assert all(m["status"] == "1" and PLAIN_STAMP.match(m["updated_timestamp"]) for m in page["contactLists"])
    tags = emulator_api.get("/contactTags", params={"limit": 1}).json()
    assert tags["meta"]["total"] == "3" and len(tags["contactTags"]) == 1
    assert PLAIN_STAMP.match(tags["contactTags"][0]["created_timestamp"])


def test_webhooks_are_stored(emulator_api: httpx.Client) -> None:
    body = {"webhook": {"name": "hook", "url": "https://x.test/h", "events": ["subscribe"], "sources": ["api"]}}
    created = emulator_api.post("/webhooks", json=body)
    assert created.status_code == 201, created.text
    hook = created.json()["webhook"]
    assert (hook["name"], hook["events"], hook["sources"], hook["listid"]) == ("hook", ["subscribe"], ["api"], "0")
    assert emulator_api.get(f"/webhooks/{hook['id']}").json()["webhook"] == hook
    changed = emulator_api.put(f"/webhooks/{hook['id']}", json={"webhook": {"url": "https://x.test/2"}})
    assert changed.json()["webhook"]["url"] == "https://x.test/2" and changed.json()["webhook"]["name"] == "hook"
    listed = emulator_api.get("/webhooks", params={"filters[name]": "hook"}).json()
    assert listed["meta"]["total"] == "1" and listed["webhooks"][0]["id"] == hook["id"]
    assert emulator_api.get("/webhooks", params={"filters[name]": "nope"}).json()["webhooks"] == []
    refused = emulator_api.post("/webhooks", json={"webhook": {"name": "no url"}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["source"]["pointer"] == "/data/attributes/url"
    assert emulator_api.delete(f"/webhooks/{hook['id']}").json() == {}
    assert emulator_api.get(f"/webhooks/{hook['id']}").status_code == 404
    events = emulator_api.get("/webhook/events").json()
    assert "subscribe" in events["webhookEvents"] and events["meta"]["total"] == str(len(events["webhookEvents"]))


def test_root_answers_a_good_key_and_refuses_a_bad_one(emulator_api: httpx.Client, emulator: object) -> None:
    response = emulator_api.get("/")
    assert response.status_code == 200 and isinstance(response.json(), dict)
    with httpx.Client(base_url=emulator.api_url, headers={"Api-Token": "wrong"}) as bad:  # type: ignore[attr-defined]
        refused = bad.get("/")
    assert refused.status_code == 403 and refused.content == b""


@pytest.mark.parametrize("collection", ["campaigns", "deals", "segments", "forms", "accounts"])
def test_collections_never_written_are_empty(collection: str, emulator_api: httpx.Client) -> None:
    response = emulator_api.get(f"/{collection}", params={"limit": 20, "offset": 0})
    assert response.status_code == 200
    assert response.json() == {collection: [], "meta": {"total": "0"}}
    assert emulator_api.get(f"/{collection}/1").status_code == 404
