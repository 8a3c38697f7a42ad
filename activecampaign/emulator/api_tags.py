"""Endpoints for tags and contacts' tags. Tag names compare case-insensitively."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import api_common as ac
from .guards import requires
from .model import Contact, ContactTag, Tag
from .render_fields import contact_tag, contact_tag_listed, tag

CONTACT_TAGS: ac.Kind[ContactTag] = ac.Kind("SubscriberTag", lambda account: account.contact_tags)
TAGS: ac.Kind[Tag] = ac.Kind("Tag", lambda account: account.tags)
_SEARCH_FILTER = re.compile(r"filters\[search\](?:\[([^\]]*)\])?")
_OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "contains", "starts_with")


async def list_tags(request: Request) -> Response:
    tags = sorted(ac.emulator(request).account.tags.values(), key=lambda t: t.id)
    wanted = None
    order = None
    for key, value in request.query_params.multi_items():
        match = _SEARCH_FILTER.fullmatch(key)
        if key == "search" or match:
            # "search" and a filter without an operator mean "contains".
            operator = (match.group(1) if match else None) or "contains"
            if operator not in _OPERATORS:
                # The reference documents an empty 400 for this endpoint's bad requests.
                return ac.bad_request()
            tags = [t for t in tags if ac.OPERATORS[operator](t.tag.lower(), value.lower())]
            wanted = value.lower()
        elif key == "orders[search]":
            order = value.lower()
            if order not in ("weight", "asc", "desc"):
                return ac.bad_request()
    if order in ("asc", "desc"):
        tags.sort(key=lambda t: t.tag.lower(), reverse=order == "desc")
    elif order == "weight" and wanted is not None:
        # Exact matches first, then those starting with the search, then the rest.
        tags.sort(key=lambda t: (t.tag.lower() != wanted, not t.tag.lower().startswith(wanted)))
    page = ac.paginate(request, tags)
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok({"tags": [tag(t, base) for t in page.items], "meta": {"total": page.total}})


async def create_tag(request: Request) -> Response:
    emu = ac.emulator(request)
    if isinstance(parsed := ac.wrapped_text(request, "tag", "tag", "Tag name is required"), Response):
        return parsed
    data, name = parsed
    if emu.config.duplicate_tag_names == "error" and emu.account.find_tag(name) is not None:
        detail = f"A tag named '{name.strip()}' already exists"
        return ac.errors(422, [ac.field_error("Duplicate tag", "duplicate", "tag", detail)])
    tag_type, description = data.get("tagType"), data.get("description")
    created = emu.account.create_tag(
        name,
        tag_type if isinstance(tag_type, str) and tag_type else "contact",
        description if isinstance(description, str) else "",
    )
    return ac.ok({"tag": tag(created, ac.base_url(request), created=True)}, 201)


@ac.by_id(TAGS)
async def get_tag(request: Request, found: Tag) -> Response:
    return ac.ok({"tag": tag(found, ac.base_url(request))})


@ac.by_id(TAGS)
async def update_tag(request: Request, found: Tag) -> Response:
    emu = ac.emulator(request)
    data = ac.wrapped(request, "tag")
    if data is None:
        return ac.bad_request()
    name = data.get("tag")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            return ac.errors(422, [ac.field_error("Tag name is required", "field_missing", "tag")])
        clash = emu.account.find_tag(name)
        if emu.config.duplicate_tag_names == "error" and clash is not None and clash.id != found.id:
            detail = f"A tag named '{name.strip()}' already exists"
            return ac.errors(422, [ac.field_error("Duplicate tag", "duplicate", "tag", detail)])
    tag_type, description = data.get("tagType"), data.get("description")
    emu.account.update_tag(
        found,
        name,
        tag_type if isinstance(tag_type, str) and tag_type else None,
        description if isinstance(description, str) else None,
    )
    return ac.ok({"tag": tag(found, ac.base_url(request))})


delete_tag = ac.deleting(TAGS, lambda account, found: account.delete_tag(found.id))


async def list_contact_tags(request: Request) -> Response:
    account = ac.emulator(request).account
    page = ac.paginate(request, sorted(account.contact_tags.values(), key=lambda ct: ct.id))
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok({"contactTags": [contact_tag_listed(ct, base) for ct in page.items], "meta": {"total": page.total}})


def _not_found(what: str) -> JSONResponse:
    return ac.errors(404, [{"status": 404, "title": "Not Found", "detail": f"{what} not found"}])


@requires("pgContactEdit")
async def create_contact_tag(request: Request) -> Response:
    account = ac.emulator(request).account
    if not isinstance(ac.body_json(request), dict):
        return ac.bad_request()
    data: dict[str, Any] = ac.wrapped(request, "contactTag") or {}
    for attribute in ("contact", "tag"):
        if ac.int_or_none(data.get(attribute)) is None:
            pointer = {"pointer": f"/data/attributes/{attribute}"}
            return ac.errors(422, [{"status": 422, "title": "Missing attribute", "source": pointer}])
    contact_id, tag_id = int(data["contact"]), int(data["tag"])
    if contact_id not in account.contacts:
        return _not_found("Contact")
    if tag_id not in account.tags:
        return _not_found("Tag")
    # Tagging a contact again with the same tag answers the contactTag it already has.
    return ac.ok({"contactTag": contact_tag(account.tag_contact(contact_id, tag_id), ac.base_url(request))}, 201)


delete_contact_tag = requires("pgContactEdit")(ac.deleting(CONTACT_TAGS, lambda account, ct: account.untag(ct.id)))


@ac.by_id(ac.CONTACTS)
async def tags_of_contact(request: Request, contact: Contact) -> Response:
    base = ac.base_url(request)
    return ac.ok({"contactTags": [contact_tag(ct, base) for ct in ac.emulator(request).account.tags_of(contact.id)]})


ROUTES = [
    Route("/api/3/tags", list_tags, methods=["GET"]),
    Route("/api/3/tags", create_tag, methods=["POST"]),
    Route("/api/3/tags/{id}", get_tag, methods=["GET"]),
    Route("/api/3/tags/{id}", update_tag, methods=["PUT"]),
    Route("/api/3/tags/{id}", delete_tag, methods=["DELETE"]),
    Route("/api/3/contactTags", list_contact_tags, methods=["GET"]),
    Route("/api/3/contactTags", create_contact_tag, methods=["POST"]),
    Route("/api/3/contactTags/{id}", delete_contact_tag, methods=["DELETE"]),
    Route("/api/3/contacts/{id}/contactTags", tags_of_contact, methods=["GET"]),
]
