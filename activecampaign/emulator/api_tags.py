"""Endpoints for tags and contacts' tags. Tag names compare case-insensitively."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api_common import (
    CONTACTS,
    OPERATORS,
    Kind,
    bad_request,
    base_url,
    body_json,
    by_id,
    emulator,
    errors,
    field_error,
    int_or_none,
    ok,
    paginate,
    wrapped,
)
from .guards import requires
from .model import Contact, ContactTag
from .render_fields import contact_tag, tag

CONTACT_TAGS: Kind[ContactTag] = Kind("SubscriberTag", lambda account: account.contact_tags)
_SEARCH_FILTER = re.compile(r"filters\[search\](?:\[([^\]]*)\])?")
_OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "contains", "starts_with")


async def list_tags(request: Request) -> Response:
    tags = sorted(emulator(request).account.tags.values(), key=lambda t: t.id)
    wanted = None
    order = None
    for key, value in request.query_params.multi_items():
        match = _SEARCH_FILTER.fullmatch(key)
        if key == "search" or match:
            # "search" and a filter without an operator mean "contains".
            operator = (match.group(1) if match else None) or "contains"
            if operator not in _OPERATORS:
                # The reference documents an empty 400 for this endpoint's bad requests.
                return bad_request()
            tags = [t for t in tags if OPERATORS[operator](t.tag.lower(), value.lower())]
            wanted = value.lower()
        elif key == "orders[search]":
            order = value.lower()
            if order not in ("weight", "asc", "desc"):
                return bad_request()
    if order in ("asc", "desc"):
        tags.sort(key=lambda t: t.tag.lower(), reverse=order == "desc")
    elif order == "weight" and wanted is not None:
        # Exact matches first, then those starting with the search, then the rest.
        tags.sort(key=lambda t: (t.tag.lower() != wanted, not t.tag.lower().startswith(wanted)))
    page = paginate(request, tags)
    if isinstance(page, Response):
        return page
    base = base_url(request)
    return ok({"tags": [tag(t, base) for t in page.items], "meta": {"total": page.total}})


async def create_tag(request: Request) -> Response:
    emu = emulator(request)
    data = wrapped(request, "tag")
    if data is None:
        return bad_request()
    name = data.get("tag")
    if not isinstance(name, str) or not name.strip():
        return errors(422, [field_error("Tag name is required", "field_missing", "tag")])
    if emu.config.duplicate_tag_names == "error" and emu.account.find_tag(name) is not None:
        detail = f"A tag named '{name.strip()}' already exists"
        return errors(422, [field_error("Duplicate tag", "duplicate", "tag", detail)])
    tag_type, description = data.get("tagType"), data.get("description")
    created = emu.account.create_tag(
        name,
        tag_type if isinstance(tag_type, str) and tag_type else "contact",
        description if isinstance(description, str) else "",
    )
    return ok({"tag": tag(created, base_url(request), created=True)}, 201)


def _not_found(what: str) -> JSONResponse:
    return errors(404, [{"status": 404, "title": "Not Found", "detail": f"{what} not found"}])


@requires("pgContactEdit")
async def create_contact_tag(request: Request) -> Response:
    account = emulator(request).account
    if not isinstance(body_json(request), dict):
        return bad_request()
    data: dict[str, Any] = wrapped(request, "contactTag") or {}
    for attribute in ("contact", "tag"):
        if int_or_none(data.get(attribute)) is None:
            pointer = {"pointer": f"/data/attributes/{attribute}"}
            return errors(422, [{"status": 422, "title": "Missing attribute", "source": pointer}])
    contact_id, tag_id = int(data["contact"]), int(data["tag"])
    if contact_id not in account.contacts:
        return _not_found("Contact")
    if tag_id not in account.tags:
        return _not_found("Tag")
    # Tagging a contact again with the same tag answers the contactTag it already has.
    return ok({"contactTag": contact_tag(account.tag_contact(contact_id, tag_id), base_url(request))}, 201)


@requires("pgContactEdit")
@by_id(CONTACT_TAGS)
async def delete_contact_tag(request: Request, ct: ContactTag) -> Response:
    emulator(request).account.untag(ct.id)
    return ok({})


@by_id(CONTACTS)
async def tags_of_contact(request: Request, contact: Contact) -> Response:
    base = base_url(request)
    return ok({"contactTags": [contact_tag(ct, base) for ct in emulator(request).account.tags_of(contact.id)]})


ROUTES = [
    Route("/api/3/tags", list_tags, methods=["GET"]),
    Route("/api/3/tags", create_tag, methods=["POST"]),
    Route("/api/3/contactTags", create_contact_tag, methods=["POST"]),
    Route("/api/3/contactTags/{id}", delete_contact_tag, methods=["DELETE"]),
    Route("/api/3/contacts/{id}/contactTags", tags_of_contact, methods=["GET"]),
]
