"""Custom fields, their options and relations, field values, and the checks every value goes through."""

from __future__ import annotations

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


def sync(api: httpx.Client, email: str, values: list[dict[str, Any]] | None = None) -> httpx.Response:
    return api.post("/contact/sync", json={"contact": {"email": email, "fieldValues": values or []}})


def test_create_field(emulator_api: httpx.Client) -> None:
    created = emulator_api.post("/fields", json={"field": {"title": "Customer Group", "type": "dropdown"}})
    assert created.status_code == 201
    field = created.json()["field"]
    assert (field["id"], field["perstag"], field["type"], field["isrequired"]) == (
        "1",
        "CUSTOMER_GROUP",
        "dropdown",
        "0",
    )
    given = {"title": "Field Title", "type": "textarea", "perstag": "Personalized Tag", "isrequired": 1}
    second = emulator_api.post("/fields", json={"field": given}).json()["field"]
    assert (second["perstag"], second["isrequired"]) == ("PERSONALIZEDTAG", "1")
    assert emulator_api.get("/fields/2").json()["field"] == second
    assert emulator_api.get("/fields/9").status_code == 404
    # Titles (case-insensitively) and tags are unique; the reference's 422 envelope has no source.
    duplicate = emulator_api.post("/fields", json={"field": {"title": "customer group"}})
    assert duplicate.status_code == 422
    assert duplicate.json() == {
        "errors": [
            {
                "title": "There is already a field with this title",
                "detail": "There is already a field named 'customer group' -- choose another name",
                "code": "duplicate",
            }
        ]
    }
    same_tag = emulator_api.post("/fields", json={"field": {"title": "Other", "perstag": "customer_group"}})
    assert same_tag.status_code == 422
    assert same_tag.json()["errors"][0]["title"] == "There is already a field with this personalization tag"
    assert emulator_api.post("/fields", json={"field": {"title": "X", "type": "number"}}).status_code == 422
    assert emulator_api.post("/fields", json={"field": {"type": "text"}}).status_code == 422
    assert emulator_api.post("/fields", json={"title": "unwrapped"}).status_code == 400


@pytest.mark.parametrize("shape", ["field", "fields"])
def test_field_create_shape(shape: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, field_create_shape=shape)
    assert emulator_api.post("/fields", json={"field": {"title": "Existing"}}).status_code == 201
    body = emulator_api.post("/fields", json={"field": {"title": "New"}}).json()
    if shape == "field":
        assert list(body) == ["field"] and body["field"]["title"] == "New"
    else:
        # The reference's example: a list (here of the new field alone), with sideloads and a total.
        assert list(body) == ["fieldOptions", "fieldRels", "fields", "meta"]
        assert [f["title"] for f in body["fields"]] == ["New"] and body["meta"] == {"total": "1"}


def test_list_fields_pages_filters_and_sideloads(emulator_api: httpx.Client) -> None:
    list_id = make_list(emulator_api)
    for title, options in (("Colour", ("Red", "Blue")), ("Size", ("S", "M")), ("Note", ())):
        make_field(emulator_api, title, "dropdown" if options else "text", options)
    emulator_api.post("/fieldRels", json={"fieldRel": {"field": 2, "relid": int(list_id)}})
    page = emulator_api.get("/fields", params={"limit": 1, "offset": 1}).json()
    assert [f["title"] for f in page["fields"]] == ["Size"] and page["meta"] == {"total": "3"}
    # Only the options and relations of the fields on the page come along.
    assert [o["value"] for o in page["fieldOptions"]] == ["S", "M"]
    assert [(r["field"], r["relid"]) for r in page["fieldRels"]] == [("2", list_id)]
    assert page["fields"][0]["options"] == ["3", "4"] and page["fields"][0]["relations"] == ["1"]
    tagged = emulator_api.get("/fields", params={"filters[perstag]": "colour"}).json()
    assert [f["perstag"] for f in tagged["fields"]] == ["COLOUR"] and tagged["meta"]["total"] == "1"
    one = emulator_api.get("/fields/1").json()
    assert [o["label"] for o in one["fieldOptions"]] == ["Red", "Blue"] and one["fieldRels"] == []


def test_field_options_bulk(emulator_api: httpx.Client) -> None:
    make_field(emulator_api, "Colour", "radio")
    failure = {"errors": "Bulk operation failed. Request must contain an array of fieldOption objects."}
    for body in (
        {"fieldOptions": {"field": 1, "value": "X"}},
        {"fieldOptions": []},
        {"fieldOptions": ["X"]},
        {"fieldOptions": [{"field": 1, "label": "no value"}]},
        [{"field": 1, "value": "X"}],
    ):
        response = emulator_api.post("/fieldOption/bulk", json=body)
        assert (response.status_code, response.json()) == (422, failure), body
    # All or nothing: one unknown field adds none.
    mixed = {"fieldOptions": [{"field": 1, "value": "X"}, {"field": 9, "value": "Y"}]}
    assert emulator_api.post("/fieldOption/bulk", json=mixed).status_code == 404
    assert emulator_api.get("/fields/1").json()["field"]["options"] == []
    created = emulator_api.post(
        "/fieldOption/bulk", json={"fieldOptions": [{"field": "1", "value": "X", "isdefault": True}]}
    )
    assert created.status_code == 201
    option = created.json()["fieldOptions"][0]
    assert (option["value"], option["label"], option["isdefault"], option["orderid"]) == ("X", "X", 1, 1)


def test_field_rels(emulator_api: httpx.Client) -> None:
    list_id = int(make_list(emulator_api))
    make_field(emulator_api, "Colour")
    everywhere = emulator_api.post("/fieldRels", json={"fieldRel": {"field": 1, "relid": 0}})
    assert everywhere.status_code == 201
    assert {k: everywhere.json()["fieldRel"][k] for k in ("field", "relid", "id")} == {
        "field": 1,
        "relid": 0,
        "id": "1",
    }
    assert (
        emulator_api.post("/fieldRels", json={"fieldRel": {"field": 1, "relid": list_id}}).json()["fieldRel"]["id"]
        == "2"
    )
    # Relating again answers the same relation.
    assert emulator_api.post("/fieldRels", json={"fieldRel": {"field": 1, "relid": 0}}).json()["fieldRel"]["id"] == "1"
    assert emulator_api.post("/fieldRels", json={"fieldRel": {"field": 1, "relid": 42}}).status_code == 404
    assert emulator_api.post("/fieldRels", json={"fieldRel": {"field": 7, "relid": 0}}).status_code == 404
    assert emulator_api.post("/fieldRels", json={"fieldRel": {"field": 1}}).status_code == 422
    rels = emulator_api.get("/fields/1").json()["fieldRels"]
    assert [(r["relid"], r["dorder"]) for r in rels] == [("0", "0"), (str(list_id), "0")]


def test_field_value_endpoints(emulator_api: httpx.Client) -> None:
    make_field(emulator_api, "Colour")
    make_field(emulator_api, "Size")
    contact_id = int(sync(emulator_api, "ann@example.com").json()["contact"]["id"])
    sync(emulator_api, "bob@example.com", [{"field": 1, "value": "Red"}])
    written = emulator_api.post(
        "/fieldValues", json={"fieldValue": {"contact": contact_id, "field": 1, "value": "Blue"}}
    )
    assert written.status_code == 200
    value = written.json()["fieldValue"]
    assert (value["contact"], value["field"], value["value"], value["owner"]) == (contact_id, 1, "Blue", contact_id)
    assert written.json()["contacts"][0]["email"] == "ann@example.com"
    # POST again for the same contact and field updates the same value.
    again = emulator_api.post(
        "/fieldValues", json={"fieldValue": {"contact": contact_id, "field": 1, "value": "Green"}}
    )
    assert again.json()["fieldValue"]["id"] == value["id"]
    put = emulator_api.put(f"/fieldValues/{value['id']}", json={"fieldValue": {"value": "Grey"}})
    assert put.status_code == 200 and put.json()["fieldValue"]["value"] == "Grey"
    emulator_api.post("/fieldValues", json={"fieldValue": {"contact": contact_id, "field": 2, "value": "L"}})

    def values(params: dict[str, Any]) -> list[tuple[str, str, str]]:
        body = emulator_api.get("/fieldValues", params=params).json()
        assert body["meta"]["total"] == str(len(body["fieldValues"]))
        return [(v["contact"], v["field"], v["value"]) for v in body["fieldValues"]]

    ann = str(contact_id)
    assert values({}) == [("2", "1", "Red"), (ann, "1", "Grey"), (ann, "2", "L")]
    assert values({"filters[fieldid]": 1}) == [("2", "1", "Red"), (ann, "1", "Grey")]
    assert values({"filters[val]": "L"}) == [(ann, "2", "L")]
    own = emulator_api.get(f"/contacts/{contact_id}/fieldValues").json()["fieldValues"]
    assert [(v["field"], v["value"], v["created_by"]) for v in own] == [("1", "Grey", "0"), ("2", "L", "0")]
    assert emulator_api.delete(f"/fieldValues/{value['id']}").status_code == 200
    assert values({"filters[fieldid]": 1}) == [("2", "1", "Red")]
    assert emulator_api.delete(f"/fieldValues/{value['id']}").status_code == 404
    assert emulator_api.put("/fieldValues/99", json={"fieldValue": {"value": "x"}}).status_code == 404
    assert (
        emulator_api.post("/fieldValues", json={"fieldValue": {"contact": 99, "field": 1, "value": "x"}}).status_code
        == 404
    )
    assert (
        emulator_api.post(
            "/fieldValues", json={"fieldValue": {"contact": contact_id, "field": 9, "value": "x"}}
        ).status_code
        == 404
    )
    assert emulator_api.post("/fieldValues", json={"fieldValue": {"field": 1}}).status_code == 422


def test_bulk_import_stores_values_by_type(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    kinds = {
        "text": ("text", ()),
        "textarea": ("textarea", ()),
        "hidden": ("hidden", ()),
        "dropdown": ("dropdown", ("Red", "Blue")),
        "radio": ("radio", ("Yes", "No")),
        "listbox": ("listbox", ("a", "b", "c")),
        "checkbox": ("checkbox", ("x", "y")),
        "date": ("date", ()),
        "datetime": ("datetime", ()),
    }
    ids = {name: make_field(emulator_api, name, kind, options) for name, (kind, options) in kinds.items()}
    given = {
        "text": 42,
        "textarea": "two\nlines",
        "hidden": "h",
        "dropdown": "blue",
        "radio": "Yes",
        "listbox": "a||C",
        "checkbox": ["y", "x"],
        "date": "2024-05-01",
        "datetime": "2024-05-01T10:20:30Z",
    }
    fields = [{"id": ids[name], "value": value} for name, value in given.items()]
    fields += [{"id": 999, "value": "unknown field"}, {"id": ids["text"] + "0", "value": "also unknown"}]
    imported(emulator_api, [{"email": "ann@example.com", "fields": fields}])
    stored = contact_view(emulator_admin, "ann@example.com")["fields"]
    assert {name: stored[field_id] for name, field_id in ids.items()} == {
        "text": "42",
        "textarea": "two\nlines",
        "hidden": "h",
        "dropdown": "Blue",
        "radio": "Yes",
        "listbox": "||a||c||",
        "checkbox": "||y||x||",
        "date": "2024-05-01",
        "datetime": "2024-05-01T10:20:30+00:00",
    }
    assert set(stored) == set(ids.values())
    # An empty value clears a field; a null one leaves it alone.
    imported(
        emulator_api,
        [
            {
                "email": "ann@example.com",
                "fields": [{"id": ids["text"], "value": ""}, {"id": ids["hidden"], "value": None}],
            }
        ],
    )
    stored = contact_view(emulator_admin, "ann@example.com")["fields"]
    assert (stored[ids["text"]], stored[ids["hidden"]]) == ("", "h")


@pytest.mark.parametrize("setting", ["ignore", "store", "fail_contact"])
def test_invalid_option(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, invalid_option=setting)
    colour = make_field(emulator_api, "Colour", "dropdown", ("Red", "Blue"))
    tags = make_field(emulator_api, "Interests", "listbox", ("a", "b"))
    note = make_field(emulator_api, "Note")
    bad = [{"id": colour, "value": "Purple"}, {"id": tags, "value": "||a||z||"}, {"id": note, "value": "n"}]
    info = imported(emulator_api, [{"email": "bad@example.com", "fields": bad}, {"email": "ok@example.com"}])
    via_api = sync(
        emulator_api, "api@example.com", [{"field": colour, "value": "Purple"}, {"field": note, "value": "n"}]
    )
    contact_id = sync(emulator_api, "single@example.com").json()["contact"]["id"]
    single = emulator_api.post(
        "/fieldValues", json={"fieldValue": {"contact": contact_id, "field": colour, "value": "Purple"}}
    )
    if setting == "fail_contact":
        assert info["failure"] == ["bad@example.com"] and len(info["success"]) == 1
        assert emulator_admin.get("/contacts", params={"email": "bad@example.com"}).status_code == 404
        assert via_api.status_code == 422
        assert via_api.json()["errors"][0]["title"] == "'Purple' is not an option of field 'Colour'"
        assert emulator_admin.get("/contacts", params={"email": "api@example.com"}).status_code == 404
        assert single.status_code == 422
        return
    assert info["failure"] == [] and len(info["success"]) == 2
    assert via_api.status_code == 201 and single.status_code == 200
    stored = contact_view(emulator_admin, "bad@example.com")["fields"]
    synced = contact_view(emulator_admin, "api@example.com")["fields"]
    if setting == "ignore":
        # Silently not stored; the rest of the contact is.
        assert stored == {note: "n"} and synced == {note: "n"}
        assert single.json()["fieldValue"] is None
    else:
        assert stored == {colour: "Purple", tags: "||a||z||", note: "n"}
        assert synced == {colour: "Purple", note: "n"}
        assert single.json()["fieldValue"]["value"] == "Purple"


@pytest.mark.parametrize("setting", ["allow", "fail_contact"])
def test_required_empty(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, required_empty=setting)
    required = make_field(emulator_api, "Account number", isrequired=1)
    imported(emulator_api, [{"email": "held@example.com", "fields": [{"id": required, "value": "A1"}]}])
    info = imported(
        emulator_api,
        [
            {"email": "missing@example.com"},
            {"email": "empty@example.com", "fields": [{"id": required, "value": " "}]},
            # Already holds a value: leaving the field out of this import keeps it.
            {"email": "held@example.com", "first_name": "Held"},
        ],
    )
    created = emulator_api.post("/contacts", json={"contact": {"email": "api@example.com"}})
    held_id = emulator_api.get("/contacts", params={"email": "held@example.com"}).json()["contacts"][0]["id"]
    cleared = emulator_api.post(
        "/fieldValues", json={"fieldValue": {"contact": held_id, "field": required, "value": ""}}
    )
    if setting == "allow":
        assert info["failure"] == [] and created.status_code == 201 and cleared.status_code == 200
    else:
        assert info["failure"] == ["missing@example.com", "empty@example.com"]
        assert created.status_code == 422
        assert created.json()["errors"][0]["title"] == "Field 'Account number' is required"
        assert cleared.status_code == 422
        assert contact_view(emulator_admin, "held@example.com")["fields"] == {required: "A1"}
    assert contact_view(emulator_admin, "held@example.com")["first_name"] == "Held"


@pytest.mark.parametrize("setting", ["strict", "lenient"])
def test_date_format(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, date_format=setting)
    day = make_field(emulator_api, "Birthday", "date")
    moment = make_field(emulator_api, "Signed up", "datetime")
    cases = {
        "us@example.com": ("05/01/2024", "05/01/2024 10:30"),
        "dotted@example.com": ("01.05.2024", "2024-05-01 10:30:15"),
        "iso@example.com": ("2024-05-01T08:00:00Z", "2024-05-01"),
        "impossible@example.com": ("2024-02-30", "2024-02-30T10:00:00"),
        "words@example.com": ("tomorrow", "soon"),
    }
    contacts = [
        {"email": email, "fields": [{"id": day, "value": d}, {"id": moment, "value": m}]}
        for email, (d, m) in cases.items()
    ]
    info = imported(emulator_api, contacts)
    # A date the emulator cannot read is left out; it never fails the contact.
    assert info["failure"] == []
    stored = {email: contact_view(emulator_admin, email)["fields"] for email in cases}
    expected = {
        "us@example.com": {day: "2024-05-01", moment: "2024-05-01T10:30:00"},
        "dotted@example.com": {day: "2024-05-01", moment: "2024-05-01T10:30:15"},
        "iso@example.com": {day: "2024-05-01", moment: "2024-05-01T00:00:00"},
        "impossible@example.com": {},
        "words@example.com": {},
    }
    if setting == "strict":
        expected = {email: {} for email in cases}
    assert stored == expected
    # The documented formats are stored whatever the option.
    imported(
        emulator_api,
        [
            {
                "email": "ok@example.com",
                "fields": [{"id": day, "value": "2024-05-01"}, {"id": moment, "value": "2024-05-01T10:30:00-05:00"}],
            }
        ],
    )
    assert contact_view(emulator_admin, "ok@example.com")["fields"] == {
        day: "2024-05-01",
        moment: "2024-05-01T10:30:00-05:00",
    }


@pytest.mark.parametrize("setting", ["store", "ignore"])
def test_unrelated_field(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, unrelated_field=setting)
    first, second = make_list(emulator_api, "First"), make_list(emulator_api, "Second")
    on_first = make_field(emulator_api, "On first")
    everywhere = make_field(emulator_api, "Everywhere")
    nowhere = make_field(emulator_api, "Nowhere")
    emulator_api.post("/fieldRels", json={"fieldRel": {"field": on_first, "relid": first}})
    emulator_api.post("/fieldRels", json={"fieldRel": {"field": everywhere, "relid": 0}})
    values = [{"id": f, "value": "v"} for f in (on_first, everywhere, nowhere)]
    imported(
        emulator_api,
        [
            {"email": "first@example.com", "subscribe": [{"listid": first}], "fields": values},
            {"email": "second@example.com", "subscribe": [{"listid": second}], "fields": values},
        ],
    )
    # The contact API places a contact by the lists it is on already.
    synced = sync(
        emulator_api, "first@example.com", [{"field": nowhere, "value": "w"}, {"field": on_first, "value": "w"}]
    )
    assert synced.status_code == 200
    stored_first = contact_view(emulator_admin, "first@example.com")["fields"]
    stored_second = contact_view(emulator_admin, "second@example.com")["fields"]
    if setting == "store":
        assert stored_first == {on_first: "w", everywhere: "v", nowhere: "w"}
        assert stored_second == {on_first: "v", everywhere: "v", nowhere: "v"}
    else:
        assert stored_first == {on_first: "w", everywhere: "v"}
        assert stored_second == {everywhere: "v"}


def test_contact_api_checks_values_like_bulk_import(emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    colour = make_field(emulator_api, "Colour", "dropdown", ("Red", "Blue"))
    day = make_field(emulator_api, "Birthday", "date")
    created = emulator_api.post(
        "/contacts",
        json={
            "contact": {
                "email": "ann@example.com",
                "fieldValues": [
                    {"field": colour, "value": "RED"},
                    {"field": day, "value": "1/2/2000"},
                    {"field": "77", "value": "unknown field"},
                ],
            }
        },
    )
    assert created.status_code == 201
    assert [(v["field"], v["value"]) for v in created.json()["fieldValues"]] == [(colour, "Red")]
    synced = sync(emulator_api, "ann@example.com", [{"field": day, "value": "2000-01-02"}])
    assert synced.status_code == 200
    assert [(v["field"], v["value"]) for v in synced.json()["fieldValues"]] == [(colour, "Red"), (day, "2000-01-02")]
    assert contact_view(emulator_admin, "ann@example.com")["fields"] == {colour: "Red", day: "2000-01-02"}
