"""The emulator as a Starlette ASGI application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from . import admin, api_automations, api_contacts, api_fields, api_imports, api_lists, api_tags, api_users
from .config import EmulatorConfig
from .core import Emulator
from .gate import ApiGate


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
            *admin.ROUTES,
        ],
        middleware=[Middleware(ApiGate, emulator=emu)],
    )
    app.state.emulator = emu
    return app
