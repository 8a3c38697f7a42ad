"""Real ActiveCampaign clients' requests, replayed against the emulator: each must get a 2xx and find what it reads.

The shapes (method, path, query, body, the response keys the client reads) are copied from the clients' source,
cited per client below; the clients themselves are not installed. Each case runs on a fresh, seeded account.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig

Reads = dict[str, type | tuple[type, ...]]
OPTIONAL_TEXT = (str, type(None))


class Shape(NamedTuple):
    client: str
    method: str
    path: str
    params: dict[str, Any] | None
    body: dict[str, Any] | None
    # Dotted paths into the answer; "x[]" is a list whose every element the rest of the path applies to.
    reads: Reads


# The official MCP server of ActiveCampaign (package ac-mcp-server, "uvx ac-mcp-server"; its GitHub repository is
# archived, README "ActiveCampaign MCP Server - Archived"): module ac_mcp_server/ac_client.py (ACMCPHttpClient:
# the endpoints, methods and bodies, including the plural /fieldOptions/bulk) and ac_mcp_server/types.py
# (ListCreateParams without stringid, ListUpdateParams, ContactListUpdateParams, ListGroupPermissionParams).
MCP = "ac-mcp-server"
MCP_SHAPES = [
    Shape(MCP, "GET", "/api/3/contacts", {"limit": 20}, None, {"contacts[].id": str, "contacts[].email": str}),
    Shape(MCP, "GET", "/api/3/contacts/1", None, None, {"contact.id": str, "contact.email": str}),
    Shape(
        MCP,
        "POST",
        "/api/3/contact/sync",
        None,
        {"contact": {"email": "new@example.com", "firstName": "N"}},
        {"contact.id": str},
    ),
    Shape(MCP, "GET", "/api/3/tags", {"limit": 20}, None, {"tags[].id": str, "tags[].tag": str, "meta.total": str}),
    Shape(MCP, "GET", "/api/3/tags/1", None, None, {"tag.id": str, "tag.tag": str}),
    Shape(
        MCP, "POST", "/api/3/tags", None, {"tag": {"tag": "Webinar Attendee", "tagType": "contact"}}, {"tag.id": str}
    ),
    Shape(MCP, "POST", "/api/3/contactTags", None, {"contactTag": {"contact": 1, "tag": 1}}, {"contactTag.id": str}),
    Shape(MCP, "GET", "/api/3/fields", {"limit": 20}, None, {"fields[].id": str, "fields[].title": str}),
    Shape(MCP, "GET", "/api/3/fields/1", None, None, {"field.id": str}),
    # create_contact_custom_field reads field.id and relates the field to every list with it.
    Shape(MCP, "POST", "/api/3/fields", None, {"field": {"title": "Company Size", "type": "text"}}, {"field.id": str}),
    Shape(MCP, "POST", "/api/3/fieldRels", None, {"fieldRel": {"relid": 0, "field": 1}}, {"fieldRel.id": str}),
    Shape(
        MCP,
        "POST",
        "/api/3/fieldOptions/bulk",
        None,
        {"fieldOptions": [{"field": "1", "label": "Green", "value": "Green"}]},
        {"fieldOptions[].id": str},
    ),
    Shape(MCP, "GET", "/api/3/fieldValues", {"limit": 20}, None, {"fieldValues[].id": str}),
    Shape(MCP, "GET", "/api/3/fieldValues/1", None, None, {"fieldValue.id": str, "fieldValue.value": OPTIONAL_TEXT}),
    Shape(
        MCP,
        "POST",
        "/api/3/fieldValues",
        None,
        {"fieldValue": {"contact": 1, "field": 1, "value": "Blue"}},
        {"fieldValue.id": str},
    ),
    Shape(
        MCP,
        "PUT",
        "/api/3/fieldValues/1",
        None,
        {"fieldValue": {"contact": 1, "field": 1, "value": "Blue"}},
        {"fieldValue.id": str},
    ),
    Shape(MCP, "GET", "/api/3/campaigns", {"limit": 20}, None, {"campaigns": list}),
    Shape(MCP, "GET", "/api/3/automations", {"limit": 20}, None, {"automations[].id": str}),
    Shape(MCP, "GET", "/api/3/groups", {"limit": 20}, None, {"groups[].id": str, "groups[].title": str}),
    Shape(MCP, "GET", "/api/3/lists", {"limit": 20}, None, {"lists[].id": str, "lists[].name": str}),
    Shape(MCP, "GET", "/api/3/lists/1", None, None, {"list.id": str, "list.name": str}),
    Shape(
        MCP,
        "POST",
        "/api/3/lists",
        None,
        {
            "list": {
                "name": "Monthly Newsletter",
                "channel": "email",
                "sender_url": "https://x.test",
                "sender_reminder": "You signed up",
                "send_last_broadcast": 0,
                "carboncopy": "",
                "subscription_notify": "",
                "unsubscription_notify": "",
            }
        },
        {"list.id": str, "list.stringid": str},
    ),
    Shape(
        MCP,
        "PUT",
        "/api/3/lists/1",
        None,
        {
            "list": {
                "name": "Product Launch Updates",
                "send_last_broadcast": 0,
                "carboncopy": "",
                "subscription_notify": "",
                "unsubscription_notify": "",
            }
        },
        {"list.id": str, "list.name": str},
    ),
    Shape(MCP, "POST", "/api/3/listGroups", None, {"listGroup": {"listid": 1, "groupid": 3}}, {"listGroup.id": str}),
    Shape(
        MCP,
        "POST",
        "/api/3/contactLists",
        None,
        {"contactList": {"contact": 1, "list": 1, "status": 1}},
        {"contactList.id": str},
    ),
]

# GearPlug/activecampaign-python (the "activecampaign-python" package): activecampaign/contacts.py,
# activecampaign/tags.py, activecampaign/lists.py, activecampaign/webhooks.py and the bodies of its README.md.
GEARPLUG = "activecampaign-python"
WEBHOOK = {
    "webhook": {
        "name": "My Hook",
        "url": "http://example.com/my-hook",
        "events": ["subscribe", "unsubscribe", "sent"],
        "sources": ["public", "system"],
    }
}
GEARPLUG_SHAPES = [
    Shape(GEARPLUG, "GET", "/api/3/contacts", {"email": "ann@example.com"}, None, {"contacts[].email": str}),
    Shape(
        GEARPLUG,
        "PUT",
        "/api/3/contacts/1",
        None,
        {
            "contact": {
                "email": "ann@example.com",
                "firstName": "Ann",
                "lastName": "Doe",
                "fieldValues": [{"field": "1", "value": "Blue"}],
            }
        },
        {"contact.id": str, "contact.email": str, "fieldValues[].value": OPTIONAL_TEXT},
    ),
    Shape(GEARPLUG, "DELETE", "/api/3/contacts/1", None, None, {}),
    Shape(GEARPLUG, "GET", "/api/3/contacts/1/contactTags", None, None, {"contactTags[].tag": str}),
    Shape(
        GEARPLUG,
        "GET",
        "/api/3/fields/1/options",
        None,
        None,
        {"fieldOptions[].value": str, "fieldOptions[].label": str},
    ),
    Shape(
        GEARPLUG,
        "POST",
        "/api/3/fieldOption/bulk",
        None,
        {"fieldOptions": [{"field": "1", "label": "Green", "value": "Green"}]},
        {"fieldOptions[].id": str},
    ),
    Shape(GEARPLUG, "GET", "/api/3/tags/1", None, None, {"tag.tag": str}),
    Shape(
        GEARPLUG,
        "PUT",
        "/api/3/tags/1",
        None,
        {"tag": {"tag": "Renamed", "tagType": "contact", "description": "d"}},
        {"tag.tag": str},
    ),
    Shape(GEARPLUG, "DELETE", "/api/3/tags/1", None, None, {}),
    Shape(GEARPLUG, "GET", "/api/3/lists/1", None, None, {"list.stringid": str}),
    Shape(GEARPLUG, "DELETE", "/api/3/lists/1", None, None, {}),
    Shape(GEARPLUG, "POST", "/api/3/webhooks", None, WEBHOOK, {"webhook.id": str, "webhook.events": list}),
    Shape(GEARPLUG, "GET", "/api/3/webhooks", {"filters[name]": "Seeded hook"}, None, {"webhooks[].id": str}),
    Shape(GEARPLUG, "GET", "/api/3/webhooks/1", None, None, {"webhook.url": str}),
    Shape(GEARPLUG, "PUT", "/api/3/webhooks/1", None, WEBHOOK, {"webhook.name": str}),
    Shape(GEARPLUG, "DELETE", "/api/3/webhooks/1", None, None, {}),
    Shape(GEARPLUG, "GET", "/api/3/webhooks/events", None, None, {"webhookEvents": list}),
]

# singer-io/tap-activecampaign: tap_activecampaign/client.py (check_api_token: GET /api/3/users/me) and
# tap_activecampaign/streams.py (offset/limit=100 paging until meta.total; replication keys and their
# created_timestamp fall-backs; contacts' bookmark query filters[updated_after]).
TAP = "tap-activecampaign"
PAGE = {"offset": 0, "limit": 100}
TAP_SHAPES = [
    Shape(TAP, "GET", "/api/3/users/me", None, None, {"user.id": str}),
    Shape(
        TAP,
        "GET",
        "/api/3/contacts",
        {**PAGE, "filters[updated_after]": "2020-01-01T00:00:00Z"},
        None,
        {
            "contacts[].id": str,
            "contacts[].udate": str,
            "contacts[].created_timestamp": str,
            "contacts[].updated_timestamp": str,
            "meta.total": str,
        },
    ),
    Shape(
        TAP,
        "GET",
        "/api/3/contactLists",
        PAGE,
        None,
        {
            "contactLists[].id": str,
            "contactLists[].created_timestamp": OPTIONAL_TEXT,
            "contactLists[].updated_timestamp": str,
            "meta.total": str,
        },
    ),
    Shape(
        TAP,
        "GET",
        "/api/3/contactTags",
        PAGE,
        None,
        {
            "contactTags[].id": str,
            "contactTags[].created_timestamp": str,
            "contactTags[].updated_timestamp": str,
            "meta.total": str,
        },
    ),
    # Three streams read the one endpoint: fields, fieldOptions and fieldRels.
    Shape(
        TAP,
        "GET",
        "/api/3/fields",
        PAGE,
        None,
        {"fields[].id": str, "fieldOptions[].id": str, "fieldRels[].id": str, "meta.total": str},
    ),
    Shape(
        TAP,
        "GET",
        "/api/3/fieldValues",
        PAGE,
        None,
        {"fieldValues[].id": str, "fieldValues[].udate": str, "fieldValues[].cdate": str},
    ),
    Shape(TAP, "GET", "/api/3/lists", PAGE, None, {"lists[].id": str, "lists[].udate": str, "meta.total": str}),
    Shape(TAP, "GET", "/api/3/tags", PAGE, None, {"tags[].id": str}),
    Shape(TAP, "GET", "/api/3/groups", PAGE, None, {"groups[].id": str}),
    Shape(TAP, "GET", "/api/3/users", PAGE, None, {"users[].id": str}),
    Shape(TAP, "GET", "/api/3/webhooks", PAGE, None, {"webhooks[].id": str}),
    Shape(TAP, "GET", "/api/3/automations", PAGE, None, {"automations[].id": str, "automations[].mdate": str}),
    *(
        Shape(TAP, "GET", f"/api/3/{key}", PAGE, None, {key: list, "meta.total": str})
        for key in ("campaigns", "deals", "forms", "segments", "accounts")
    ),
]

# n8n-io/n8n: packages/nodes-base/credentials/ActiveCampaignApi.credentials.ts (the credential test),
# packages/nodes-base/nodes/ActiveCampaign/ActiveCampaign.node.ts (contact, contactList, contactTag, list, tag)
# and packages/nodes-base/nodes/ActiveCampaign/ActiveCampaignTrigger.node.ts (webhooks, /webhook/events).
N8N = "n8n"
N8N_SHAPES = [
    Shape(N8N, "GET", "/api/3/fields", None, None, {"fields": list}),
    Shape(
        N8N,
        "POST",
        "/api/3/contacts",
        None,
        {"contact": {"email": "n8n@example.com", "firstName": "N"}},
        {"contact.id": str},
    ),
    Shape(N8N, "PUT", "/api/3/contacts/1", None, {"contact": {"firstName": "Changed"}}, {"contact.id": str}),
    Shape(N8N, "GET", "/api/3/contacts", {"limit": 10}, None, {"contacts[].id": str}),
    Shape(
        N8N,
        "POST",
        "/api/3/contactLists",
        None,
        {"contactList": {"list": "1", "contact": "1", "status": 1}},
        {"contactList.id": str},
    ),
    Shape(
        N8N,
        "POST",
        "/api/3/contactLists",
        None,
        {"contactList": {"list": "1", "contact": "1", "status": 2}},
        {"contacts[].id": str},
    ),
    Shape(N8N, "GET", "/api/3/lists", {"limit": 10}, None, {"lists[].id": str}),
    Shape(N8N, "POST", "/api/3/tags", None, {"tag": {"tag": "n8n", "tagType": "contact"}}, {"tag.id": str}),
    Shape(N8N, "GET", "/api/3/tags/1", None, None, {"tag.id": str}),
    Shape(N8N, "PUT", "/api/3/tags/1", None, {"tag": {"tag": "n8n renamed"}}, {"tag.tag": str}),
    Shape(N8N, "DELETE", "/api/3/tags/1", None, None, {}),
    Shape(
        N8N, "POST", "/api/3/contactTags", None, {"contactTag": {"contact": "1", "tag": "1"}}, {"contactTag.id": str}
    ),
    Shape(N8N, "DELETE", "/api/3/contactTags/1", None, None, {}),
    Shape(N8N, "GET", "/api/3/webhook/events", None, None, {"webhookEvents": list}),
    Shape(
        N8N,
        "POST",
        "/api/3/webhooks",
        None,
        {
            "webhook": {
                "name": "n8n-webhook:https://n8n.test/webhook",
                "url": "https://n8n.test/webhook",
                "events": ["subscribe"],
                "sources": ["api"],
            }
        },
        {"webhook.id": str},
    ),
    Shape(N8N, "GET", "/api/3/webhooks/1", None, None, {"webhook.id": str}),
    Shape(N8N, "DELETE", "/api/3/webhooks/1", None, None, {}),
]

# airbytehq/airbyte: airbyte-integrations/connectors/source-activecampaign/manifest.yaml (check stream
# campaigns; every stream GET /<name> with limit 20 and offset paging, records at the top-level key; the
# contacts schema types email_empty as a boolean and created_timestamp as a string).
AIRBYTE = "source-activecampaign"
AIRBYTE_SHAPES = [
    Shape(AIRBYTE, "GET", "/api/3/campaigns", {"limit": 20}, None, {"campaigns": list}),
    Shape(
        AIRBYTE,
        "GET",
        "/api/3/contacts",
        {"limit": 20},
        None,
        {
            "contacts[].id": str,
            "contacts[].email_empty": bool,
            "contacts[].created_timestamp": str,
            "contacts[].updated_timestamp": str,
            "contacts[].cdate": str,
        },
    ),
    Shape(AIRBYTE, "GET", "/api/3/lists", {"limit": 20, "offset": 20}, None, {"lists": list}),
    Shape(AIRBYTE, "GET", "/api/3/lists", {"limit": 20}, None, {"lists[].id": str, "lists[].name": str}),
    *(
        Shape(AIRBYTE, "GET", f"/api/3/{key}", {"limit": 20}, None, {key: list})
        for key in ("deals", "segments", "forms", "accounts")
    ),
]

SHAPES = [*MCP_SHAPES, *GEARPLUG_SHAPES, *TAP_SHAPES, *N8N_SHAPES, *AIRBYTE_SHAPES]


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(requests_per_second=10_000)


@pytest.fixture
def account(emulator: Any) -> Iterator[httpx.Client]:
    """A client at the account's base URL (clients add /api/3 themselves), on an account holding list 1,
    contact 1 (on list 1, value 1 of dropdown field 1, tag 1) and webhook 1."""
    with httpx.Client(base_url=emulator.base_url, headers={"Api-Token": emulator.api_key}) as client:
        seed = [
            (
                "/api/3/lists",
                {
                    "list": {
                        "name": "Seeded",
                        "stringid": "seeded",
                        "sender_url": "https://x.test",
                        "sender_reminder": "r",
                    }
                },
            ),
            ("/api/3/fields", {"field": {"title": "Colour", "type": "dropdown"}}),
            (
                "/api/3/fieldOption/bulk",
                {"fieldOptions": [{"field": 1, "value": v, "label": v} for v in ("Red", "Blue")]},
            ),
            ("/api/3/fieldRels", {"fieldRel": {"field": 1, "relid": 0}}),
            (
                "/api/3/contacts",
                {"contact": {"email": "ann@example.com", "fieldValues": [{"field": "1", "value": "Red"}]}},
            ),
            ("/api/3/contactLists", {"contactList": {"list": 1, "contact": 1, "status": 1}}),
            ("/api/3/tags", {"tag": {"tag": "seeded"}}),
            ("/api/3/contactTags", {"contactTag": {"contact": 1, "tag": 1}}),
            (
                "/api/3/webhooks",
                {
                    "webhook": {
                        "name": "Seeded hook",
                        "url": "https://x.test/h",
                        "events": ["update"],
                        "sources": ["api"],
                    }
                },
            ),
        ]
        for path, body in seed:
            response = client.post(path, json=body)
            assert response.is_success, (path, response.text)
        yield client


def missing_or_mistyped(answer: Any, path: str, kind: type | tuple[type, ...]) -> list[str]:
    """Where `path` is absent from `answer` or holds something other than `kind`."""
    head, _, rest = path.partition(".")
    each = head.endswith("[]")
    key = head[:-2] if each else head
    if not isinstance(answer, dict) or key not in answer:
        return [f"{path}: missing"]
    value = answer[key]
    if each:
        if not isinstance(value, list) or not value:
            return [f"{key}: expected a non-empty list, got {value!r}"]
        if not rest:
            return []
        return [problem for item in value for problem in missing_or_mistyped(item, rest, kind)]
    if rest:
        return missing_or_mistyped(value, rest, kind)
    # type() checks: a bool must not pass for an int, nor an int for a string id.
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return [] if type(value) in kinds else [f"{path}: expected {kinds}, got {type(value).__name__}"]


def test_the_walker_catches_what_a_client_would_trip_on() -> None:
    answer = {"contacts": [{"id": "1", "n": 1}], "meta": {"total": "1"}, "empty": []}
    assert missing_or_mistyped(answer, "contacts[].id", str) == []
    assert missing_or_mistyped(answer, "meta.total", str) == []
    assert missing_or_mistyped(answer, "empty", list) == []
    assert missing_or_mistyped(answer, "contacts[].n", str) == ["n: expected (<class 'str'>,), got int"]
    assert missing_or_mistyped(answer, "contacts[].x", str) == ["x: missing"]
    assert missing_or_mistyped(answer, "empty[].id", str) == ["empty: expected a non-empty list, got []"]


def test_at_least_three_clients_are_replayed() -> None:
    assert len({shape.client for shape in SHAPES}) >= 3


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.client}:{s.method} {s.path}")
def test_client_request_is_answered_as_it_expects(shape: Shape, account: httpx.Client) -> None:
    response = account.request(shape.method, shape.path, params=shape.params, json=shape.body)
    assert response.is_success, (response.status_code, response.text)
    # Every one of these clients parses the body as JSON, even a DELETE's.
    answer = response.json()
    problems = [p for path, kind in shape.reads.items() for p in missing_or_mistyped(answer, path, kind)]
    assert problems == [], answer
