"""Endpoints for contacts and their list statuses."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import render
from .api_common import (
    bad_request,
    base_url,
    emulator,
    errors,
    field_error,
    int_or_none,
    no_result,
    ok,
    paginate,
    wrapped,
)
from .core import Emulator
from .emails import is_valid_email
from .state import ACTIVE, UNSUBSCRIBED, Contact

ALL_STATUSES = -1


async def list_contacts(request: Request) -> Response:
    emu = emulator(request)
    params = request.query_params
    list_id = int_or_none(params.get("listid")) if "listid" in params else None
    status = int_or_none(params.get("status")) if "status" in params else ALL_STATUSES
    if ("listid" in params and list_id is None) or status is None:
        return bad_request()
    contacts = sorted(emu.account.contacts.values(), key=lambda c: c.id)
    # Unknown parameters are ignored, so a misspelt filter answers with everyone, as the real API does.
    if "email" in params:
        wanted = params["email"].strip().lower()
        contacts = [c for c in contacts if c.email.lower() == wanted]
    if "email_like" in params:
        part = params["email_like"].lower()
        contacts = [c for c in contacts if part in c.email.lower()]
    if list_id is not None or status != ALL_STATUSES:
        contacts = [c for c in contacts if _on_list(emu, c, list_id, status)]
    page = paginate(request, contacts)
    if isinstance(page, Response):
        return page
    items, total = page
    base = base_url(request)
    limit = int_or_none(params.get("limit")) or 20
    page_input = {
        "segmentid": 0,
        "formid": 0,
        "listid": list_id or 0,
        "tagid": 0,
        "limit": min(limit, 100),
        "offset": max(int_or_none(params.get("offset")) or 0, 0),
        "search": None,
        "sort": None,
        "seriesid": 0,
        "waitid": 0,
        "status": status,
        "forceQuery": 0,
        "cacheid": hashlib.md5(str(request.query_params).encode()).hexdigest(),
    }
    return ok(
        {
            "scoreValues": [],
            "contacts": [render.contact(c, base) for c in items],
            "meta": {"total": total, "page_input": page_input},
        }
    )


def _on_list(emu: Emulator, contact: Contact, list_id: int | None, status: int) -> bool:
    if list_id is not None:
        # Memberships are keyed by (contact, list): a list filter must not scan them all for every contact.
        membership = emu.account.memberships.get((contact.id, list_id))
        return membership is not None and (status == ALL_STATUSES or membership.status == status)
    for membership in emu.account.memberships_of(contact.id):
        if list_id is not None and membership.list_id != list_id:
            continue
        if status == ALL_STATUSES or membership.status == status:
            return True
    return False


def _email_problem(emu: Emulator, email: Any) -> Response | None:
    if not isinstance(email, str) or not email.strip():
        return errors(422, [field_error("Email address is required", "field_missing", "email")])
    if not is_valid_email(email.strip(), emu.config.accept_unicode_email):
        entry = field_error("Contact Email Address is not valid.", "email_invalid", "email")
        return errors(emu.config.invalid_email_status, [entry])
    return None


def _field_values(data: dict[str, Any]) -> dict[str, str | None]:
    raw = data.get("fieldValues")
    values: dict[str, str | None] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and item.get("field") is not None:
            value = item.get("value")
            values[str(item["field"])] = None if value is None else str(value)
    return values


def _update(emu: Emulator, contact: Contact, data: dict[str, Any]) -> None:
    def text(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    emu.account.update_contact(contact, text("firstName"), text("lastName"), text("phone"), _field_values(data))


async def create_contact(request: Request) -> Response:
    emu = emulator(request)
    data = wrapped(request, "contact")
    if data is None:
        return bad_request()
    problem = _email_problem(emu, data.get("email"))
    if problem is not None:
        return problem
    if emu.account.find_contact(data["email"]) is not None:
        entry = field_error("Email address already exists in the system", "duplicate", "email")
        return errors(422, [entry])
    contact = emu.account.create_contact(data["email"])
    _update(emu, contact, data)
    base = base_url(request)
    return ok(
        {
            "fieldValues": [render.field_value(fv, contact, base) for fv in contact.field_values.values()],
            "contact": render.contact_created(contact, base),
        },
        201,
    )


async def sync_contact(request: Request) -> Response:
    emu = emulator(request)
    data = wrapped(request, "contact")
    if data is None:
        return bad_request()
    problem = _email_problem(emu, data.get("email"))
    if problem is not None:
        return problem
    contact = emu.account.find_contact(data["email"])
    created = contact is None
    if contact is None:
        contact = emu.account.create_contact(data["email"])
    # List membership is deliberately untouched: sync only upserts the contact itself.
    _update(emu, contact, data)
    base = base_url(request)
    return ok(
        {
            "fieldValues": [
                render.field_value(fv, contact, base, with_authors=True) for fv in contact.field_values.values()
            ],
            "contact": render.contact_synced(contact, base),
        },
        201 if created else 200,
    )


async def set_contact_list(request: Request) -> Response:
    emu = emulator(request)
    data = wrapped(request, "contactList")
    if data is None:
        return bad_request()
    problems = [
        field_error(f"The {f} field is required", "field_missing", f)
        for f in ("list", "contact", "status")
        if int_or_none(data.get(f)) is None
    ]
    if problems:
        return errors(422, problems)
    list_id, contact_id, status = int(data["list"]), int(data["contact"]), int(data["status"])
    if status not in (ACTIVE, UNSUBSCRIBED):
        entry = field_error("Invalid status", "invalid", "status", "status must be 1 (subscribe) or 2 (unsubscribe)")
        return errors(422, [entry])
    contact = emu.account.contacts.get(contact_id)
    if contact is None:
        return no_result("Subscriber", contact_id)
    if list_id not in emu.account.lists:
        return no_result("List", list_id)
    # Unlike bulk import, this endpoint does move 2 -> 1: it re-subscribes. Callers must decide that.
    membership = emu.account.set_status(contact_id, list_id, status)
    base = base_url(request)
    return ok(
        {
            "contacts": [render.contact_in_contact_list(contact, base)],
            "contactList": render.contact_list_written(membership, contact, base),
        }
    )


async def get_contact(request: Request) -> Response:
    emu = emulator(request)
    contact_id = request.path_params["id"]
    contact = emu.account.contacts.get(contact_id)
    if contact is None:
        return no_result("Subscriber", contact_id)
    base = base_url(request)
    memberships = emu.account.memberships_of(contact_id)
    return ok(
        {
            "contactAutomations": [],
            "contactLists": [render.contact_list_in_detail(m, contact, base) for m in memberships],
            "deals": [],
            "fieldValues": [render.field_value(fv, contact, base) for fv in contact.field_values.values()],
            "geoAddresses": [],
            "geoIps": [],
            "contact": render.contact_detail(contact, memberships, base),
        }
    )


async def get_contact_lists(request: Request) -> Response:
    emu = emulator(request)
    contact_id = request.path_params["id"]
    contact = emu.account.contacts.get(contact_id)
    if contact is None:
        return no_result("Subscriber", contact_id)
    base = base_url(request)
    memberships = emu.account.memberships_of(contact_id)
    return ok({"contactLists": [render.contact_list(m, contact, base) for m in memberships]})


async def delete_contact(request: Request) -> Response:
    emu = emulator(request)
    contact_id = request.path_params["id"]
    if contact_id not in emu.account.contacts:
        # Lower-case "result" and "contact" here, as the reference prints it.
        return ok({"message": f"No result found for contact with id {contact_id}"}, 404)
    emu.account.delete_contact(contact_id)
    return ok({})


ROUTES = [
    Route("/api/3/contacts", list_contacts, methods=["GET"]),
    Route("/api/3/contacts", create_contact, methods=["POST"]),
    Route("/api/3/contacts/{id:int}", get_contact, methods=["GET"]),
    Route("/api/3/contacts/{id:int}", delete_contact, methods=["DELETE"]),
    Route("/api/3/contacts/{id:int}/contactLists", get_contact_lists, methods=["GET"]),
    Route("/api/3/contact/sync", sync_contact, methods=["POST"]),
    Route("/api/3/contactLists", set_contact_list, methods=["POST"]),
]
