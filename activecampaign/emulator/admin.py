"""The emulator's own control surface under /__emulator__ (loopback only, no API key, never rate limited
and never in the request log)."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api_common import emulator
from .config import ConfigError
from .faults import FaultError

PREFIX = "/__emulator__"
Handler = Callable[[Request], Awaitable[Response]]


class AdminError(ValueError):
    pass


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


async def reset(request: Request) -> Response:
    emulator(request).reset()
    return JSONResponse({"ok": True})


async def set_keys(request: Request) -> Response:
    keys = (await _object(request)).get("valid")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise AdminError('expected {"valid": ["key", ...]}')
    emulator(request).valid_keys = set(keys)
    return JSONResponse({"valid": keys})


async def get_keys(request: Request) -> Response:
    return JSONResponse({"valid": sorted(emulator(request).valid_keys)})


async def create_group(request: Request) -> Response:
    payload = await _object(request)
    title = payload.get("title")
    if not isinstance(title, str) or not title:
        raise AdminError('expected {"title": "..."}')
    descript = payload.get("descript")
    group = emulator(request).account.create_group(title, descript if isinstance(descript, str) else None)
    return JSONResponse({"id": str(group.id)})


async def seed_contacts(request: Request) -> Response:
    emu = emulator(request)
    entries = (await _object(request)).get("contacts")
    if not isinstance(entries, list):
        raise AdminError('expected {"contacts": [{"email": ..., "lists": {"<list id>": <status>}}]}')
    # Check everything first so that a bad entry seeds nothing.
    planned = [_seed_plan(emu.account.lists, entry) for entry in entries]
    ids = []
    for email, statuses, names in planned:
        contact = emu.account.find_contact(email) or emu.account.create_contact(email)
        emu.account.update_contact(contact, *names)
        for list_id, status in statuses.items():
            emu.account.set_status(contact.id, list_id, status)
        ids.append(str(contact.id))
    return JSONResponse({"ids": ids})


def _seed_plan(lists: dict[int, Any], entry: Any) -> tuple[str, dict[int, int], tuple[str | None, ...]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("email"), str) or not entry["email"].strip():
        raise AdminError("each contact needs an email")
    raw_lists = entry.get("lists") or {}
    if not isinstance(raw_lists, dict):
        raise AdminError('"lists" maps list ids to statuses')
    statuses = {}
    for raw_id, status in raw_lists.items():
        try:
            list_id = int(raw_id)
        except ValueError as exc:
            raise AdminError(f"not a list id: {raw_id!r}") from exc
        if list_id not in lists:
            raise AdminError(f"no list with id {list_id}")
        if isinstance(status, bool) or status not in (0, 1, 2, 3):
            raise AdminError(f"status must be 0, 1, 2 or 3, not {status!r}")
        statuses[list_id] = status
    names = tuple(entry.get(k) if isinstance(entry.get(k), str) else None for k in ("first_name", "last_name", "phone"))
    return entry["email"], statuses, names


async def set_exclusions(request: Request) -> Response:
    emails = (await _object(request)).get("emails")
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        raise AdminError('expected {"emails": ["...", ...]}')
    emulator(request).account.set_exclusions(emails)
    return JSONResponse({"emails": emails})


async def set_faults(request: Request) -> Response:
    emu = emulator(request)
    emu.faults.replace((await _object(request)).get("rules"))
    return JSONResponse({"rules": [rule.describe() for rule in emu.faults.rules]})


async def get_faults(request: Request) -> Response:
    return JSONResponse({"rules": [rule.describe() for rule in emulator(request).faults.rules]})


async def get_state(request: Request) -> Response:
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
        }
    )


async def get_requests(request: Request) -> Response:
    return JSONResponse([dict(entry) for entry in emulator(request).requests])


async def get_batches(request: Request) -> Response:
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


async def get_config(request: Request) -> Response:
    return JSONResponse(emulator(request).config.to_dict())


async def set_config(request: Request) -> Response:
    emu = emulator(request)
    changes = await _object(request)
    old_key = emu.config.api_key
    emu.config.update(changes)
    if emu.config.api_key != old_key:
        # The configured key is the account's key: the old one stops working, the new one works.
        emu.valid_keys.discard(old_key)
        emu.valid_keys.add(emu.config.api_key)
    return JSONResponse(emu.config.to_dict())


ROUTES = [
    Route(f"{PREFIX}/{path}", _loopback_only(handler), methods=[method])
    for method, path, handler in [
        ("POST", "reset", reset),
        ("POST", "keys", set_keys),
        ("GET", "keys", get_keys),
        ("POST", "groups", create_group),
        ("POST", "contacts", seed_contacts),
        ("POST", "exclusions", set_exclusions),
        ("POST", "faults", set_faults),
        ("GET", "faults", get_faults),
        ("GET", "state", get_state),
        ("GET", "requests", get_requests),
        ("GET", "batches", get_batches),
        ("GET", "config", get_config),
        ("POST", "config", set_config),
    ]
]
