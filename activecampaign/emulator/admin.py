"""The emulator's own control surface under /__emulator__.

Loopback only, no API key, never rate limited and never in the request log. Every endpoint is documented
at its handler, with its request and answer; bad requests answer 400 {"error": "..."}. In short:

    POST /reset            a fresh account (options other than faults keep their values)
    POST /keys, GET /keys  the accepted API keys
    POST /groups           a user group (title, optional pg* flags)
    POST /users            a user of a group, with its own API key
    POST /group-limits     a group's limitList / limitContact
    POST /contacts         seed contacts: list statuses (and when they changed), fields, tags
    GET  /contacts?email=  one contact as the account holds it
    POST /exclusions       the account's exclusion list
    POST /faults, GET /faults   fault rules (see faults.py)
    GET  /state            groups, lists with their members, counts
    GET  /requests         the request log since reset
    GET  /batches          every bulk import batch the account still knows
    GET  /config, POST /config  the options (see config.py)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api_common import emulator
from .config import ConfigError
from .faults import FaultError
from .model import timestamp
from .rights import flags_from
from .state import Account

PREFIX = "/__emulator__"
Handler = Callable[[Request], Awaitable[Response]]
ROUTES: list[Route] = []


class AdminError(ValueError):
    pass


def endpoint(method: str, path: str) -> Callable[[Handler], Handler]:
    """Register a handler as an admin endpoint (loopback only; AdminError and the like answer 400)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(f"{PREFIX}/{path}", _loopback_only(handler), methods=[method]))
        return handler

    return register


def _loopback_only(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        if not _is_loopback(request.client.host if request.client else None):
            return JSONResponse({"error": "admin endpoints answer loopback clients only"}, 403)
        try:
            return await handler(request)
        except (AdminError, ConfigError, FaultError) as exc:
            return JSONResponse({"error": str(exc)}, 400)

    return guarded


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # Not an address (e.g. an in-process test client): nothing came over the network.
        return True


async def _object(request: Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError as exc:
        raise AdminError("the body must be a JSON object") from exc
    if not isinstance(payload, dict):
        raise AdminError("the body must be a JSON object")
    return payload


def _id(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise AdminError(f"not a {what} id: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise AdminError(f"not a {what} id: {value!r}") from exc


@endpoint("POST", "reset")
async def reset(request: Request) -> Response:
    """A fresh account: user 1 "admin" in group 3 "Admin" with the configured key, no lists, contacts,
    fields or tags, one automation; faults, request log and batches cleared. Answers {"ok": true}."""
    emulator(request).reset()
    return JSONResponse({"ok": True})


@endpoint("POST", "keys")
async def set_keys(request: Request) -> Response:
    """{"valid": ["k1", ...]}: the keys accepted from now on (a key of a user made with POST /users is
    that user's; any other is user 1's). Answers {"valid": [...]}."""
    keys = (await _object(request)).get("valid")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise AdminError('expected {"valid": ["key", ...]}')
    emulator(request).valid_keys = set(keys)
    return JSONResponse({"valid": keys})


@endpoint("GET", "keys")
async def get_keys(request: Request) -> Response:
    """{"valid": [sorted keys]}."""
    return JSONResponse({"valid": sorted(emulator(request).valid_keys)})


@endpoint("POST", "groups")
async def create_group(request: Request) -> Response:
    """{"title": "...", "descript": "...", "pgListAdd": 1, ...}: a user group with the pg* flags given
    (none given: no rights at all). Answers {"id": "4"}."""
    payload = await _object(request)
    title = payload.get("title")
    if not isinstance(title, str) or not title:
        raise AdminError('expected {"title": "..."}')
    descript = payload.get("descript")
    account = emulator(request).account
    group = account.create_group(title, descript if isinstance(descript, str) else None, flags_from(payload))
    return JSONResponse({"id": str(group.id)})


@endpoint("POST", "users")
async def create_user(request: Request) -> Response:
    """{"username": "...", "group_id": N, "api_key": "...", "first_name", "last_name", "email" (optional)}:
    a user of group N whose key is accepted from now on. Answers {"id": "2"}."""
    emu = emulator(request)
    payload = await _object(request)
    username, key = payload.get("username"), payload.get("api_key")
    if not isinstance(username, str) or not username or not isinstance(key, str) or not key:
        raise AdminError('expected {"username": "...", "group_id": N, "api_key": "..."}')
    group_id = _id(payload.get("group_id"), "group")
    if group_id not in emu.account.groups:
        raise AdminError(f"no group with id {group_id}")
    if key in emu.account.key_users or key == emu.config.api_key:
        raise AdminError("that API key belongs to another user")
    names = [payload.get(k) if isinstance(payload.get(k), str) else "" for k in ("first_name", "last_name", "email")]
    user = emu.account.create_user(username, group_id, *names)
    emu.account.key_users[key] = user.id
    emu.valid_keys.add(key)
    return JSONResponse({"id": str(user.id)})


@endpoint("POST", "group-limits")
async def set_group_limits(request: Request) -> Response:
    """{"group_id": N, "limitList": n, "limitContact": n} (either limit may be left out; 0 = unlimited).
    Answers {"group_id": "N", "limitList": n, "limitContact": n}."""
    emu = emulator(request)
    payload = await _object(request)
    group = emu.account.groups.get(_id(payload.get("group_id"), "group"))
    if group is None:
        raise AdminError(f"no group with id {payload.get('group_id')}")
    limits = {}
    for name in ("limitList", "limitContact"):
        if name in payload:
            value = payload[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AdminError(f"{name} must be a non-negative integer")
            limits[name] = value
    group.limit_list = limits.get("limitList", group.limit_list)
    group.limit_contact = limits.get("limitContact", group.limit_contact)
    return JSONResponse({"group_id": str(group.id), "limitList": group.limit_list, "limitContact": group.limit_contact})


@endpoint("POST", "contacts")
async def seed_contacts(request: Request) -> Response:
    """{"contacts": [{"email": "...", "first_name", "last_name", "phone",
    "lists": {"<list id>": <status 0-3>}, "list_udate": "<ISO 8601>", "fields": {"<field id>": "<value>"},
    "tags": ["name", ...]}]}: contacts as given (existing ones are updated), all or nothing.

    "list_udate" is when their list statuses last changed (and, for status 1, when they subscribed), so a
    test can script a history; without it, now. Seeding starts no automation. Field values are stored as
    given, unchecked; tags are added (created when missing). Answers {"ids": ["1", ...]}.
    """
    emu = emulator(request)
    entries = (await _object(request)).get("contacts")
    if not isinstance(entries, list):
        raise AdminError('expected {"contacts": [{"email": ..., "lists": {"<list id>": <status>}}]}')
    # Check everything first so that a bad entry seeds nothing.
    planned = [_Seed(emu.account, entry) for entry in entries]
    ids = []
    for plan in planned:
        contact = emu.account.find_contact(plan.email) or emu.account.create_contact(plan.email)
        emu.account.update_contact(contact, *plan.names, field_values=plan.fields)
        for list_id, status in plan.statuses.items():
            emu.account.set_status(contact.id, list_id, status, udate=plan.udate)
        emu.account.add_tags(contact.id, plan.tags)
        ids.append(str(contact.id))
    return JSONResponse({"ids": ids})


class _Seed:
    """One checked entry of POST /contacts."""

    def __init__(self, account: Account, entry: Any) -> None:
        if not isinstance(entry, dict) or not isinstance(entry.get("email"), str) or not entry["email"].strip():
            raise AdminError("each contact needs an email")
        self.email: str = entry["email"]
        self.names = tuple(
            entry.get(k) if isinstance(entry.get(k), str) else None for k in ("first_name", "last_name", "phone")
        )
        self.statuses = _statuses(account, entry.get("lists") or {})
        self.udate = _stamp(entry["list_udate"]) if entry.get("list_udate") is not None else None
        raw_fields = entry.get("fields") or {}
        if not isinstance(raw_fields, dict):
            raise AdminError('"fields" maps field ids to values')
        for raw_id in raw_fields:
            if _id(raw_id, "field") not in account.fields:
                raise AdminError(f"no field with id {raw_id}")
        self.fields = {str(_id(k, "field")): None if v is None else str(v) for k, v in raw_fields.items()}
        tags = entry.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise AdminError('"tags" is a list of tag names')
        self.tags: list[str] = tags


def _statuses(account: Account, raw_lists: Any) -> dict[int, int]:
    if not isinstance(raw_lists, dict):
        raise AdminError('"lists" maps list ids to statuses')
    statuses = {}
    for raw_id, status in raw_lists.items():
        list_id = _id(raw_id, "list")
        if list_id not in account.lists:
            raise AdminError(f"no list with id {list_id}")
        if isinstance(status, bool) or status not in (0, 1, 2, 3):
            raise AdminError(f"status must be 0, 1, 2 or 3, not {status!r}")
        statuses[list_id] = status
    return statuses


def _stamp(value: Any) -> str:
    """An ISO 8601 moment in the API's timestamp style (a moment without an offset is the account's time)."""
    try:
        return timestamp(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError as exc:
        raise AdminError(f"not an ISO 8601 moment: {value!r}") from exc


@endpoint("GET", "contacts")
async def contact_view(request: Request) -> Response:
    """?email=E: {"email", "first_name", "last_name", "phone", "fields": {"<field id>": "<value>"},
    "tags": ["name", ...], "lists": {"<list id>": <status>}, "automation_runs": <runs it started>};
    404 {"error": ...} when no contact has that address."""
    emu = emulator(request)
    emu.process_due()
    email = request.query_params.get("email")
    if not email:
        raise AdminError("expected ?email=...")
    account = emu.account
    contact = account.find_contact(email)
    if contact is None:
        return JSONResponse({"error": f"no contact with email {email}"}, 404)
    return JSONResponse(
        {
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "phone": contact.phone,
            "fields": {fv.field: fv.value for fv in contact.field_values.values()},
            "tags": [account.tags[ct.tag_id].tag for ct in account.tags_of(contact.id)],
            "lists": {str(m.list_id): m.status for m in account.memberships_of(contact.id)},
            "automation_runs": len(account.automations_of(contact.id)),
        }
    )


@endpoint("POST", "exclusions")
async def set_exclusions(request: Request) -> Response:
    """{"emails": [...]}: the account's exclusion list (bulk import skips these, listing them as failures)."""
    emails = (await _object(request)).get("emails")
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        raise AdminError('expected {"emails": ["...", ...]}')
    emulator(request).account.set_exclusions(emails)
    return JSONResponse({"emails": emails})


@endpoint("POST", "faults")
async def set_faults(request: Request) -> Response:
    """{"rules": [...]} (see faults.py) replaces the rules; answers them with their matched/fired counts."""
    emu = emulator(request)
    emu.faults.replace((await _object(request)).get("rules"))
    return JSONResponse({"rules": [rule.describe() for rule in emu.faults.rules]})


@endpoint("GET", "faults")
async def get_faults(request: Request) -> Response:
    """{"rules": [{...the rule..., "matched": n, "fired": n}]}."""
    return JSONResponse({"rules": [rule.describe() for rule in emulator(request).faults.rules]})


@endpoint("GET", "state")
async def get_state(request: Request) -> Response:
    """{"groups": [{"id", "title"}], "lists": [{"id", "name", "stringid", "group_ids": [...],
    "members": {"<email>": <status>}}], "contacts": <count>, "automation_runs": <count>}; automation_runs
    counts every entry into a list that started the account's automations, since reset."""
    emu = emulator(request)
    emu.process_due()
    account = emu.account
    members: dict[int, dict[str, int]] = {list_id: {} for list_id in account.lists}
    for membership in sorted(account.memberships.values(), key=lambda m: m.id):
        members[membership.list_id][account.contacts[membership.contact_id].email] = membership.status
    return JSONResponse(
        {
            "groups": [
                {"id": str(g.id), "title": g.title} for g in sorted(account.groups.values(), key=lambda g: g.id)
            ],
            "lists": [
                {
                    "id": str(lst.id),
                    "name": lst.name,
                    "stringid": lst.stringid,
                    "group_ids": [str(g) for g in lst.group_ids],
                    "members": members[lst.id],
                }
                for lst in sorted(account.lists.values(), key=lambda x: x.id)
            ],
            "contacts": len(account.contacts),
            "automation_runs": account.automation_runs,
        }
    )


@endpoint("GET", "requests")
async def get_requests(request: Request) -> Response:
    """[{"t": <seconds since reset>, "method", "path", "query", "status" (0: connection dropped),
    "contacts": <count in a bulk import or null>}]."""
    return JSONResponse([dict(entry) for entry in emulator(request).requests])


@endpoint("GET", "batches")
async def get_batches(request: Request) -> Response:
    """[{"batchId", "status", "contacts", "success", "failure"}] for every batch not yet forgotten."""
    emu = emulator(request)
    now = emu.clock()
    emu.process_due(now)
    return JSONResponse(
        [
            {
                "batchId": b.id,
                "status": b.status(now),
                "contacts": b.size,
                "success": b.success,
                "failure": b.failure,
            }
            for b in emu.batches.values()
        ]
    )


@endpoint("GET", "config")
async def get_config(request: Request) -> Response:
    """Every option and its value."""
    return JSONResponse(emulator(request).config.to_dict())


@endpoint("POST", "config")
async def set_config(request: Request) -> Response:
    """{"<option>": value, ...}: changes options, all or nothing; answers every option."""
    emu = emulator(request)
    changes = await _object(request)
    old_key = emu.config.api_key
    emu.config.update(changes)
    if emu.config.api_key != old_key:
        # The configured key is the account's key: the old one stops working, the new one works.
        emu.valid_keys.discard(old_key)
        emu.valid_keys.add(emu.config.api_key)
    return JSONResponse(emu.config.to_dict())
