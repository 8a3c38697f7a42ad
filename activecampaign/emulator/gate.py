"""What every /api/3 request goes through before its endpoint: log, faults, rate limit, API key.

Order, chosen so that injected faults are predictable in tests:
  1. the request is logged at arrival (status filled in when answered; 0 = connection dropped);
  2. fault rules (a fault answers before the rate limiter and the key check, and consumes no slot);
  3. the 5/s limiter (a 429/503 consumes no slot);
  4. the API key (a 403 has passed the limiter, so it does consume a slot);
  5. due bulk import batches are applied, then the endpoint runs.
Accepted and 403 answers carry RateLimit-Limit/RateLimit-Remaining.
"""

from __future__ import annotations

import asyncio
import json

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .core import Emulator
from .faults import FaultRule, RequestInfo
from .imports import count_contacts
from .limits import format_retry_after

API_PREFIX = "/api/3/"
BULK_IMPORT_PATH = "/api/3/import/bulk_import"
DROPPED = 0


class ApiGate:
    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        bulk = method == "POST" and path.rstrip("/") == BULK_IMPORT_PATH
        entry = self.emulator.log_request(method, path, query, count_contacts(body) if bulk else None)
        request = RequestInfo(method, path, query, body)
        # Endpoints read the already-parsed request (and bulk import consults batch faults with it).
        scope["emulator.request"] = request
        status: list[int] = []
        dropped = False
        try:
            dropped = await self._gate(scope, _replay(body, receive), _recording(send, status), request)
        finally:
            entry["status"] = status[0] if status and not dropped else DROPPED

    async def _gate(self, scope: Scope, receive: Receive, send: Send, request: RequestInfo) -> bool:
        """Answer the request; True when its connection was dropped instead."""
        emu = self.emulator
        rule = emu.faults.request_fault(request)
        if rule is not None and not rule.after_effect:
            if rule.delay_s:
                await asyncio.sleep(rule.delay_s)
            if rule.status is not None:
                await _fault_response(rule)(scope, receive, send)
                return False
            if rule.drop == "before":
                await self._drop(scope, send)
                return True
        cfg = emu.config
        decision = emu.api_window.acquire(emu.clock(), cfg.requests_per_second, emu.scaled(1.0))
        limit_headers = {
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": str(decision.remaining),
        }
        if not decision.admitted:
            headers = {
                **limit_headers,
                "Retry-After": format_retry_after(decision.retry_after, cfg.time_scale),
            }
            message = "Too Many Requests" if cfg.rate_limit_status == 429 else "Service Unavailable"
            await JSONResponse({"message": message}, cfg.rate_limit_status, headers)(scope, receive, send)
            return False
        key = _header(scope, b"api-token")
        if key not in emu.valid_keys:
            await forbidden(cfg.forbidden_body, limit_headers)(scope, receive, send)
            return False
        # The endpoints act as the user this key belongs to.
        scope["emulator.key"] = key
        emu.process_due()
        if rule is not None and rule.drop == "after":
            await self.app(scope, receive, _discard)
            await self._drop(scope, send)
            return True
        if rule is not None and rule.after_effect:
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, _with_headers(hold, limit_headers))
            if rule.delay_s:
                await asyncio.sleep(rule.delay_s)
            if rule.status is not None:
                await _fault_response(rule)(scope, receive, send)
            else:
                for message in held:
                    await send(message)
            return False
        await self.app(scope, receive, _with_headers(send, limit_headers))
        return False

    async def _drop(self, scope: Scope, send: Send) -> None:
        lookup = self.emulator.connection_lookup
        transport = lookup(scope.get("client")) if lookup is not None else None
        if transport is not None:
            transport.abort()
            # Let the server notice the lost connection before the app returns, so it does not try to
            # answer on it (or complain that the app never answered).
            for _ in range(3):
                await asyncio.sleep(0)
            return
        # Without access to the socket: promise a body and never send it; the server then closes the
        # connection and the client sees a truncated response.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})


def forbidden(style: str, headers: dict[str, str] | None = None) -> Response:
    if style == "json":
        return JSONResponse({"message": "Forbidden"}, 403, headers)
    # As ActiveCampaign answers a bad key: no body and no Content-Type at all.
    return Response(status_code=403, headers=headers)


def _fault_response(rule: FaultRule) -> Response:
    headers = {"Retry-After": _seconds(rule.retry_after)} if rule.retry_after is not None else None
    status = rule.status or 500
    if rule.body is None or rule.body == "":
        # No body; and no Content-Type either unless the rule names one.
        content, media_type = "", rule.content_type
    elif isinstance(rule.body, str):
        content, media_type = rule.body, rule.content_type or "text/plain"
    else:
        content, media_type = json.dumps(rule.body, separators=(",", ":")), rule.content_type or "application/json"
    return Response(content, status, headers, media_type=media_type)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _recording(send: Send, status: list[int]) -> Send:
    async def record(message: Message) -> None:
        if message["type"] == "http.response.start" and not status:
            status.append(message["status"])
        await send(message)

    return record


def _with_headers(send: Send, extra: dict[str, str]) -> Send:
    encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]

    async def add(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return add


async def _discard(message: Message) -> None:
    pass
