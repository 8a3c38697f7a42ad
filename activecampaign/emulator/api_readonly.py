"""The API root and the collections this product never writes (campaigns, deals, ...): always empty.

Clients such as Airbyte's connector check a key with GET /campaigns and read deals, segments, forms and
accounts; an empty page in the reference's envelope lets them run without the emulator modelling those.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api_common as ac

# Collection path -> the object name in "No Result found for <name> with id <id>".
EMPTY_COLLECTIONS = {
    "campaigns": "Campaign",
    "deals": "Deal",
    "segments": "Segment",
    "forms": "Form",
    "accounts": "Account",
}


async def root(request: Request) -> Response:
    # What the real root answers is not documented; clients only look at the status (200, or 403 for a bad key).
    return ac.ok({"version": "3", "links": {"me": f"{ac.base_url(request)}/api/3/users/me"}})


def _empty(key: str) -> ac.Handler:
    async def listing(request: Request) -> Response:
        page = ac.paginate(request, [])
        if isinstance(page, Response):
            return page
        return ac.ok({key: [], "meta": {"total": page.total}})

    return listing


def _none(name: str) -> ac.Handler:
    async def one(request: Request) -> Response:
        object_id = ac.int_or_none(request.path_params["id"])
        return ac.bad_request() if object_id is None else ac.no_result(name, object_id)

    return one


ROUTES = [
    Route("/api/3/", root, methods=["GET"]),
    *(Route(f"/api/3/{key}", _empty(key), methods=["GET"]) for key in EMPTY_COLLECTIONS),
    *(Route(f"/api/3/{key}/{{id}}", _none(name), methods=["GET"]) for key, name in EMPTY_COLLECTIONS.items()),
]
