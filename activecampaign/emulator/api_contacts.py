"""Endpoints for contacts and their list statuses."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api_common as ac
from . import render, render_account
from .core import Emulator
from .emails import is_valid_email
from .field_types import checked_values
from .guards import current_user, hidden_list, over_limit, refusal, requires
from .model import ACTIVE, UNSUBSCRIBED, Contact
from .render_fields import NULL_AUTHORS, field_value
from .rights import contact_limit_reached

ALL_STATUSES = -1
# Lower-case "result" and "contact" on DELETE, as the reference prints it.
CONTACTS_TO_DELETE: ac.Kind[Contact] = ac.Kind(
    "contact", lambda account: account.contacts, message="No result found for contact with id {id}"
)


async def list_contacts(request: Request) -> Response:
    emu = ac.emulator(request)
    params = request.query_params
    list_id = ac.int_or_none(params.get("listid")) if "listid" in params else None
    status = ac.int_or_none(params.get("status")) if "status" in params else ALL_STATUSES
    tag_id = ac.int_or_none(params.get("tagid")) if "tagid" in params else None
    bounds = {name: ac.int_or_none(params.get(name)) for name in ("id_greater", "id_less") if name in params}
    try:
        ids = _ids(params)
    except ValueError:
        return ac.bad_request()
    if ("listid" in params and list_id is None) or status is None or ("tagid" in params and tag_id is None):
        return ac.bad_request()
    if None in bounds.values():
        return ac.bad_request()
    direction = params.get("orders[id]", "ASC").upper()
    if direction not in ("ASC", "DESC"):
        detail = f'Invalid order direction: "{params["orders[id]"]}". Allowed values are: "ASC", "DESC"'
        return ac.errors(422, [ac.invalid_attribute(detail, "/data/attributes/orders[id]")])
    if emu.config.ignore_list_filter:
        list_id, status = None, ALL_STATUSES
    contacts = sorted(emu.account.contacts.values(), key=lambda c: c.id, reverse=direction == "DESC")
    # Unknown parameters are ignored, so a misspelt filter answers with everyone, as the real API does.
    if "email" in params:
        wanted = params["email"].strip().lower()
        contacts = [c for c in contacts if c.email.lower() == wanted]
    if "email_like" in params:
        part = params["email_like"].lower()
        contacts = [c for c in contacts if part in c.email.lower()]
    search = params.get("search")
    if search:
        contacts = [c for c in contacts if _matches(c, search.lower())]
    if ids is not None:
        contacts = [c for c in contacts if c.id in ids]
    if tag_id is not None:
        contacts = [c for c in contacts if any(ct.tag_id == tag_id for ct in emu.account.tags_of(c.id))]
    if list_id is not None or status != ALL_STATUSES:
        contacts = [c for c in contacts if _on_list(emu, c, list_id, status)]
    unbounded = len(contacts)
    if "id_greater" in bounds:
        contacts = [c for c in contacts if c.id > bounds["id_greater"]]  # type: ignore[operator]
    if "id_less" in bounds:
        contacts = [c for c in contacts if c.id < bounds["id_less"]]  # type: ignore[operator]
    total = unbounded if emu.config.keyset_total == "unbounded" else None
    page = ac.paginate(request, contacts, misbehaves=True, total=total)
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    # What the filters were as honoured: a dropped list filter shows as listid 0 / status -1.
    page_input = {
        "segmentid": 0,
        "formid": 0,
        "listid": list_id or 0,
        "tagid": tag_id or 0,
        "limit": page.limit,
        "offset": page.offset,
        "search": search or None,
        "sort": None,
        "seriesid": 0,
        "waitid": 0,
        "status": status,
        "forceQuery": 0,
        "cacheid": hashlib.md5(str(request.query_params).encode()).hexdigest(),
    }
    return ac.ok(
        {
            "scoreValues": [],
            "contacts": [render.contact(c, base) for c in page.items],
            "meta": {"total": page.total, "page_input": page_input},
        }
    )


def _ids(params: Any) -> set[int] | None:
    """`ids=1,2` or `ids[]=1&ids[]=2` as a set; None when absent; ValueError when one is not an id."""
    raw = [part for key in ("ids", "ids[]") for value in params.getlist(key) for part in value.split(",")]
    return {int(part.strip()) for part in raw} if raw else None


def _matches(contact: Contact, part: str) -> bool:
    fields = (contact.email, contact.first_name, contact.last_name, contact.phone)
    return any(part in value.lower() for value in fields)


def _on_list(emu: Emulator, contact: Contact, list_id: int | None, status: int) -> bool:
    if list_id is not None:
        # Memberships are keyed by (contact, list): a list filter must not scan them all for every contact.
        membership = emu.account.memberships.get((contact.id, list_id))
        return membership is not None and (status == ALL_STATUSES or membership.status == status)
    return any(m.status == status for m in emu.account.memberships_of(contact.id))


def _checked_fields(emu: Emulator, contact: Contact | None, data: dict[str, Any]) -> dict[str, str] | Response:
    """The contact's fieldValues as they will be stored (see field_types), or the 422 that refuses them."""
    raw = data.get("fieldValues")
    items = raw if isinstance(raw, list) else []
    given = [(item.get("field"), item.get("value")) for item in items if isinstance(item, dict)]
    lists = emu.account.list_ids_of(contact.id) if contact is not None else set()
    values, failure = checked_values(emu.account, emu.config, contact, given, lists)
    if failure is not None:
        return ac.errors(422, [ac.field_error(failure, "field_invalid", "fieldValues")])
    return values


def _new_contact_refusal(request: Request) -> Response | None:
    """Why this request's user may not add a contact (a right or the group's limitContact), or None."""
    refused = refusal(request, "pgContactAdd")
    if refused is not None:
        return refused
    emu = ac.emulator(request)
    limit = contact_limit_reached(emu.account, current_user(request))
    if limit is None:
        return None
    # One status for both endpoints that add contacts, chosen by contact_limit_status.
    detail = f"Your group has reached its limit of {limit} contacts."
    return over_limit(emu.config.contact_limit_status, detail, "email")


def _write(request: Request, contact: Contact | None, data: dict[str, Any]) -> Contact | Response:
    """Create (contact None) or update a contact from a contact object, after every check."""
    emu = ac.emulator(request)
    if contact is None:
        refused = _new_contact_refusal(request)
        if refused is not None:
            return refused
    values = _checked_fields(emu, contact, data)
    if isinstance(values, Response):
        return values
    if contact is None:
        contact = emu.account.create_contact(data["email"], current_user(request).id)

    def text(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    emu.account.update_contact(contact, text("firstName"), text("lastName"), text("phone"), values)
    return contact


def _contact_object(request: Request) -> dict[str, Any] | Response:
    """The contact object of POST /contacts and /contact/sync, once it has a valid email."""
    emu = ac.emulator(request)
    if isinstance(parsed := ac.wrapped_text(request, "contact", "email", "Email address is required"), Response):
        return parsed
    data = parsed[0]
    if not is_valid_email(data["email"].strip(), emu.config.accept_unicode_email):
        entry = ac.field_error("Contact Email Address is not valid.", "email_invalid", "email")
        return ac.errors(emu.config.invalid_email_status, [entry])
    return data


async def create_contact(request: Request) -> Response:
    emu = ac.emulator(request)
    data = _contact_object(request)
    if isinstance(data, Response):
        return data
    if emu.account.find_contact(data["email"]) is not None:
        entry = ac.field_error("Email address already exists in the system", "duplicate", "email")
        return ac.errors(422, [entry])
    contact = _write(request, None, data)
    if isinstance(contact, Response):
        return contact
    base = ac.base_url(request)
    return ac.ok(
        {
            "fieldValues": [field_value(fv, base) for fv in contact.field_values.values()],
            "contact": render.contact_created(contact, base),
        },
        201,
    )


async def sync_contact(request: Request) -> Response:
    emu = ac.emulator(request)
    data = _contact_object(request)
    if isinstance(data, Response):
        return data
    existing = emu.account.find_contact(data["email"])
    if existing is not None:
        refused = refusal(request, "pgContactEdit")
        if refused is not None:
            return refused
    # List membership is deliberately untouched: sync only upserts the contact itself.
    contact = _write(request, existing, data)
    if isinstance(contact, Response):
        return contact
    base = ac.base_url(request)
    return ac.ok(
        {
            "fieldValues": [field_value(fv, base, NULL_AUTHORS) for fv in contact.field_values.values()],
            "contact": render.contact_synced(contact, base),
        },
        201 if existing is None else 200,
    )


@requires("pgContactEdit")
async def set_contact_list(request: Request) -> Response:
    emu = ac.emulator(request)
    parsed = ac.wrapped_ids(request, "contactList", ("list", "contact", "status"))
    if isinstance(parsed, Response):
        return parsed
    data, (list_id, contact_id, status) = parsed
    if status not in (ACTIVE, UNSUBSCRIBED):
        entry = ac.field_error("Invalid status", "invalid", "status", "status must be 1 (subscribe) or 2 (unsubscribe)")
        return ac.errors(422, [entry])
    contact = emu.account.contacts.get(contact_id)
    if contact is None:
        return ac.no_result("Subscriber", contact_id)
    lst = emu.account.lists.get(list_id)
    if lst is None:
        return ac.no_result("List", list_id)
    hidden = hidden_list(request, lst)
    if hidden is not None:
        return hidden
    cfg = emu.config
    # Unlike bulk import, this endpoint does move 2 -> 1: it re-subscribes. Callers must decide that.
    membership = emu.account.set_status(
        contact_id,
        list_id,
        status,
        sourceid=ac.int_or_none(data.get("sourceid")),
        automations=cfg.automations == "on" and cfg.contact_list_automations == "run",
    )
    base = ac.base_url(request)
    return ac.ok(
        {
            "contacts": [render.contact_echoed(contact, base)],
            "contactList": render.contact_list(membership, contact, base, render.WRITTEN),
        }
    )


@requires("pgContactEdit")
@ac.by_id(ac.CONTACTS)
async def update_contact(request: Request, contact: Contact) -> Response:
    """PUT /contacts/{id}: email, firstName, lastName, phone and fieldValues, each only when given."""
    emu = ac.emulator(request)
    data = ac.wrapped(request, "contact")
    if data is None:
        return ac.bad_request()
    email = data.get("email")
    if email is not None:
        if not isinstance(email, str) or not is_valid_email(email.strip(), emu.config.accept_unicode_email):
            entry = ac.field_error("Contact Email Address is not valid.", "email_invalid", "email")
            return ac.errors(emu.config.invalid_email_status, [entry])
        owner = emu.account.find_contact(email)
        if owner is not None and owner.id != contact.id:
            entry = ac.field_error("Email address already exists in the system", "duplicate", "email")
            return ac.errors(422, [entry])
    # Field values are checked before anything is written, so a refused request changes nothing.
    written = _write(request, contact, data)
    if isinstance(written, Response):
        return written
    if email is not None and email.strip() != contact.email:
        emu.account.change_email(contact, email)
    base = ac.base_url(request)
    return ac.ok(
        {
            "fieldValues": [field_value(fv, base) for fv in contact.field_values.values()],
            "contact": render.contact_echoed(contact, base, with_edate=True),
        }
    )


async def list_contact_lists(request: Request) -> Response:
    """GET /contactLists: every membership, by id, paged like the other collections."""
    account = ac.emulator(request).account
    page = ac.paginate(request, sorted(account.memberships.values(), key=lambda m: m.id))
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    listed = [render.contact_list(m, account.contacts[m.contact_id], base) for m in page.items]
    return ac.ok({"contactLists": listed, "meta": {"total": page.total}})


@ac.by_id(ac.CONTACTS)
async def get_contact(request: Request, contact: Contact) -> Response:
    account = ac.emulator(request).account
    base = ac.base_url(request)
    memberships = account.memberships_of(contact.id)
    runs = account.automations_of(contact.id)
    return ac.ok(
        {
            "contactAutomations": [render_account.contact_automation(r, base, render_account.IN_DETAIL) for r in runs],
            "contactLists": [render.contact_list(m, contact, base, render.IN_DETAIL) for m in memberships],
            "deals": [],
            "fieldValues": [field_value(fv, base) for fv in contact.field_values.values()],
            "geoAddresses": [],
            "geoIps": [],
            "contact": render.contact_detail(contact, memberships, [r.id for r in runs], base),
        }
    )


@ac.by_id(ac.CONTACTS)
async def get_contact_lists(request: Request, contact: Contact) -> Response:
    base = ac.base_url(request)
    memberships = ac.emulator(request).account.memberships_of(contact.id)
    return ac.ok({"contactLists": [render.contact_list(m, contact, base) for m in memberships]})


delete_contact = requires("pgContactDelete")(
    ac.deleting(CONTACTS_TO_DELETE, lambda account, contact: account.delete_contact(contact.id))
)


ROUTES = [
    Route("/api/3/contacts", list_contacts, methods=["GET"]),
    Route("/api/3/contacts", create_contact, methods=["POST"]),
    Route("/api/3/contacts/{id}", get_contact, methods=["GET"]),
    Route("/api/3/contacts/{id}", update_contact, methods=["PUT"]),
    Route("/api/3/contacts/{id}", delete_contact, methods=["DELETE"]),
    Route("/api/3/contacts/{id}/contactLists", get_contact_lists, methods=["GET"]),
    Route("/api/3/contact/sync", sync_contact, methods=["POST"]),
    Route("/api/3/contactLists", list_contact_lists, methods=["GET"]),
    Route("/api/3/contactLists", set_contact_list, methods=["POST"]),
]
