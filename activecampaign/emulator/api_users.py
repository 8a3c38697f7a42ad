"""Endpoints for users, user groups and group limits (all but /users/me are the Admin group's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api_common as ac
from . import render_account
from .guards import current_user, refusal, requires
from .model import Group, User
from .rights import ADMIN_ONLY, flags_from

USERS: ac.Kind[User] = ac.Kind("User", lambda account: account.users)
GROUPS: ac.Kind[Group] = ac.Kind("Group", lambda account: account.groups, configurable=True)


async def users_me(request: Request) -> Response:
    return ac.ok({"user": render_account.user(current_user(request), ac.base_url(request))})


@requires(ADMIN_ONLY)
async def list_users(request: Request) -> Response:
    page = ac.paginate(request, sorted(ac.emulator(request).account.users.values(), key=lambda u: u.id))
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok({"users": [render_account.user(u, base) for u in page.items], "meta": {"total": page.total}})


@requires(ADMIN_ONLY)
@ac.by_id(USERS)
async def get_user(request: Request, user: User) -> Response:
    return ac.ok({"user": render_account.user(user, ac.base_url(request))})


@requires(ADMIN_ONLY)
async def create_user(request: Request) -> Response:
    account = ac.emulator(request).account
    data = ac.wrapped(request, "user")
    group_id = ac.int_or_none(data.get("group")) if data is not None else None
    texts = {k: data.get(k) for k in ("username", "email")} if data is not None else {}
    # The reference documents only a 400 with an empty body for a request it cannot take.
    if data is None or group_id not in account.groups or not all(isinstance(v, str) and v for v in texts.values()):
        return ac.bad_request()
    if any(u.username.lower() == data["username"].lower() for u in account.users.values()):
        return ac.errors(422, [ac.field_error("Username already exists", "duplicate", "username")])
    user = account.create_user(
        data["username"],
        group_id,
        str(data.get("firstName") or ""),
        str(data.get("lastName") or ""),
        data["email"],
    )
    return ac.ok({"user": render_account.user_created(user, ac.base_url(request))}, 201)


@requires(ADMIN_ONLY)
async def list_groups_page(request: Request) -> Response:
    emu = ac.emulator(request)
    groups = sorted(emu.account.groups.values(), key=lambda g: g.id)
    base = ac.base_url(request)
    if emu.config.groups_paging == "ignore":
        # The reference documents no paging parameters for groups: every group in one answer.
        return ac.ok({"groups": [render_account.group(g, base) for g in groups], "meta": {"total": str(len(groups))}})
    page = ac.paginate(request, groups, misbehaves=True)
    if isinstance(page, Response):
        return page
    return ac.ok({"groups": [render_account.group(g, base) for g in page.items], "meta": {"total": page.total}})


@requires(ADMIN_ONLY)
async def create_group(request: Request) -> Response:
    if isinstance(parsed := ac.wrapped_text(request, "group", "title", "Title is required"), Response):
        return parsed
    data, title = parsed
    descript = data.get("descript")
    group = ac.emulator(request).account.create_group(
        title, descript if isinstance(descript, str) else None, flags_from(data)
    )
    return ac.ok({"group": render_account.group_created(group, ac.base_url(request))})


@requires(ADMIN_ONLY)
@ac.by_id(GROUPS)
async def get_group(request: Request, group: Group) -> Response:
    return ac.ok({"group": render_account.group(group, ac.base_url(request))})


delete_group = requires(ADMIN_ONLY)(ac.deleting(GROUPS, lambda account, group: account.delete_group(group.id)))


async def group_limits(request: Request) -> Response:
    emu = ac.emulator(request)
    if emu.config.group_limits_readable == "admin":
        refused = refusal(request, ADMIN_ONLY)
        if refused is not None:
            return refused
    page = ac.paginate(request, sorted(emu.account.groups.values(), key=lambda g: g.id))
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok(
        {"groupLimits": [render_account.group_limit(g, base) for g in page.items], "meta": {"total": page.total}}
    )


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
