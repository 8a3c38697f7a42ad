"""The emulator as a Starlette ASGI application."""

from __future__ import annotations

from email.utils import formatdate

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import (
    admin,
    api_automations,
    api_contacts,
    api_fields,
    api_imports,
    api_lists,
    api_readonly,
    api_tags,
    api_users,
    api_webhooks,
)
from .config import EmulatorConfig
from .core import Emulator
from .gate import ApiGate
from .model import account_now, set_clock_offset
from .refusals import EXCEPTION_HANDLERS


class AccountClock:
    """Every answer's Date header, and every timestamp made while answering, by the account's clock."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app, self.emulator = app, emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        set_clock_offset(self.emulator.config.clock_offset_s)

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", formatdate(account_now(), usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, dated)


def create_app(config: EmulatorConfig | None = None, emulator: Emulator | None = None) -> Starlette:
    """An emulator app; pass `emulator` to share one runtime (the server does, to reach it directly)."""
    emu = emulator if emulator is not None else Emulator(config)
    app = Starlette(
        routes=[
            *api_users.ROUTES,
            *api_lists.ROUTES,
            *api_contacts.ROUTES,
            *api_fields.ROUTES,
            *api_tags.ROUTES,
            *api_automations.ROUTES,
            *api_imports.ROUTES,
            *api_webhooks.ROUTES,
            *api_readonly.ROUTES,
            *admin.ROUTES,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(AccountClock, emulator=emu), Middleware(ApiGate, emulator=emu)],
    )
    app.state.emulator = emu
    return app
