"""An in-process stand-in for the API (httpx.MockTransport): answers what a test scripts, records what was sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from ac_sync.activecampaign.client import ACClient, RetryPolicy
from ac_sync.activecampaign.ratelimit import AccountLimiter, AccountLimits

KEY = "canary-key-3f9c1e7b"
BASE = "https://acme.api-us1.com"
# Fast enough that a test never waits on the limiter or a backoff, and no test measures time anyway.
LIMITS = AccountLimits(time_scale=10_000)
RETRY = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.02, bulk_rate_backoff_s=0.01)
EXAMPLES: dict[str, Any] = json.loads((Path(__file__).with_name("api-examples.json")).read_text())["operations"]


def example(operation: str, status: str = "200") -> Any:
    """The reference's example answer of `operation` ("GET /fields") with `status` (the first, if several)."""
    return next(iter(EXAMPLES[operation]["responses"][status].values()))


Responder = Callable[[httpx.Request], httpx.Response]


def reply(body: Any = None, status: int = 200, *, text: str | None = None, **headers: str) -> httpx.Response:
    """A JSON answer (`body`), a raw one (`text`), or an empty one (neither)."""
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    if text is not None:
        return httpx.Response(status, text=text, headers={"Content-Type": "text/html", **hdrs})
    if body is None:
        return httpx.Response(status, headers=hdrs)
    return httpx.Response(status, json=body, headers=hdrs)


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    raw: bytes
    headers: httpx.Headers


@dataclass
class FakeAPI:
    """Routes `(method, path under /api/3)` to scripted answers: a list is answered in order, its last one
    repeated; a callable answers each request itself. The path "*" answers every path of that method."""

    routes: dict[tuple[str, str], list[httpx.Response] | Responder] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: httpx.Response | Responder) -> FakeAPI:
        if len(answers) == 1 and callable(answers[0]):
            self.routes[(method, path)] = answers[0]
        else:
            self.routes[(method, path)] = list(answers)  # type: ignore[arg-type]
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/3/")
        raw = request.content
        self.sent.append(
            Sent(
                request.method,
                path,
                dict(request.url.params),
                json.loads(raw) if raw else None,
                raw,
                request.headers,
            )
        )
        route = self.routes.get((request.method, path)) or self.routes.get((request.method, "*"))
        if route is None:
            return reply({"message": f"no route for {request.method} {path}"}, 404)
        if callable(route):
            return route(request)
        scripted = route.pop(0) if len(route) > 1 else route[0]
        # A fresh copy each time: the last answer may be given many times.
        return httpx.Response(scripted.status_code, headers=scripted.headers, content=scripted.content)

    def calls(self, method: str, path: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method and s.path == path]

    def client(self, **kw: Any) -> ACClient:
        return ACClient(
            BASE,
            SecretStr(KEY),
            limits=LIMITS,
            limiter=AccountLimiter(LIMITS),
            retry=kw.pop("retry", RETRY),
            transport=httpx.MockTransport(self),
            **kw,
        )


def paged(key: str, items: list[dict[str, Any]], *, total: Any = "auto", **extra: Any) -> Responder:
    """A list endpoint that honours limit and offset (default 20, as the API's), meta.total a string."""

    def answer(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", 20))
        offset = int(request.url.params.get("offset", 0))
        body: dict[str, Any] = {key: items[offset : offset + limit], **extra}
        if total is not None:
            body["meta"] = {"total": str(len(items)) if total == "auto" else total}
        return reply(body)

    return answer
