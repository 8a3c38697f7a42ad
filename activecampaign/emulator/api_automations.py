"""Endpoints for the account's automations and the runs contacts' list entries started."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api_common as ac
from .model import Contact
from .render_account import LISTED, OF_CONTACT, automation, automation_start, contact_automation


async def list_automations(request: Request) -> Response:
    emu = ac.emulator(request)
    # With automations "off" the account has none.
    automations = (
        [] if emu.config.automations == "off" else sorted(emu.account.automations.values(), key=lambda a: a.id)
    )
    page = ac.paginate(request, automations)
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    meta = {
        "total": page.total,
        "starts": [automation_start(a) for a in page.items],
        "filtered": False,
        "smsLogs": [],
    }
    return ac.ok({"automations": [automation(a, base) for a in page.items], "meta": meta})


async def list_contact_automations(request: Request) -> Response:
    runs = sorted(ac.emulator(request).account.contact_automations.values(), key=lambda r: r.id)
    page = ac.paginate(request, runs)
    if isinstance(page, Response):
        return page
    base = ac.base_url(request)
    return ac.ok(
        {
            "contactAutomations": [contact_automation(r, base, LISTED) for r in page.items],
            "meta": {"total": page.total, "showcase_stats": []},
        }
    )


@ac.by_id(ac.CONTACTS)
async def automations_of_contact(request: Request, contact: Contact) -> Response:
    base = ac.base_url(request)
    runs = ac.emulator(request).account.automations_of(contact.id)
    return ac.ok({"contactAutomations": [contact_automation(r, base, OF_CONTACT) for r in runs]})


ROUTES = [
    Route("/api/3/automations", list_automations, methods=["GET"]),
    Route("/api/3/contactAutomations", list_contact_automations, methods=["GET"]),
    Route("/api/3/contacts/{id}/contactAutomations", automations_of_contact, methods=["GET"]),
]
