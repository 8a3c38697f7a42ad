"""Endpoints for users, user groups and group limits (all but /users/me are the Admin group's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import render_account
from .api_common import (
    Kind,
    bad_request,
    base_url,
    by_id,
    emulator,
    errors,
    field_error,
    int_or_none,
    ok,
    paginate,
    wrapped,
)
from .guards import current_user, refusal, requires
from .model import Group, User
from .rights import ADMIN_ONLY, flags_from

USERS: Kind[User] = Kind("User", lambda account: account.users)
GROUPS: Kind[Group] = Kind("Group", lambda account: account.groups, configurable=True)


async def users_me(request: Request) -> Response:
    return ok({"user": render_account.user(current_user(request), base_url(request))})


@requires(ADMIN_ONLY)
async def list_users(request: Request) -> Response:
    page = paginate(request, sorted(emulator(request).account.users.values(), key=lambda u: u.id))
    if isinstance(page, Response):
        return page
    base = base_url(request)
    return ok({"users": [render_account.user(u, base) for u in page.items], "meta": {"total": page.total}})


@requires(ADMIN_ONLY)
@by_id(USERS)
async def get_user(request: Request, user: User) -> Response:
    return ok({"user": render_account.user(user, base_url(request))})


@requires(ADMIN_ONLY)
async def create_user(request: Request) -> Response:
    account = emulator(request).account
    data = wrapped(request, "user")
    group_id = int_or_none(data.get("group")) if data is not None else None
    texts = {k: data.get(k) for k in ("username", "email")} if data is not None else {}
    # The reference documents only a 400 with an empty body for a request it cannot take.
    if data is None or group_id not in account.groups or not all(isinstance(v, str) and v for v in texts.values()):
        return bad_request()
    if any(u.username.lower() == data["username"].lower() for u in account.users.values()):
        return errors(422, [field_error("Username already exists", "duplicate", "username")])
    user = account.create_user(
        data["username"],
        group_id,
        str(data.get("firstName") or ""),
        str(data.get("lastName") or ""),
        data["email"],
    )
    return ok({"user": render_account.user_created(user, base_url(request))}, 201)


@requires(ADMIN_ONLY)
async def list_groups_page(request: Request) -> Response:
    emu = emulator(request)
    groups = sorted(emu.account.groups.values(), key=lambda g: g.id)
    base = base_url(request)
    if emu.config.groups_paging == "ignore":
        # The reference documents no paging parameters for groups: every group in one answer.
        return ok({"groups": [render_account.group(g, base) for g in groups], "meta": {"total": str(len(groups))}})
    page = paginate(request, groups, misbehaves=True)
    if isinstance(page, Response):
        return page
    return ok({"groups": [render_account.group(g, base) for g in page.items], "meta": {"total": page.total}})


@requires(ADMIN_ONLY)
async def create_group(request: Request) -> Response:
    data = wrapped(request, "group")
    if data is None:
        return bad_request()
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        return errors(422, [field_error("Title is required", "field_missing", "title")])
    descript = data.get("descript")
    group = emulator(request).account.create_group(
        title, descript if isinstance(descript, str) else None, flags_from(data)
    )
    return ok({"group": render_account.group_created(group, base_url(request))})


@requires(ADMIN_ONLY)
@by_id(GROUPS)
async def get_group(request: Request, group: Group) -> Response:
    return ok({"group": render_account.group(group, base_url(request))})


@requires(ADMIN_ONLY)
@by_id(GROUPS)
async def delete_group(request: Request, group: Group) -> Response:
    emulator(request).account.delete_group(group.id)
    return ok({})


async def group_limits(request: Request) -> Response:
    emu = emulator(request)
    if emu.config.group_limits_readable == "admin":
        refused = refusal(request, ADMIN_ONLY)
        if refused is not None:
            return refused
    page = paginate(request, sorted(emu.account.groups.values(), key=lambda g: g.id))
    if isinstance(page, Response):
        return page
    base = base_url(request)
    return ok({"groupLimits": [render_account.group_limit(g, base) for g in page.items], "meta": {"total": page.total}})


ROUTES = [
    Route("/api/3/users/me", users_me, methods=["GET"]),
    Route("/api/3/users", list_users, methods=["GET"]),
    Route("/api/3/users", create_user, methods=["POST"]),
    Route("/api/3/users/{id}", get_user, methods=["GET"]),
    Route("/api/3/groups", list_groups_page, methods=["GET"]),
    Route("/api/3/groups", create_group, methods=["POST"]),
    Route("/api/3/groups/{id}", get_group, methods=["GET"]),
    Route("/api/3/groups/{id}", delete_group, methods=["DELETE"]),
    Route("/api/3/groupLimits", group_limits, methods=["GET"]),
]
