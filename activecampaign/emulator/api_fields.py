"""Endpoints for custom fields, their options and list relations, and contacts' field values."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import api_common as ac
from . import render
from .field_types import judge_one
from .guards import MESSAGE, requires
from .model import ALL_LISTS, FIELD_TYPES, Contact, CustomField, FieldValue, truthy
from .refusals import not_found
from .render_fields import ZERO_AUTHORS, field, field_option, field_rel, field_value, field_value_written
from .state import Account

FIELDS: ac.Kind[CustomField] = ac.Kind("Field", lambda account: account.fields)
FIELD_VALUES: ac.Kind[FieldValue] = ac.Kind("FieldValue", lambda account: account.field_values)
BULK_OPTIONS_FAILURE = "Bulk operation failed. Request must contain an array of fieldOption objects."


def _sideloads(account: Account, fields: list[CustomField], base: str) -> dict[str, Any]:
    """The options and relations of `fields`, which the field endpoints answer beside them."""
    return {
        "fieldOptions": [field_option(o, base) for f in fields for o in account.options_of(f)],
        "fieldRels": [field_rel(account.field_rels[i]) for f in fields for i in f.rel_ids],
    }


async def list_fields(request: Request) -> Response:
    account = ac.emulator(request).account
    fields = sorted(account.fields.values(), key=lambda f: (f.ordernum, f.id))
    perstag = request.query_params.get("filters[perstag]")
    if perstag is not None:
        fields = [f for f in fields if f.perstag.lower() == perstag.strip().lower()]
    page = ac.paginate(request, fields)
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok(
        {
            **_sideloads(account, page.items, base),
            "fields": [field(f, base) for f in page.items],
            "meta": {"total": page.total},
        }
    )


@ac.by_id(FIELDS)
async def get_field(request: Request, custom_field: CustomField) -> Response:
    base = ac.base_url(request)
    return ac.ok({**_sideloads(ac.emulator(request).account, [custom_field], base), "field": field(custom_field, base)})


@ac.by_id(FIELDS)
async def options_of_field(request: Request, custom_field: CustomField) -> Response:
    base = ac.base_url(request)
    options = ac.emulator(request).account.options_of(custom_field)
    return ac.ok({"fieldOptions": [field_option(o, base) for o in options]})


def perstag_of(text: str, from_title: bool) -> str:
    """A personalization tag as ActiveCampaign makes one: "Personalized Tag" -> PERSONALIZEDTAG as given,
    "Another Test Title" -> ANOTHER_TEST_TITLE when derived from a title (the reference's examples)."""
    if from_title:
        return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")
    return re.sub(r"[^A-Z0-9_]", "", text.upper())


def _duplicate_field(title: str, what: str) -> JSONResponse:
    detail = f"There is already a field named '{title}' -- choose another name"
    return ac.errors(
        422, [{"title": f"There is already a field with this {what}", "detail": detail, "code": "duplicate"}]
    )


@requires("pgContactFields", MESSAGE)
async def create_field(request: Request) -> Response:
    emu = ac.emulator(request)
    if isinstance(parsed := ac.wrapped_text(request, "field", "title", "Title is required"), Response):
        return parsed
    data, title = parsed
    field_type = data.get("type", "text")
    if field_type not in FIELD_TYPES:
        detail = f"type must be one of {', '.join(FIELD_TYPES)}"
        return ac.errors(422, [ac.field_error("Invalid field type", "invalid", "type", detail)])
    raw_tag = data.get("perstag")
    perstag = perstag_of(raw_tag, False) if isinstance(raw_tag, str) and raw_tag.strip() else perstag_of(title, True)
    # Titles and tags compare case-insensitively, as names do elsewhere in the account.
    existing = list(emu.account.fields.values())
    if any(f.title.lower() == title.strip().lower() for f in existing):
        return _duplicate_field(title, "title")
    if any(f.perstag == perstag for f in existing):
        return _duplicate_field(title, "personalization tag")
    descript, defval = data.get("descript"), data.get("defval")
    created = emu.account.create_field(
        title.strip(),
        field_type,
        perstag,
        descript=descript if isinstance(descript, str) else "",
        isrequired=_flag(data.get("isrequired"), False),
        defval="" if defval is None else str(defval),
        visible=_flag(data.get("visible"), True),
        ordernum=ac.int_or_none(data.get("ordernum")),
    )
    base = ac.base_url(request)
    if emu.config.field_create_shape == "fields":
        body = {**_sideloads(emu.account, [created], base), "fields": [field(created, base)], "meta": {"total": "1"}}
        return ac.ok(body, 201)
    return ac.ok({"field": field(created, base)}, 201)


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else truthy(value)


@requires("pgContactFields", MESSAGE)
async def bulk_field_options(request: Request) -> Response:
    account = ac.emulator(request).account
    payload = ac.body_json(request)
    entries = payload.get("fieldOptions") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or not entries or not all(_is_option(e) for e in entries):
        return ac.ok({"errors": BULK_OPTIONS_FAILURE}, 422)
    # All or nothing: every option's field must exist before any is added.
    for entry in entries:
        field_id = ac.int_or_none(entry["field"])
        if field_id not in account.fields:
            return ac.no_result("Field", entry["field"])
    created = [
        account.add_field_option(
            int(entry["field"]),
            ac.int_or_none(entry.get("orderid")) or index,
            str(entry["value"]),
            str(entry.get("label") if entry.get("label") is not None else entry["value"]),
            _flag(entry.get("isdefault"), False),
        )
        for index, entry in enumerate(entries, start=1)
    ]
    base = ac.base_url(request)
    return ac.ok({"fieldOptions": [field_option(o, base) for o in created]}, 201)


async def bulk_field_options_plural(request: Request) -> Response:
    """POST /fieldOptions/bulk, the vendor's MCP server's spelling; plural_field_options_path says whether it exists."""
    if ac.emulator(request).config.plural_field_options_path == "not_found":
        return not_found(request.url.path)
    return await bulk_field_options(request)


def _is_option(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("value") is not None and ac.int_or_none(entry.get("field")) is not None


@requires("pgContactFields", MESSAGE)
@ac.with_body_ids("fieldRel", ("field", "relid"), {"field": FIELDS})
async def create_field_rel(request: Request, data: dict[str, Any], field_id: int, relid: int) -> Response:
    account = ac.emulator(request).account
    # relid 0 relates the field to every list, so it is checked here rather than as a kind.
    if relid != ALL_LISTS and relid not in account.lists:
        return ac.no_result("List", relid)
    return ac.ok({"fieldRel": field_rel(account.relate_field(field_id, relid), written=True)}, 201)


async def list_field_values(request: Request) -> Response:
    account = ac.emulator(request).account
    params = request.query_params
    values = sorted(account.field_values.values(), key=lambda fv: fv.id)
    if "filters[fieldid]" in params:
        field_id = ac.int_or_none(params["filters[fieldid]"])
        if field_id is None:
            return ac.bad_request()
        values = [fv for fv in values if fv.field == str(field_id)]
    if "filters[val]" in params:
        values = [fv for fv in values if fv.value == params["filters[val]"]]
    page = ac.paginate(request, values)
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok({"fieldValues": [field_value(fv, base) for fv in page.items], "meta": {"total": page.total}})


@ac.by_id(FIELD_VALUES)
async def get_field_value(request: Request, fv: FieldValue) -> Response:
    return ac.ok({"fieldValue": field_value(fv, ac.base_url(request))})


def _write_value(request: Request, contact: Contact, custom_field: CustomField, raw: Any) -> Response:
    """Store one value after the checks every value goes through; answer as POST/PUT /fieldValues do."""
    emu = ac.emulator(request)
    verdict = judge_one(emu.account, emu.config, contact, custom_field, raw)
    if verdict.failure is not None:
        return ac.errors(422, [ac.field_error(verdict.failure, "field_invalid", "value")])
    if verdict.value is not None:
        emu.account.update_contact(contact, field_values={str(custom_field.id): verdict.value})
    base = ac.base_url(request)
    # A value the options say to drop leaves what the account held: the answer shows that (null if nothing).
    held = contact.field_values.get(str(custom_field.id))
    return ac.ok(
        {
            "contacts": [render.contact_echoed(contact, base, with_edate=True)],
            "fieldValue": None if held is None else field_value_written(held, base),
        }
    )


@requires("pgContactEdit", MESSAGE)
@ac.with_body_ids("fieldValue", ("contact", "field"), {"contact": ac.CONTACTS, "field": FIELDS})
async def create_field_value(request: Request, data: dict[str, Any], contact_id: int, field_id: int) -> Response:
    account = ac.emulator(request).account
    return _write_value(request, account.contacts[contact_id], account.fields[field_id], data.get("value"))


@requires("pgContactEdit", MESSAGE)
@ac.by_id(FIELD_VALUES)
async def update_field_value(request: Request, fv: FieldValue) -> Response:
    account = ac.emulator(request).account
    data = ac.wrapped(request, "fieldValue")
    if data is None or "value" not in data:
        return ac.bad_request()
    return _write_value(request, account.contacts[fv.contact_id], account.fields[int(fv.field)], data["value"])


delete_field_value = requires("pgContactEdit", MESSAGE)(
    ac.deleting(FIELD_VALUES, lambda account, fv: account.delete_field_value(fv.id))
)


@ac.by_id(ac.CONTACTS)
async def field_values_of_contact(request: Request, contact: Contact) -> Response:
    base = ac.base_url(request)
    return ac.ok({"fieldValues": [field_value(fv, base, ZERO_AUTHORS) for fv in contact.field_values.values()]})


ROUTES = [
    Route("/api/3/fields", list_fields, methods=["GET"]),
    Route("/api/3/fields", create_field, methods=["POST"]),
    Route("/api/3/fields/{id}", get_field, methods=["GET"]),
    Route("/api/3/fields/{id}/options", options_of_field, methods=["GET"]),
    Route("/api/3/fieldOption/bulk", bulk_field_options, methods=["POST"]),
    Route("/api/3/fieldOptions/bulk", bulk_field_options_plural, methods=["POST"]),
    Route("/api/3/fieldRels", create_field_rel, methods=["POST"]),
    Route("/api/3/fieldValues", list_field_values, methods=["GET"]),
    Route("/api/3/fieldValues", create_field_value, methods=["POST"]),
    Route("/api/3/fieldValues/{id}", get_field_value, methods=["GET"]),
    Route("/api/3/fieldValues/{id}", update_field_value, methods=["PUT"]),
    Route("/api/3/fieldValues/{id}", delete_field_value, methods=["DELETE"]),
    Route("/api/3/contacts/{id}/fieldValues", field_values_of_contact, methods=["GET"]),
]
