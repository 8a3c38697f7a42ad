"""Each option for a behaviour ActiveCampaign leaves undocumented, in both settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(time_scale=50, requests_per_second=10_000, bulk_per_minute=10_000)


def configure(admin: httpx.Client, **changes: Any) -> None:
    response = admin.post("/config", json=changes)
    assert response.status_code == 200, response.text


def new_list(api: httpx.Client, name: str, stringid: str | None = None) -> httpx.Response:
    body = {
        "name": name,
        "stringid": stringid or name.lower().replace(" ", "-"),
        "sender_url": "https://x.test",
        "sender_reminder": "You signed up.",
    }
    return api.post("/lists", json={"list": body})


@pytest.mark.parametrize("style", ["empty", "json"])
def test_forbidden_body(style: str, emulator: Any, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, forbidden_body=style)
    response = httpx.get(f"{emulator.api_url}/users/me", headers={"Api-Token": "wrong"})
    assert response.status_code == 403
    if style == "empty":
        assert response.content == b""
        assert "content-type" not in response.headers
    else:
        assert response.json() == {"message": "Forbidden"}
        assert response.headers["content-type"] == "application/json"
    # No key at all is the same as a wrong one.
    assert httpx.get(f"{emulator.api_url}/users/me").status_code == 403


@pytest.mark.parametrize("setting", ["clamp", "error"])
def test_limit_over_max(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, limit_over_max=setting)
    for n in range(105):
        emulator_admin.post("/groups", json={"title": f"g{n}"})
    response = emulator_api.get("/groups", params={"limit": 150})
    if setting == "clamp":
        assert response.status_code == 200
        assert len(response.json()["groups"]) == 100
        assert response.json()["meta"]["total"] == "106"
    else:
        assert response.status_code == 422
        assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/limit"
    # Defaults and offsets work either way.
    page = emulator_api.get("/groups", params={"offset": 100}).json()
    assert len(page["groups"]) == 6
    assert len(emulator_api.get("/groups").json()["groups"]) == 20


@pytest.mark.parametrize("setting", ["partial", "exact"])
def test_name_filter(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, name_filter=setting)
    for name in ("Newsletter", "Newsletter 2", "Old newsletter", "Other"):
        assert new_list(emulator_api, name).status_code == 200

    def names(params: dict[str, str]) -> list[str]:
        response = emulator_api.get("/lists", params=params)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["lists"]]

    plain = names({"filters[name]": "newsletter"})
    assert plain == (["Newsletter", "Newsletter 2", "Old newsletter"] if setting == "partial" else ["Newsletter"])
    # The operator forms do not depend on the option.
    assert names({"filters[name][eq]": "NEWSLETTER"}) == ["Newsletter"]
    assert names({"filters[name][neq]": "Newsletter"}) == ["Newsletter 2", "Old newsletter", "Other"]
    assert names({"filters[name][contains]": "letter"}) == ["Newsletter", "Newsletter 2", "Old newsletter"]
    assert names({"filters[name][starts_with]": "news"}) == ["Newsletter", "Newsletter 2"]
    assert names({"filters[name][ends_with]": "letter"}) == ["Newsletter", "Old newsletter"]
    assert names({"filters[name][contains]": "letter", "orders[name]": "DESC"}) == [
        "Old newsletter",
        "Newsletter 2",
        "Newsletter",
    ]
    assert emulator_api.get("/lists", params={"filters[name][like]": "x"}).status_code == 422
    # A filter the API does not know is ignored: everyone comes back.
    assert len(names({"filter[name]": "Other"})) == 4


@pytest.mark.parametrize("setting", ["allow", "error"])
def test_duplicate_list_names(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, duplicate_list_names=setting)
    assert new_list(emulator_api, "Audience").status_code == 200
    same_name = new_list(emulator_api, "audience", "audience-2")
    same_stringid = new_list(emulator_api, "Audience 2", "audience")
    if setting == "allow":
        assert same_name.status_code == same_stringid.status_code == 200
        assert same_name.json()["list"]["id"] == "2"
    else:
        assert same_name.status_code == same_stringid.status_code == 422
        assert same_name.json()["errors"][0]["code"] == "duplicate"
        assert same_stringid.json()["errors"][0]["source"]["pointer"] == "/data/attributes/stringid"


@pytest.mark.parametrize("stringid_required", [False, True])
def test_list_requires_its_fields(
    stringid_required: bool, emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    # The reference names four required fields; whether stringid really is one is the list_stringid_required option.
    configure(emulator_admin, list_stringid_required=stringid_required)
    response = emulator_api.post("/lists", json={"list": {"name": "Only a name"}})
    assert response.status_code == 422
    errors = response.json()["errors"]
    expected = ["/data/attributes/sender_url", "/data/attributes/sender_reminder"]
    assert [e["source"]["pointer"] for e in errors] == (
        ["/data/attributes/stringid", *expected] if stringid_required else expected
    )
    assert {e["code"] for e in errors} == {"field_missing"}


@pytest.mark.parametrize("setting", ["idempotent", "error"])
def test_duplicate_list_group(setting: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, duplicate_list_group=setting)
    new_list(emulator_api, "Audience")
    link = {"listGroup": {"listid": 1, "groupid": 3}}
    first = emulator_api.post("/listGroups", json=link)
    assert first.status_code == 201
    assert first.json()["listGroup"]["list"] == 1 and first.json()["listGroup"]["group"] == 3
    again = emulator_api.post("/listGroups", json=link)
    if setting == "idempotent":
        assert again.status_code == 201
        assert again.json()["listGroup"]["id"] == first.json()["listGroup"]["id"]
    else:
        assert again.status_code == 422
    assert emulator_admin.get("/state").json()["lists"][0]["group_ids"] == ["3"]


def test_list_group_with_missing_list_or_group(emulator_api: httpx.Client) -> None:
    new_list(emulator_api, "Audience")
    assert emulator_api.post("/listGroups", json={"listGroup": {"listid": 9, "groupid": 3}}).status_code == 404
    assert emulator_api.post("/listGroups", json={"listGroup": {"listid": 1, "groupid": 9}}).status_code == 404
    assert emulator_api.post("/listGroups", json={"listGroup": {"listid": 1}}).status_code == 422


@pytest.mark.parametrize("casing", ["Success", "success"])
def test_success_casing(casing: str, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, success_casing=casing)
    body = emulator_api.post("/import/bulk_import", json={"contacts": [{"email": "a@example.com"}] * 2}).json()
    other = "success" if casing == "Success" else "Success"
    assert body[casing] == 1
    assert other not in body


@pytest.mark.parametrize("status", [422, 400])
def test_invalid_email_status(status: int, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, invalid_email_status=status)
    for path in ("/contacts", "/contact/sync"):
        response = emulator_api.post(path, json={"contact": {"email": "not an email"}})
        assert response.status_code == status
        assert response.json()["errors"][0]["code"] == "email_invalid"
        assert response.json()["errors"][0]["title"] == "Contact Email Address is not valid."


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limit_status(status: int, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, rate_limit_status=status, requests_per_second=1, time_scale=1.0)
    assert emulator_api.get("/users/me").status_code == 200
    limited = emulator_api.get("/users/me")
    assert limited.status_code == status
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["RateLimit-Limit"] == "1"
    assert limited.headers["RateLimit-Remaining"] == "0"


def test_retry_after_is_fractional_when_time_is_scaled(
    emulator_api: httpx.Client, emulator_admin: httpx.Client
) -> None:
    configure(emulator_admin, requests_per_second=1, time_scale=2.0)
    responses = [emulator_api.get("/users/me") for _ in range(3)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, "3 requests within a 0.5 s window should meet the limit of 1"
    retry_after = limited[0].headers["Retry-After"]
    assert "." in retry_after and 0 < float(retry_after) <= 0.5


@pytest.mark.parametrize("accept", [False, True])
def test_accept_unicode_email(accept: bool, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, accept_unicode_email=accept)
    contacts = [{"email": "jörg@exämple.de"}, {"email": "plain@example.com"}]
    response = emulator_api.post("/import/bulk_import", json={"contacts": contacts})
    assert response.status_code == (200 if accept else 400)
    if not accept:
        assert [r["contact"] for r in response.json()["failureReasons"]] == [0]


@pytest.mark.parametrize("status", [200, 201])
def test_list_create_status(status: int, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, list_create_status=status)
    assert new_list(emulator_api, "Audience").status_code == status


@pytest.mark.parametrize("status", [404, 403])
def test_missing_object_status(status: int, emulator_api: httpx.Client, emulator_admin: httpx.Client) -> None:
    configure(emulator_admin, missing_object_status=status)
    for response in (
        emulator_api.get("/groups/42"),
        emulator_api.delete("/groups/42"),
        emulator_api.delete("/lists/42"),
    ):
        assert response.status_code == status
        assert response.json()["message"].startswith("No Result found for")
    # GET /lists/{id} answers 404 in the reference itself, whatever the option.
    assert emulator_api.get("/lists/42").status_code == 404


def test_config_endpoint_reads_validates_and_keeps_values_over_reset(emulator_admin: httpx.Client) -> None:
    assert emulator_admin.get("/config").json()["name_filter"] == "partial"
    assert emulator_admin.post("/config", json={"name_filter": "fuzzy"}).status_code == 400
    assert emulator_admin.post("/config", json={"no_such_option": 1}).status_code == 400
    assert emulator_admin.post("/config", json={"time_scale": 0}).status_code == 400
    # All or nothing: one bad field changes nothing.
    assert emulator_admin.post("/config", json={"name_filter": "exact", "rate_limit_status": 500}).status_code == 400
    assert emulator_admin.get("/config").json()["name_filter"] == "partial"
    configure(emulator_admin, name_filter="exact")
    emulator_admin.post("/reset")
    assert emulator_admin.get("/config").json()["name_filter"] == "exact"


def test_changing_the_configured_key_swaps_it(emulator: Any, emulator_admin: httpx.Client) -> None:
    old = emulator.api_key
    configure(emulator_admin, api_key="fresh-key")
    url = f"{emulator.api_url}/users/me"
    assert httpx.get(url, headers={"Api-Token": old}).status_code == 403
    assert httpx.get(url, headers={"Api-Token": "fresh-key"}).status_code == 200
