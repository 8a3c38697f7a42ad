"""Endpoints for the user, user groups, lists, list-to-group links and the exclusion list."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
    invalid_attribute,
    no_result,
    ok,
    paginate,
    wrapped,
)
from .state import AcList

_NAME_FILTER = re.compile(r"filters\[name\](?:\[([^\]]*)\])?")
_OPERATORS = {
    "eq": lambda name, x: name == x,
    "neq": lambda name, x: name != x,
    "contains": lambda name, x: x in name,
    "starts_with": lambda name, x: name.startswith(x),
    "ends_with": lambda name, x: name.endswith(x),
}
REQUIRED_LIST_FIELDS = ("name", "stringid", "sender_url", "sender_reminder")


async def users_me(request: Request) -> Response:
    return ok({"user": render.user(base_url(request))})


async def list_groups_page(request: Request) -> Response:
    account = emulator(request).account
    page = paginate(request, sorted(account.groups.values(), key=lambda g: g.id))
    if isinstance(page, Response):
        return page
    items, total = page
    base = base_url(request)
    return ok({"groups": [render.group(g, base) for g in items], "meta": {"total": total}})


async def create_group(request: Request) -> Response:
    data = wrapped(request, "group")
    if data is None:
        return bad_request()
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        return errors(422, [field_error("Title is required", "field_missing", "title")])
    perms = {name: "1" if str(data[name]) == "1" else "0" for name in render.PERMISSIONS if name in data}
    descript = data.get("descript")
    group = emulator(request).account.create_group(title, descript if isinstance(descript, str) else None, perms)
    return ok({"group": render.group_created(group, base_url(request))})


async def get_group(request: Request) -> Response:
    emu = emulator(request)
    group_id = request.path_params["id"]
    group = emu.account.groups.get(group_id)
    if group is None:
        return no_result("Group", group_id, emu.config.missing_object_status)
    return ok({"group": render.group(group, base_url(request))})


async def delete_group(request: Request) -> Response:
    emu = emulator(request)
    group_id = request.path_params["id"]
    if group_id not in emu.account.groups:
        return no_result("Group", group_id, emu.config.missing_object_status)
    emu.account.delete_group(group_id)
    return ok({})


async def list_lists(request: Request) -> Response:
    emu = emulator(request)
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
                return errors(422, [invalid_attribute(detail, f"/data/attributes/{key}")])
            matchers.append((_OPERATORS[operator], value.lower()))
        elif key == "orders[name]":
            direction = value.upper()
            if direction not in ("ASC", "DESC"):
                detail = f'Invalid order direction: "{value}". Allowed values are: "ASC", "DESC"'
                return errors(422, [invalid_attribute(detail, "/data/attributes/orders[name]")])
    # Names compare case-insensitively, as in the MySQL collation behind the real API.
    lists = [
        lst
        for lst in sorted(emu.account.lists.values(), key=lambda x: x.id)
        if all(test(lst.name.lower(), wanted) for test, wanted in matchers)
    ]
    if direction is not None:
        lists.sort(key=lambda x: x.name.lower(), reverse=direction == "DESC")
    page = paginate(request, lists)
    if isinstance(page, Response):
        return page
    items, total = page
    base = base_url(request)
    return ok({"lists": [render.ac_list(lst, base) for lst in items], "meta": {"total": total}})


async def create_list(request: Request) -> Response:
    emu = emulator(request)
    data = wrapped(request, "list")
    if data is None:
        return bad_request()
    missing = [f for f in REQUIRED_LIST_FIELDS if not isinstance(data.get(f), str) or not data[f].strip()]
    if missing:
        return errors(422, [field_error(f"The {f} field is required", "field_missing", f) for f in missing])
    if emu.config.duplicate_list_names == "error":
        clash = _duplicate(emu.account.lists.values(), data["name"], data["stringid"])
        if clash is not None:
            title = f"A list with this {clash} already exists"
            return errors(422, [field_error(title, "duplicate", clash)])
    lst = emu.account.create_list(data["name"], data["stringid"], data["sender_url"], data["sender_reminder"])
    return ok({"list": render.list_created(lst, base_url(request))}, emu.config.list_create_status)


def _duplicate(lists: Iterable[AcList], name: str, stringid: str) -> str | None:
    for lst in lists:
        if lst.name.lower() == name.lower():
            return "name"
        if lst.stringid.lower() == stringid.lower():
            return "stringid"
    return None


async def get_list(request: Request) -> Response:
    emu = emulator(request)
    list_id = request.path_params["id"]
    lst = emu.account.lists.get(list_id)
    if lst is None:
        # "_List", as the reference prints it.
        return no_result("_List", list_id)
    return ok({"list": render.ac_list(lst, base_url(request))})


async def delete_list(request: Request) -> Response:
    emu = emulator(request)
    list_id = request.path_params["id"]
    if list_id not in emu.account.lists:
        return no_result("_List", list_id, emu.config.missing_object_status)
    emu.account.delete_list(list_id)
    return ok({})


async def create_list_group(request: Request) -> Response:
    emu = emulator(request)
    data = wrapped(request, "listGroup")
    if data is None:
        return bad_request()
    problems = [
        field_error(f"The {f} field is required", "field_missing", f)
        for f in ("listid", "groupid")
        if int_or_none(data.get(f)) is None
    ]
    if problems:
        return errors(422, problems)
    list_id, group_id = int(data["listid"]), int(data["groupid"])
    if list_id not in emu.account.lists:
        return no_result("List", list_id)
    if group_id not in emu.account.groups:
        return no_result("Group", group_id)
    link, created = emu.account.link_list_group(list_id, group_id)
    if not created and emu.config.duplicate_list_group == "error":
        title = "This list is already associated with this group"
        return errors(422, [field_error(title, "duplicate", "listid")])
    return ok({"listGroup": render.list_group(link, base_url(request))}, 201)


async def list_exclusions(request: Request) -> Response:
    emu = emulator(request)
    entries = [render.exclusion(i, email) for i, email in enumerate(emu.account.exclusions, start=1)]
    problems = []
    for key, value in request.query_params.multi_items():
        if key == "filters[matchPhrase]":
            entries = [e for e in entries if value.lower() in e["matchPhrase"].lower()]
        elif key == "orders[matchPhrase]":
            if value.upper() not in ("ASC", "DESC"):
                detail = f'Invalid order direction: "{value}". Allowed values are: "ASC", "DESC"'
                problems.append(invalid_attribute(detail, f"/data/attributes/{key}"))
            else:
                entries.sort(key=lambda e: e["matchPhrase"].lower(), reverse=value.upper() == "DESC")
        elif key.startswith("filters[") and key not in ("filters[lists]",):
            detail = f'Invalid filter field: "{key[8:-1]}". Allowed fields are: matchPhrase, lists'
            problems.append(invalid_attribute(detail, f"/data/attributes/{key}"))
    if problems:
        return errors(422, problems)
    page = paginate(request, entries)
    if isinstance(page, Response):
        return page
    items, total = page
    # meta.total is a number on this endpoint, unlike the others.
    return ok({"exclusions": items, "meta": {"total": int(total)}})


ROUTES = [
    Route("/api/3/users/me", users_me, methods=["GET"]),
    Route("/api/3/groups", list_groups_page, methods=["GET"]),
    Route("/api/3/groups", create_group, methods=["POST"]),
    Route("/api/3/groups/{id:int}", get_group, methods=["GET"]),
    Route("/api/3/groups/{id:int}", delete_group, methods=["DELETE"]),
    Route("/api/3/lists", list_lists, methods=["GET"]),
    Route("/api/3/lists", create_list, methods=["POST"]),
    Route("/api/3/lists/exclusions", list_exclusions, methods=["GET"]),
    Route("/api/3/lists/{id:int}", get_list, methods=["GET"]),
    Route("/api/3/lists/{id:int}", delete_list, methods=["DELETE"]),
    Route("/api/3/listGroups", create_list_group, methods=["POST"]),
]
