"""Helpers shared by the /api/3 endpoints: request access, pagination and the API's error envelopes."""

from __future__ import annotations

from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .core import Emulator
from .faults import RequestInfo

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


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


def int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def paginate(request: Request, items: list[T]) -> tuple[list[T], str] | Response:
    """A page of `items` by limit/offset and the total as the API spells it (a string)."""
    params = request.query_params
    limit = int_or_none(params.get("limit"))
    if limit is None or limit <= 0:
        limit = DEFAULT_LIMIT
    offset = max(int_or_none(params.get("offset")) or 0, 0)
    if limit > MAX_LIMIT:
        if emulator(request).config.limit_over_max == "error":
            detail = f"Invalid limit: {limit}. The maximum is {MAX_LIMIT}."
            return errors(422, [invalid_attribute(detail, "/data/attributes/limit")])
        limit = MAX_LIMIT
    return items[offset : offset + limit], str(len(items))
