"""The emulator answers with the shapes of the API reference's own examples (tests/fixtures copy).

Shape = the same keys and the same JSON types, recursively; lists are compared by their first element;
a null in the reference says only that the field is nullable, so any type matches it there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXAMPLES = json.loads((FIXTURES / "api-examples.json").read_text())["operations"]

# Reference responses the emulator does not produce, and why.
NOT_PRODUCED = {
    ("GET /users/me", "400"): "no documented trigger",
    ("PUT /groups/{id}", "200"): "PUT is not emulated",
    ("PUT /groups/{id}", "403"): "PUT is not emulated",
    ("DELETE /groups/{id}", "400"): "no documented trigger",
    ("POST /contacts", "404"): "no documented trigger",
    ("GET /users", "400"): "no documented trigger",
    ("GET /automations", "400"): "no documented trigger",
}

# Keys the emulator answers beyond the reference's examples: what the current API adds to a contact it reads
# back and real clients read (tap-activecampaign's bookmarks, Airbyte's contacts schema). Only these may be extra.
READ_CONTACT_EXTRAS = ("created_timestamp", "updated_timestamp", "email_empty")
EXTENSIONS: dict[str, set[str]] = {
    "GET /contacts": {f"$.contacts[0].{k}: not in the reference" for k in READ_CONTACT_EXTRAS},
    "GET /contacts/{id}": {f"$.contact.{k}: not in the reference" for k in READ_CONTACT_EXTRAS},
}


def shape_mismatches(actual: Any, expected: Any, path: str = "$") -> list[str]:
    if expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        problems = [f"{path}.{k}: missing" for k in expected if k not in actual]
        problems += [f"{path}.{k}: not in the reference" for k in actual if k not in expected]
        for key in expected.keys() & actual.keys():
            problems += shape_mismatches(actual[key], expected[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {type(actual).__name__}"]
        return shape_mismatches(actual[0], expected[0], f"{path}[0]") if expected and actual else []
    # type() rather than isinstance(): true/false must not pass for 1/0.
    if type(actual) is not type(expected):
        return [f"{path}: expected {type(expected).__name__}, got {type(actual).__name__}"]
    return []


def test_shape_helper_catches_differences() -> None:
    assert shape_mismatches({"a": "1", "b": [1]}, {"a": "x", "b": [2, 3]}) == []
    assert shape_mismatches({"a": 1}, {"a": "1"}) == ["$.a: expected str, got int"]
    assert shape_mismatches({"a": True}, {"a": 1}) == ["$.a: expected int, got bool"]
    assert shape_mismatches({}, {"a": None}) == ["$.a: missing"]
    assert shape_mismatches({"a": "x", "z": 1}, {"a": None}) == ["$.z: not in the reference"]


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000)


LIST = {
    "list": {
        "name": "Audience",
        "stringid": "audience",
        "sender_url": "https://x.test",
        "sender_reminder": "r",
    }
}


VIEWER_KEY = "viewer-key"


class World:
    """A seeded account: list 1; fields 1-6 (1 related to every list, 2 a dropdown with two options, 6 a
    date); contact 1 (with a field value and tag 1) active on list 1; group 4 with no rights and its user
    2, whose key `viewer` sends."""

    def __init__(self, api: httpx.Client, admin: httpx.Client, key_free: httpx.Client, viewer: httpx.Client) -> None:
        self.api, self.admin, self.anonymous, self.viewer = api, admin, key_free, viewer
        assert api.post("/lists", json=LIST).status_code == 200
        for n, kind in enumerate(("text", "dropdown", "text", "text", "text", "date"), start=1):
            assert api.post("/fields", json={"field": {"title": f"Field {n}", "type": kind}}).status_code == 201
        options = [{"field": 2, "value": v, "label": v} for v in ("Red", "Blue")]
        assert api.post("/fieldOption/bulk", json={"fieldOptions": options}).status_code == 201
        assert api.post("/fieldRels", json={"fieldRel": {"field": 1, "relid": 0}}).status_code == 201
        contact = {
            "contact": {
                "email": "ann@example.com",
                "firstName": "Ann",
                "fieldValues": [{"field": "1", "value": "v"}],
            }
        }
        assert api.post("/contacts", json=contact).status_code == 201
        assert api.post("/contactLists", json={"contactList": {"list": 1, "contact": 1, "status": 1}}).is_success
        assert api.post("/tags", json={"tag": {"tag": "one"}}).status_code == 201
        assert api.post("/contactTags", json={"contactTag": {"contact": 1, "tag": 1}}).status_code == 201
        self.group_id = admin.post("/groups", json={"title": "Editors"}).json()["id"]
        user = {"username": "viewer", "group_id": int(self.group_id), "api_key": VIEWER_KEY}
        assert admin.post("/users", json=user).status_code == 200

    def config(self, **changes: Any) -> None:
        assert self.admin.post("/config", json=changes).status_code == 200

    def import_batch(self, emails: list[str]) -> str:
        contacts = [{"email": e, "subscribe": [{"listid": 1}]} for e in emails]
        response = self.api.post("/import/bulk_import", json={"contacts": contacts})
        assert response.status_code == 200, response.text
        return str(response.json()["batchId"])

    def wait_completed(self, batch_id: str) -> httpx.Response:
        for _ in range(500):
            response = self.api.get("/import/info", params={"batchId": batch_id})
            if response.json()["status"] == "completed":
                return response
            time.sleep(0.01)
        raise AssertionError("batch did not complete")


def _bulk_rate_limited(w: World) -> httpx.Response:
    w.config(bulk_per_minute=1)
    w.import_batch(["a@example.com", "b@example.com"])
    return w.api.post("/import/bulk_import", json={"contacts": [{"email": "c@example.com"}] * 2})


def _bulk_summary(w: World) -> httpx.Response:
    w.wait_completed(w.import_batch(["a@example.com", "b@example.com"]))
    w.config(processing_base_s=10_000)
    w.import_batch(["c@example.com", "d@example.com"])
    return w.api.get("/import/bulk_import")


def _import_info(w: World) -> httpx.Response:
    w.admin.post("/exclusions", json={"emails": ["blocked@example.com"]})
    return w.wait_completed(w.import_batch(["new@example.com", "blocked@example.com"]))


def _automations_of_imported_contact(w: World) -> httpx.Response:
    # A run a bulk import started names its batch (the reference's batchid is a string here).
    w.wait_completed(w.import_batch(["new@example.com"]))
    new_id = w.api.get("/contacts", params={"email": "new@example.com"}).json()["contacts"][0]["id"]
    return w.api.get(f"/contacts/{new_id}/contactAutomations")


def _example(operation: str, **changes: Any) -> Any:
    """The reference's request example of `operation`, with top-level objects' keys changed."""
    request = json.loads(json.dumps(EXAMPLES[operation]["request"]))
    for key, value in changes.items():
        request[next(iter(request))][key] = value
    return request


def _missing_as_403(request: Callable[[World], httpx.Response]) -> Callable[[World], httpx.Response]:
    def trigger(w: World) -> httpx.Response:
        w.config(missing_object_status=403)
        return request(w)

    return trigger


CASES: dict[tuple[str, str, str], Callable[[World], httpx.Response]] = {
    ("GET /users/me", "200", "Result"): lambda w: w.api.get("/users/me"),
    ("POST /groups", "200", "Result"): lambda w: w.api.post("/groups", json=EXAMPLES["POST /groups"]["request"]),
    ("GET /groups", "200", "Result"): lambda w: w.api.get("/groups"),
    ("GET /groups/{id}", "200", "Result"): lambda w: w.api.get("/groups/3"),
    ("GET /groups/{id}", "403", "Result"): _missing_as_403(lambda w: w.api.get("/groups/99")),
    ("DELETE /groups/{id}", "200", "Result"): lambda w: w.api.delete(f"/groups/{w.group_id}"),
    ("POST /lists", "200", "Result"): lambda w: w.api.post("/lists", json=EXAMPLES["POST /lists"]["request"]),
    ("POST /lists", "400", "Result"): lambda w: w.api.post("/lists", content=b"{not json"),
    ("POST /lists", "403", None): lambda w: w.anonymous.post("/lists", json=LIST),
    ("GET /lists", "200", "Result"): lambda w: w.api.get("/lists"),
    ("GET /lists", "403", None): lambda w: w.anonymous.get("/lists"),
    ("GET /lists/{id}", "200", "Result"): lambda w: w.api.get("/lists/1"),
    ("GET /lists/{id}", "403", "Result"): lambda w: w.viewer.get("/lists/1"),
    ("GET /lists/{id}", "404", "Result"): lambda w: w.api.get("/lists/7"),
    ("DELETE /lists/{id}", "200", "Result"): lambda w: w.api.delete("/lists/1"),
    ("DELETE /lists/{id}", "403", "Result"): _missing_as_403(lambda w: w.api.delete("/lists/3")),
    ("POST /listGroups", "201", "Result"): lambda w: w.api.post(
        "/listGroups", json={"listGroup": {"listid": 1, "groupid": 3}}
    ),
    ("POST /listGroups", "403", "Result"): lambda w: w.viewer.post(
        "/listGroups", json={"listGroup": {"listid": 1, "groupid": 3}}
    ),
    ("POST /contacts", "201", "Result"): lambda w: w.api.post(
        "/contacts", json={**EXAMPLES["POST /contacts"]["request"]}
    ),
    ("POST /contacts", "422", "Result"): lambda w: w.api.post(
        "/contacts", json={"contact": {"email": "ANN@example.com"}}
    ),
    ("GET /contacts", "200", "Result"): lambda w: w.api.get("/contacts"),
    ("GET /contacts", "400", "Result"): lambda w: w.api.get("/contacts", params={"listid": "abc"}),
    ("GET /contacts/{id}", "200", "Result"): lambda w: w.api.get("/contacts/1"),
    ("GET /contacts/{id}", "404", "Result"): lambda w: w.api.get("/contacts/99"),
    ("PUT /contacts/{id}", "200", "Result"): lambda w: w.api.put(
        "/contacts/1", json=_example("PUT /contacts/{id}", email="ann@example.com")
    ),
    ("PUT /contacts/{id}", "404", "Result"): lambda w: w.api.put(
        "/contacts/99", json=EXAMPLES["PUT /contacts/{id}"]["request"]
    ),
    ("DELETE /contacts/{id}", "200", "Result"): lambda w: w.api.delete("/contacts/1"),
    ("DELETE /contacts/{id}", "404", "Result"): lambda w: w.api.delete("/contacts/99"),
    ("GET /contacts/{id}/contactLists", "200", "Result"): lambda w: w.api.get("/contacts/1/contactLists"),
    ("GET /contacts/{id}/contactLists", "404", "Result"): lambda w: w.api.get("/contacts/121/contactLists"),
    ("POST /contact/sync", "201", "Result"): lambda w: w.api.post(
        "/contact/sync", json=EXAMPLES["POST /contact/sync"]["request"]
    ),
    ("POST /contact/sync", "400", "Result"): lambda w: w.api.post("/contact/sync", content=b"[]"),
    ("POST /contactLists", "200", "Result"): lambda w: w.api.post(
        "/contactLists", json={"contactList": {"list": 1, "contact": 1, "status": 2}}
    ),
    ("POST /contactLists", "400", "Result"): lambda w: w.api.post("/contactLists", content=b""),
    ("POST /import/bulk_import", "200", "Result"): lambda w: w.api.post(
        "/import/bulk_import", json=EXAMPLES["POST /import/bulk_import"]["request"]
    ),
    ("POST /import/bulk_import", "400", "Contact Create Fail"): lambda w: w.api.post(
        "/import/bulk_import", json={"contacts": [{"email": "ok@example.com"}, {"email": "bad@"}]}
    ),
    ("POST /import/bulk_import", "400", "Other Error"): _bulk_rate_limited,
    ("GET /import/bulk_import", "200", "Result"): _bulk_summary,
    ("GET /import/info", "200", "Result"): _import_info,
    ("GET /import/info", "400", "Bad Request"): lambda w: w.api.get("/import/info"),
    ("GET /lists/exclusions", "200", "Result"): lambda w: (
        w.admin.post("/exclusions", json={"emails": ["x@example.com"]}),
        w.api.get("/lists/exclusions"),
    )[1],
    ("GET /lists/exclusions", "422", "Validation errors"): lambda w: w.api.get(
        "/lists/exclusions", params={"orders[matchPhrase]": "DASC", "filters[nonExisting]": "1"}
    ),
    ("GET /fields", "200", "Result"): lambda w: w.api.get("/fields"),
    ("POST /fields", "201", "Result"): lambda w: (
        w.config(field_create_shape="fields"),
        w.api.post("/fields", json=EXAMPLES["POST /fields"]["request"]),
    )[1],
    ("POST /fields", "403", "Result"): lambda w: w.viewer.post("/fields", json=EXAMPLES["POST /fields"]["request"]),
    ("POST /fields", "422", "Result"): lambda w: w.api.post("/fields", json={"field": {"title": "field 1"}}),
    ("GET /fields/{id}", "200", "Result"): lambda w: w.api.get("/fields/1"),
    ("GET /fields/{id}", "400", "Result"): lambda w: w.api.get("/fields/first"),
    ("POST /fieldOption/bulk", "201", "Result"): lambda w: w.api.post(
        "/fieldOption/bulk",
        json={
            "fieldOptions": [{**o, "field": "2"} for o in EXAMPLES["POST /fieldOption/bulk"]["request"]["fieldOptions"]]
        },
    ),
    ("POST /fieldOption/bulk", "422", "Result"): lambda w: w.api.post(
        "/fieldOption/bulk", json={"fieldOptions": {"field": 2, "value": "X"}}
    ),
    ("POST /fieldRels", "201", "Result"): lambda w: w.api.post(
        "/fieldRels", json=_example("POST /fieldRels", field=2, relid=1)
    ),
    ("POST /fieldRels", "403", "Result"): lambda w: w.viewer.post(
        "/fieldRels", json=_example("POST /fieldRels", field=2, relid=1)
    ),
    ("POST /fieldValues", "200", "Result"): lambda w: w.api.post(
        "/fieldValues", json=_example("POST /fieldValues", contact=1, field=3)
    ),
    ("POST /fieldValues", "403", "Result"): lambda w: w.viewer.post(
        "/fieldValues", json=_example("POST /fieldValues", contact=1, field=3)
    ),
    ("GET /fieldValues", "200", "Result"): lambda w: w.api.get("/fieldValues"),
    ("GET /fieldValues", "400", "Result"): lambda w: w.api.get("/fieldValues", params={"filters[fieldid]": "one"}),
    ("PUT /fieldValues/{id}", "200", "Result"): lambda w: w.api.put(
        "/fieldValues/1", json=_example("PUT /fieldValues/{id}", contact=1, field=1)
    ),
    ("PUT /fieldValues/{id}", "400", "Result"): lambda w: w.api.put("/fieldValues/1", content=b"[]"),
    ("DELETE /fieldValues/{id}", "200", "Result"): lambda w: w.api.delete("/fieldValues/1"),
    ("DELETE /fieldValues/{id}", "403", "Result"): lambda w: w.viewer.delete("/fieldValues/1"),
    ("GET /contacts/{id}/fieldValues", "200", "Result"): lambda w: w.api.get("/contacts/1/fieldValues"),
    ("GET /contacts/{id}/fieldValues", "404", "Result"): lambda w: w.api.get("/contacts/100/fieldValues"),
    ("GET /tags", "200", "Result"): lambda w: w.api.get("/tags"),
    ("GET /tags", "400", "Result"): lambda w: w.api.get("/tags", params={"filters[search][like]": "o"}),
    ("POST /tags", "201", "Result"): lambda w: w.api.post("/tags", json=EXAMPLES["POST /tags"]["request"]),
    ("POST /contactTags", "201", "Result"): lambda w: w.api.post(
        "/contactTags", json=_example("POST /contactTags", contact="1", tag="1")
    ),
    ("POST /contactTags", "404", "Result"): lambda w: w.api.post(
        "/contactTags", json=_example("POST /contactTags", contact="99", tag="1")
    ),
    ("POST /contactTags", "422", "Result"): lambda w: w.api.post("/contactTags", json={"contactTag": {"tag": "1"}}),
    ("DELETE /contactTags/{id}", "200", "Result"): lambda w: w.api.delete("/contactTags/1"),
    ("DELETE /contactTags/{id}", "404", "Result"): lambda w: w.api.delete("/contactTags/99"),
    ("GET /groupLimits", "200", "Result"): lambda w: w.api.get("/groupLimits"),
    ("GET /users", "200", "Result"): lambda w: w.api.get("/users"),
    ("POST /users", "201", "Result"): lambda w: w.api.post(
        "/users", json=_example("POST /users", group=int(w.group_id))
    ),
    ("POST /users", "400", "Result"): lambda w: w.api.post("/users", json={"user": {"username": "x"}}),
    ("GET /users/{id}", "200", "Result"): lambda w: w.api.get("/users/1"),
    ("GET /users/{id}", "400", "Result"): lambda w: w.api.get("/users/admin"),
    ("GET /automations", "200", "Result"): lambda w: w.api.get("/automations"),
    ("GET /contacts/{id}/contactAutomations", "200", "Result"): _automations_of_imported_contact,
    ("GET /contacts/{id}/contactAutomations", "404", "Result"): lambda w: w.api.get("/contacts/99/contactAutomations"),
    ("GET /contactAutomations", "200", "Result"): lambda w: w.api.get("/contactAutomations"),
}


def test_every_reference_response_is_covered_or_explained() -> None:
    covered = {(op, status) for op, status, _ in CASES}
    reference = {(op, status) for op, spec in EXAMPLES.items() for status in spec["responses"]}
    assert reference - covered - NOT_PRODUCED.keys() == set()


@pytest.mark.parametrize(("operation", "status", "name"), list(CASES), ids=lambda v: str(v))
def test_response_matches_reference_shape(
    operation: str,
    status: str,
    name: str | None,
    emulator_api: httpx.Client,
    emulator_admin: httpx.Client,
    emulator: Any,
) -> None:
    with (
        httpx.Client(base_url=emulator.api_url) as anonymous,
        httpx.Client(base_url=emulator.api_url, headers={"Api-Token": VIEWER_KEY}) as viewer,
    ):
        world = World(emulator_api, emulator_admin, anonymous, viewer)
        response = CASES[(operation, status, name)](world)
    assert response.status_code == int(status), response.text
    examples = EXAMPLES[operation]["responses"][status]
    if name is None:
        # The reference gives no body (a bad key): none here either, and no JSON content type.
        assert examples is None
        assert response.content == b""
        assert "content-type" not in response.headers
        return
    problems = shape_mismatches(response.json(), examples[name])
    assert [p for p in problems if p not in EXTENSIONS.get(operation, set())] == []
