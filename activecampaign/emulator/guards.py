"""How the endpoints refuse what rights.py does not allow, in the envelopes the reference shows.

The request's user, permission decorators, hidden lists and group limits; the options can choose other
envelopes.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .api_common import Handler, emulator, errors, field_error, no_result
from .model import AcList, User
from .rights import ADMIN_ONLY, has_right, sees

# What a refusal says is not permitted ("You do not have permission to <what>.").
WHAT = {
    ADMIN_ONLY: "access this resource",
    "pgListAdd": "add lists",
    "pgListEdit": "edit lists",
    "pgListDelete": "delete lists",
    "pgContactAdd": "add contacts",
    "pgContactEdit": "edit contacts",
    "pgContactDelete": "delete contacts",
    "pgContactImport": "import contacts",
    "pgContactFields": "manage custom fields",
}
# The reference's two 403 envelopes: errors[].detail (GET /lists/{id}) and {"message": "Forbidden"} (POST
# /listGroups, /fields, /fieldRels, /fieldValues, DELETE /fieldValues/{id}).
ERRORS, MESSAGE = "errors", "message"


def current_user(request: Request) -> User:
    return emulator(request).account.user_for_key(request.scope.get("emulator.key"))


def denied(request: Request, what: str, envelope: str = ERRORS) -> Response:
    """403 for something the user may not do, in the endpoint's envelope unless permission_denied_body says."""
    style = emulator(request).config.permission_denied_body
    if (envelope if style == "reference" else style) == MESSAGE:
        return JSONResponse({"message": "Forbidden"}, 403)
    return errors(403, [{"status": 403, "title": "Forbidden", "detail": f"You do not have permission to {what}."}])


def refusal(request: Request, right: str, envelope: str = ERRORS) -> Response | None:
    """The 403 when the request's user lacks `right` (a pg* flag or ADMIN_ONLY), else None."""
    if has_right(emulator(request).account, current_user(request), right):
        return None
    return denied(request, WHAT[right], envelope)


def requires(right: str, envelope: str = ERRORS) -> Callable[[Handler], Handler]:
    """Decorate an endpoint that needs `right`."""

    def decorate(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            refused = refusal(request, right, envelope)
            return refused if refused is not None else await handler(request)

        return guarded

    return decorate


def visible_lists(request: Request) -> list[AcList]:
    account, user = emulator(request).account, current_user(request)
    return [lst for lst in sorted(account.lists.values(), key=lambda x: x.id) if sees(account, user, lst)]


def visible_list_ids(request: Request) -> set[int]:
    return {lst.id for lst in visible_lists(request)}


def hidden_list(request: Request, lst: AcList) -> Response | None:
    """The answer for a list the user does not see (as hidden_list_status says), or None when it does."""
    emu = emulator(request)
    if sees(emu.account, current_user(request), lst):
        return None
    if emu.config.hidden_list_status == 404:
        return no_result("_List", lst.id)
    # The reference's own 403 of GET /lists/{id}, to the letter.
    return denied(request, "view lists")


def over_limit(status: int, detail: str, attribute: str) -> Response:
    """A group limit's refusal: 403 in the permission envelope, or 422 in the validation one."""
    if status == 422:
        return errors(422, [field_error("Limit reached", "limit_exceeded", attribute, detail)])
    return errors(403, [{"status": 403, "title": "Forbidden", "detail": detail}])
