"""Every refusal of /api/3 is JSON, as ActiveCampaign's are: the router's own (unknown route, wrong method) too."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

from .helpers import make_list


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(requests_per_second=10_000)


# (method, path, body): an id that names nothing, on every endpoint that takes one.
MISSING_IDS = [
    ("GET", "/contacts/99", None),
    ("PUT", "/contacts/99", {"contact": {"firstName": "X"}}),
    ("DELETE", "/contacts/99", None),
    ("GET", "/contacts/99/contactLists", None),
    ("GET", "/contacts/99/fieldValues", None),
    ("GET", "/contacts/99/contactTags", None),
    ("GET", "/contacts/99/contactAutomations", None),
    ("GET", "/lists/99", None),
    ("PUT", "/lists/99", {"list": {"name": "X"}}),
    ("DELETE", "/lists/99", None),
    ("GET", "/groups/99", None),
    ("DELETE", "/groups/99", None),
    ("GET", "/users/99", None),
    ("GET", "/fields/99", None),
    ("GET", "/fields/99/options", None),
    ("GET", "/fieldValues/99", None),
    ("PUT", "/fieldValues/99", {"fieldValue": {"value": "x"}}),
    ("DELETE", "/fieldValues/99", None),
    ("GET", "/tags/99", None),
    ("PUT", "/tags/99", {"tag": {"tag": "x"}}),
    ("DELETE", "/tags/99", None),
    ("DELETE", "/contactTags/99", None),
    ("GET", "/webhooks/99", None),
    ("PUT", "/webhooks/99", {"webhook": {"name": "x"}}),
    ("DELETE", "/webhooks/99", None),
    ("GET", "/campaigns/99", None),
    ("GET", "/deals/99", None),
]

# (method, path, body or raw bytes, status): routes that do not exist, methods a route lacks, bad bodies.
OTHER_REFUSALS: list[tuple[str, str, Any, int]] = [
    ("GET", "/nothing-here", None, 404),
    ("GET", "/contacts/1/nothing", None, 404),
    ("POST", "/lists/1/nothing", {}, 404),
    ("PATCH", "/contacts", {}, 405),
    ("DELETE", "/lists", None, 405),
    ("PUT", "/webhooks", {}, 405),
    ("POST", "/contacts", b"{not json", 400),
    ("POST", "/contacts", {"contact": {"email": "bad@"}}, 422),
    ("POST", "/contacts", {"contact": {}}, 422),
    ("PUT", "/contacts/1", b"[]", 400),
    ("PUT", "/contacts/1", {"contact": {"email": "nope"}}, 422),
    ("POST", "/lists", {"list": {"name": "No sender"}}, 422),
    ("PUT", "/lists/1", {"list": {"name": ""}}, 422),
    ("POST", "/tags", {"tag": {}}, 422),
    ("PUT", "/tags/1", {"tag": {"tag": " "}}, 422),
    ("POST", "/webhooks", {"webhook": {"url": "https://x.test"}}, 422),
    ("POST", "/webhooks", {"webhook": {"name": "n", "url": "https://x.test", "events": "subscribe"}}, 422),
    ("POST", "/contactLists", {"contactList": {"list": 1}}, 422),
    ("POST", "/contactTags", {"contactTag": {"tag": 1}}, 422),
    ("POST", "/fieldValues", {"fieldValue": {"contact": 1}}, 422),
    ("GET", "/lists", {"params": {"orders[name]": "sideways"}}, 422),
]


def _send(api: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return api.request(method, path, content=body, headers={"Content-Type": "application/json"})
    if isinstance(body, dict) and set(body) == {"params"}:
        return api.request(method, path, params=body["params"])
    return api.request(method, path, json=body)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.request.method,
        response.request.url,
        response.headers.get("content-type"),
        response.text,
    )
    parsed = response.json()
    assert isinstance(parsed, dict)
    return parsed


def test_every_refusal_is_json(emulator_api: httpx.Client) -> None:
    # One list, contact, tag and field, so that the bad-body cases reach their checks on real objects.
    make_list(emulator_api)
    assert emulator_api.post("/contacts", json={"contact": {"email": "ann@example.com"}}).status_code == 201
    assert emulator_api.post("/tags", json={"tag": {"tag": "t"}}).status_code == 201
    walked = 0
    for method, path, body in MISSING_IDS:
        response = _send(emulator_api, method, path, body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        answer = _json_object(response)
        # The reference's sentence, or (DELETE /contactTags/{id}) its errors[] envelope.
        assert str(answer.get("message", "")).lower().startswith("no result found") or answer.get("errors"), answer
        walked += 1
    for method, path, body, status in OTHER_REFUSALS:
        response = _send(emulator_api, method, path, body)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        answer = _json_object(response)
        if status == 404:
            assert answer["message"].startswith("No Result found for route /api/3/")
        if status in (405, 422):
            entry = answer["errors"][0]
            assert {"title", "source"} <= entry.keys(), entry
        walked += 1
    assert walked == len(MISSING_IDS) + len(OTHER_REFUSALS)


def test_405_names_the_allowed_methods(emulator_api: httpx.Client) -> None:
    response = emulator_api.patch("/webhooks/1", json={})
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET"}
    assert _json_object(response)["errors"][0]["source"] == {"method": "PATCH"}


def test_a_bad_key_still_answers_the_empty_403(emulator: Any) -> None:
    with httpx.Client(base_url=emulator.api_url, headers={"Api-Token": "wrong"}) as bad:
        for path in ("/nothing-here", "/contacts/99", "/"):
            response = bad.get(path)
            assert response.status_code == 403 and response.content == b""
            assert "content-type" not in response.headers


def test_admin_endpoints_keep_their_answers(emulator_admin: httpx.Client) -> None:
    response = emulator_admin.get("/no-such-admin-endpoint")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
