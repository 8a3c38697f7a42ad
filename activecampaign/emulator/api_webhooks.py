"""Webhooks: stored in memory, listed, changed and deleted as the API does; never called."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api_common as ac
from .model import Webhook

WEBHOOKS: ac.Kind[Webhook] = ac.Kind("Webhook", lambda account: account.webhooks)
# The events a webhook can name (GET /webhook/events); the emulator accepts any name, like it sends nothing.
EVENTS = (
    "bounce",
    "click",
    "contact_tag_added",
    "contact_tag_removed",
    "forward",
    "list_add",
    "open",
    "reply",
    "sent",
    "share",
    "subscribe",
    "subscriber_note",
    "unsubscribe",
    "update",
)
_FILTERS = ("name", "url", "listid")


def render(w: Webhook) -> dict[str, Any]:
    return {
        "cdate": w.cdate,
        "listid": w.listid,
        "name": w.name,
        "url": w.url,
        "events": list(w.events),
        "sources": list(w.sources),
        "links": [],
        "id": str(w.id),
    }


def _texts(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _checked(data: dict[str, Any], partial: bool) -> dict[str, Any] | Response:
    """The webhook's attributes from a request object, or the 422 naming what is wrong with them."""
    problems = []
    out: dict[str, Any] = {}
    for name in ("name", "url"):
        value = data.get(name)
        if value is None and partial:
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(ac.field_error(f"The {name} field is required", "field_missing", name))
        else:
            out[name] = value.strip()
    for name in ("events", "sources"):
        if name not in data and partial:
            continue
        texts = _texts(data.get(name))
        if texts is None:
            problems.append(ac.field_error(f"The {name} field must be a list of names", "field_invalid", name))
        else:
            out[name] = texts
    if "listid" in data or not partial:
        out["listid"] = str(ac.int_or_none(data.get("listid")) or 0)
    return ac.errors(422, problems) if problems else out


async def list_webhooks(request: Request) -> Response:
    hooks = sorted(ac.emulator(request).account.webhooks.values(), key=lambda w: w.id)
    for name in _FILTERS:
        wanted = request.query_params.get(f"filters[{name}]")
        if wanted is not None:
            hooks = [w for w in hooks if str(getattr(w, name)).lower() == wanted.lower()]
    page = ac.paginate(request, hooks)
    if isinstance(page, Response):
        return page
    return ac.ok({"webhooks": [render(w) for w in page.items], "meta": {"total": page.total}})


async def create_webhook(request: Request) -> Response:
    data = ac.wrapped(request, "webhook")
    if data is None:
        return ac.bad_request()
    checked = _checked(data, partial=False)
    if isinstance(checked, Response):
        return checked
    created = ac.emulator(request).account.create_webhook(
        checked["name"], checked["url"], checked["events"], checked["sources"], checked["listid"]
    )
    return ac.ok({"webhook": render(created)}, 201)


@ac.by_id(WEBHOOKS)
async def get_webhook(request: Request, webhook: Webhook) -> Response:
    return ac.ok({"webhook": render(webhook)})


@ac.by_id(WEBHOOKS)
async def update_webhook(request: Request, webhook: Webhook) -> Response:
    data = ac.wrapped(request, "webhook")
    if data is None:
        return ac.bad_request()
    checked = _checked(data, partial=True)
    if isinstance(checked, Response):
        return checked
    for key, value in checked.items():
        setattr(webhook, key, value)
    return ac.ok({"webhook": render(webhook)})


delete_webhook = ac.deleting(WEBHOOKS, lambda account, w: account.webhooks.pop(w.id))


async def list_events(request: Request) -> Response:
    page = ac.paginate(request, list(EVENTS))
    if isinstance(page, Response):
        return page
    return ac.ok({"webhookEvents": page.items, "meta": {"total": page.total}})


ROUTES = [
    Route("/api/3/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/3/webhooks", create_webhook, methods=["POST"]),
    # n8n asks the singular path; the GearPlug client the plural one.
    Route("/api/3/webhook/events", list_events, methods=["GET"]),
    Route("/api/3/webhooks/events", list_events, methods=["GET"]),
    Route("/api/3/webhooks/{id}", get_webhook, methods=["GET"]),
    Route("/api/3/webhooks/{id}", update_webhook, methods=["PUT"]),
    Route("/api/3/webhooks/{id}", delete_webhook, methods=["DELETE"]),
]
