"""Endpoints for lists, list-to-group links and the exclusion list."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api_common as ac
from . import render
from .guards import MESSAGE, current_user, hidden_list, over_limit, requires, visible_lists
from .model import AcList
from .rights import ADMIN_ONLY, has_right, list_limit_reached

_NAME_FILTER = re.compile(r"filters\[name\](?:\[([^\]]*)\])?")
_OPERATORS = ("eq", "neq", "contains", "starts_with", "ends_with")
REQUIRED_LIST_FIELDS = ("name", "stringid", "sender_url", "sender_reminder")
# "_List", as the reference prints it; GET answers 404 in the reference itself, DELETE follows the option.
LISTS: ac.Kind[AcList] = ac.Kind("_List", lambda account: account.lists)
LISTS_TO_DELETE: ac.Kind[AcList] = ac.Kind("_List", lambda account: account.lists, configurable=True)


async def list_lists(request: Request) -> Response:
    emu = ac.emulator(request)
    matchers = []
    direction = None
    for key, value in request.query_params.multi_items():
        match = _NAME_FILTER.fullmatch(key)
        if match:
            operator = match.group(1)
            if operator is None:
                operator = "contains" if emu.config.name_filter == "partial" else "eq"
            if operator not in _OPERATORS:
                detail = f'Invalid filter operator: "{operator}". Allowed operators are: {", ".join(_OPERATORS)}'
                return ac.errors(422, [ac.invalid_attribute(detail, f"/data/attributes/{key}")])
            matchers.append((ac.OPERATORS[operator], value.lower()))
        elif key == "orders[name]":
            direction = value.upper()
            if direction not in ("ASC", "DESC"):
                detail = f'Invalid order direction: "{value}". Allowed values are: "ASC", "DESC"'
                return ac.errors(422, [ac.invalid_attribute(detail, "/data/attributes/orders[name]")])
    # Names compare case-insensitively, as in the MySQL collation behind the real API.
    lists = [lst for lst in visible_lists(request) if all(test(lst.name.lower(), x) for test, x in matchers)]
    if direction is not None:
        lists.sort(key=lambda x: x.name.lower(), reverse=direction == "DESC")
    page = ac.paginate(request, lists, misbehaves=True)
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok({"lists": [render.ac_list(lst, base) for lst in page.items], "meta": {"total": page.total}})


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


@requires("pgListAdd")
async def create_list(request: Request) -> Response:
    emu = ac.emulator(request)
    data = ac.wrapped(request, "list")
    if data is None:
        return ac.bad_request()
    # Without list_stringid_required a missing stringid is derived from the name below.
    required = [f for f in REQUIRED_LIST_FIELDS if f != "stringid" or emu.config.list_stringid_required]
    missing = [f for f in required if _text(data, f) is None]
    if missing:
        return ac.errors(422, [ac.field_error(f"The {f} field is required", "field_missing", f) for f in missing])
    name = data["name"]
    stringid = data["stringid"] if _text(data, "stringid") is not None else emu.account.stringid_for(name)
    if emu.config.duplicate_list_names == "error":
        clash = _duplicate(emu.account.lists.values(), name, stringid)
        if clash is not None:
            title = f"A list with this {clash} already exists"
            return ac.errors(422, [ac.field_error(title, "duplicate", clash)])
    user = current_user(request)
    limit = list_limit_reached(emu.account, user)
    if limit is not None:
        return over_limit(emu.config.list_limit_status, f"Your group has reached its limit of {limit} lists.", "name")
    lst = emu.account.create_list(name, stringid, data["sender_url"], data["sender_reminder"], creator_id=user.id)
    if emu.config.non_admin_list_link == "own_group" and not has_right(emu.account, user, ADMIN_ONLY):
        emu.account.link_list_group(lst.id, user.group_id)
    return ac.ok({"list": render.list_created(lst, ac.base_url(request))}, emu.config.list_create_status)


def _duplicate(lists: Iterable[AcList], name: str, stringid: str, itself: int | None = None) -> str | None:
    for lst in lists:
        if lst.id == itself:
            continue
        if lst.name.lower() == name.lower():
            return "name"
        if lst.stringid.lower() == stringid.lower():
            return "stringid"
    return None


@ac.by_id(LISTS)
async def get_list(request: Request, lst: AcList) -> Response:
    return hidden_list(request, lst) or ac.ok({"list": render.ac_list(lst, ac.base_url(request))})


@requires("pgListEdit")
@ac.by_id(LISTS)
async def update_list(request: Request, lst: AcList) -> Response:
    """PUT /lists/{id}: the attributes the emulator keeps (name, stringid, sender_url, sender_reminder) change;
    others (carboncopy, send_last_broadcast, ...) are accepted and not kept."""
    hidden = hidden_list(request, lst)
    if hidden is not None:
        return hidden
    emu = ac.emulator(request)
    data = ac.wrapped(request, "list")
    if data is None:
        return ac.bad_request()
    blank = [f for f in REQUIRED_LIST_FIELDS if f in data and data[f] is not None and _text(data, f) is None]
    if blank:
        return ac.errors(422, [ac.field_error(f"The {f} field is required", "field_missing", f) for f in blank])
    changes = {f: data[f] for f in REQUIRED_LIST_FIELDS if _text(data, f) is not None}
    if emu.config.duplicate_list_names == "error":
        clash = _duplicate(
            emu.account.lists.values(), changes.get("name", lst.name), changes.get("stringid", lst.stringid), lst.id
        )
        if clash is not None:
            title = f"A list with this {clash} already exists"
            return ac.errors(422, [ac.field_error(title, "duplicate", clash)])
    emu.account.update_list(lst, changes)
    return ac.ok({"list": render.ac_list(lst, ac.base_url(request))})


@requires("pgListDelete")
@ac.by_id(LISTS_TO_DELETE)
async def delete_list(request: Request, lst: AcList) -> Response:
    hidden = hidden_list(request, lst)
    if hidden is not None:
        return hidden
    ac.emulator(request).account.delete_list(lst.id)
    return ac.ok({})


# Which group a non-admin may link a list to is not documented: any group, given pgListEdit.
@requires("pgListEdit", MESSAGE)
@ac.with_body_ids("listGroup", ("listid", "groupid"), {"listid": ac.LIST_IN_BODY, "groupid": ac.GROUP_IN_BODY})
async def create_list_group(request: Request, data: dict[str, Any], list_id: int, group_id: int) -> Response:
    emu = ac.emulator(request)
    link, created = emu.account.link_list_group(list_id, group_id)
    if not created and emu.config.duplicate_list_group == "error":
        title = "This list is already associated with this group"
        return ac.errors(422, [ac.field_error(title, "duplicate", "listid")])
    return ac.ok({"listGroup": render.list_group(link, ac.base_url(request))}, 201)


async def list_exclusions(request: Request) -> Response:
    emu = ac.emulator(request)
    entries = [render.exclusion(i, email) for i, email in enumerate(emu.account.exclusions, start=1)]
    problems = []
    for key, value in request.query_params.multi_items():
        if key == "filters[matchPhrase]":
            entries = [e for e in entries if value.lower() in e["matchPhrase"].lower()]
        elif key == "orders[matchPhrase]":
            if value.upper() not in ("ASC", "DESC"):
                detail = f'Invalid order direction: "{value}". Allowed values are: "ASC", "DESC"'
                problems.append(ac.invalid_attribute(detail, f"/data/attributes/{key}"))
            else:
                entries.sort(key=lambda e: e["matchPhrase"].lower(), reverse=value.upper() == "DESC")
        elif key.startswith("filters[") and key not in ("filters[lists]",):
            detail = f'Invalid filter field: "{key[8:-1]}". Allowed fields are: matchPhrase, lists'
            problems.append(ac.invalid_attribute(detail, f"/data/attributes/{key}"))
    if problems:
        return ac.errors(422, problems)
    page = ac.paginate(request, entries)
    if isinstance(page, Response):
        return page
    # meta.total is a number on this endpoint, unlike the others.
    return ac.ok({"exclusions": page.items, "meta": {"total": int(page.total)}})


ROUTES = [
    Route("/api/3/lists", list_lists, methods=["GET"]),
    Route("/api/3/lists", create_list, methods=["POST"]),
    Route("/api/3/lists/exclusions", list_exclusions, methods=["GET"]),
    Route("/api/3/lists/{id}", get_list, methods=["GET"]),
    Route("/api/3/lists/{id}", update_list, methods=["PUT"]),
    Route("/api/3/lists/{id}", delete_list, methods=["DELETE"]),
    Route("/api/3/listGroups", create_list_group, methods=["POST"]),
]
