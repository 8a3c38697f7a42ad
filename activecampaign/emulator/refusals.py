"""The router's own refusals (no such route, a method the route does not have) in the API's JSON envelopes.

Starlette answers those in plain text; ActiveCampaign answers JSON, and a client that parses every error
body must get JSON here too. The admin endpoints keep Starlette's answers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .gate import API_PREFIX


def not_found(path: str) -> JSONResponse:
    # The reference's 404 sentence, naming the route since there is no object to name.
    return JSONResponse({"message": f"No Result found for route {path}"}, 404)


def method_not_allowed(method: str, path: str, allow: str | None) -> JSONResponse:
    entry = {
        "title": "Method Not Allowed",
        "detail": f"{method} is not allowed on {path}" + (f"; allowed: {allow}" if allow else ""),
        "source": {"method": method},
    }
    return JSONResponse({"errors": [entry]}, 405, headers={"Allow": allow} if allow else None)


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if not path.startswith(API_PREFIX):
        return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow")
        return method_not_allowed(request.method, path, allow)
    if exc.status_code == 404:
        return not_found(path)
    return JSONResponse({"message": exc.detail}, exc.status_code, headers=exc.headers)


EXCEPTION_HANDLERS = {HTTPException: http_exception}
