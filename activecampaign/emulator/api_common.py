"""Helpers shared by the /api/3 endpoints: request access, objects by id, pagination and error envelopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .core import Emulator
from .faults import RequestInfo
from .model import AcList, Contact, Group, int_or_none
from .state import Account

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# Comparisons of the filters[name][op] / filters[search][op] kind, on lower-cased names; each endpoint
# allows its own subset.
OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda name, x: name == x,
    "neq": lambda name, x: name != x,
    "lt": lambda name, x: name < x,
    "lte": lambda name, x: name <= x,
    "gt": lambda name, x: name > x,
    "gte": lambda name, x: name >= x,
    "contains": lambda name, x: x in name,
    "starts_with": lambda name, x: name.startswith(x),
    "ends_with": lambda name, x: name.endswith(x),
}


def emulator(request: Request) -> Emulator:
    return request.app.state.emulator  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def body_json(request: Request) -> Any:
    """The request's JSON body as the gate read it; None when absent or not JSON."""
    info: RequestInfo | None = request.scope.get("emulator.request")
    return info.json() if info is not None else None


def wrapped(request: Request, key: str) -> dict[str, Any] | None:
    """The object under `key` in a body like {"contact": {...}}, or None when the body has no such object."""
    payload = body_json(request)
    inner = payload.get(key) if isinstance(payload, dict) else None
    return inner if isinstance(inner, dict) else None


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status)


def bad_request() -> JSONResponse:
    # The reference's 400 example for the JSON endpoints is an empty object.
    return JSONResponse({}, 400)


def no_result(kind: str, object_id: Any, status: int = 404) -> JSONResponse:
    return JSONResponse({"message": f"No Result found for {kind} with id {object_id}"}, status)


def field_error(title: str, code: str, field: str, detail: str = "") -> dict[str, Any]:
    """One entry of the {"errors": [...]} envelope of the contact and list endpoints."""
    return {
        "title": title,
        "detail": detail,
        "code": code,
        "source": {"pointer": f"/data/attributes/{field}"},
    }


def invalid_attribute(detail: str, pointer: str) -> dict[str, Any]:
    """One entry of the 422 envelope the reference shows for bad query parameters."""
    return {"status": 422, "title": "Invalid attribute", "detail": detail, "source": {"pointer": pointer}}


def errors(status: int, entries: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"errors": entries}, status)


def wrapped_ids(request: Request, key: str, names: tuple[str, ...]) -> tuple[dict[str, Any], list[int]] | Response:
    """The object under `key` and its ids `names` as numbers: 400 {} without such an object, and the 422
    naming every one of `names` that is not an id."""
    data = wrapped(request, key)
    if data is None:
        return bad_request()
    ids = [int_or_none(data.get(name)) for name in names]
    problems = [
        field_error(f"The {name} field is required", "field_missing", name)
        for name, value in zip(names, ids, strict=True)
        if value is None
    ]
    if problems:
        return errors(422, problems)
    return data, [i for i in ids if i is not None]


def wrapped_text(request: Request, key: str, name: str, title: str) -> tuple[dict[str, Any], str] | Response:
    """The object under `key` and its required text `name`: 400 {} without such an object, the 422
    field_missing entry `title` when the text is absent or blank."""
    data = wrapped(request, key)
    if data is None:
        return bad_request()
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        return errors(422, [field_error(title, "field_missing", name)])
    return data, value


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One resource as its /{id} endpoints see it: where its objects are and how a missing one is answered.

    `name` goes into the reference's "No Result found for <name> with id <id>"; `message` replaces that
    sentence where the reference spells it otherwise; `configurable` lets the missing_object_status
    option set the status.
    """

    name: str
    table: Callable[[Account], Mapping[int, T]]
    configurable: bool = False
    message: str | None = None

    def missing(self, request: Request, object_id: int) -> Response:
        status = emulator(request).config.missing_object_status if self.configurable else 404
        if self.message is not None:
            return JSONResponse({"message": self.message.format(id=object_id)}, status)
        return no_result(self.name, object_id, status)


def by_id(kind: Kind[T]) -> Callable[[Callable[[Request, T], Awaitable[Response]]], Handler]:
    """Decorate a handler of /{id} so that it gets the object itself: a non-numeric id answers the
    reference's 400 {}, an unknown one the kind's "No Result found"."""

    def decorate(handler: Callable[[Request, T], Awaitable[Response]]) -> Handler:
        async def resolved(request: Request) -> Response:
            object_id = int_or_none(request.path_params["id"])
            if object_id is None:
                return bad_request()
            found = kind.table(emulator(request).account).get(object_id)
            if found is None:
                return kind.missing(request, object_id)
            return await handler(request, found)

        return resolved

    return decorate


def deleting(kind: Kind[T], remove: Callable[[Account, T], None]) -> Handler:
    """DELETE /{id} of a resource that has nothing more to check: found as by_id finds it, removed, `{}`."""

    @by_id(kind)
    async def delete(request: Request, found: T) -> Response:
        remove(emulator(request).account, found)
        return ok({})

    return delete


# Contacts, as every /contacts/{id}/... endpoint finds them (and as a request body names them).
CONTACTS: Kind[Contact] = Kind("Subscriber", lambda account: account.contacts)
# A list or group that a request body names: "List", "Group" and always 404, where the /{id} endpoints spell a
# list "_List" and may answer a missing group with the missing_object_status option.
LIST_IN_BODY: Kind[AcList] = Kind("List", lambda account: account.lists)
GROUP_IN_BODY: Kind[Group] = Kind("Group", lambda account: account.groups)


def with_body_ids(
    key: str, names: tuple[str, ...], kinds: Mapping[str, Kind[Any]]
) -> Callable[[Callable[..., Awaitable[Response]]], Handler]:
    """Decorate a handler of a body like {key: {...}} that names objects by id: it gets the object and its ids
    `names` as numbers (wrapped_ids' 400 and 422 answered before it), once the id of each of `kinds` (name:
    kind) names an object of that kind; the first that does not answers the kind's "No Result found"."""

    def decorate(handler: Callable[..., Awaitable[Response]]) -> Handler:
        async def parsed(request: Request) -> Response:
            got = wrapped_ids(request, key, names)
            if isinstance(got, Response):
                return got
            data, ids = got
            named = dict(zip(names, ids, strict=True))
            account = emulator(request).account
            for name, kind in kinds.items():
                if named[name] not in kind.table(account):
                    return kind.missing(request, named[name])
            return await handler(request, data, *ids)

        return parsed

    return decorate


class Page(NamedTuple, Generic[T]):
    items: list[T]
    total: str  # as the API spells it
    limit: int
    offset: int


def paginate(
    request: Request, items: list[T], misbehaves: bool = False, total: int | None = None
) -> Page[T] | Response:
    """A page of `items` by limit/offset, with the limit and offset honoured.

    `misbehaves`: the endpoint is one the ignore_paging option applies to (it then answers the first page).
    `total`: what meta.total says, where that is not simply how many `items` there are.
    """
    params = request.query_params
    limit = int_or_none(params.get("limit"))
    if limit is None or limit <= 0:
        limit = DEFAULT_LIMIT
    offset = max(int_or_none(params.get("offset")) or 0, 0)
    config = emulator(request).config
    if misbehaves and config.ignore_paging:
        limit, offset = DEFAULT_LIMIT, 0
    if limit > MAX_LIMIT:
        if config.limit_over_max == "error":
            detail = f"Invalid limit: {limit}. The maximum is {MAX_LIMIT}."
            return errors(422, [invalid_attribute(detail, "/data/attributes/limit")])
        limit = MAX_LIMIT
    return Page(items[offset : offset + limit], str(len(items) if total is None else total), limit, offset)
