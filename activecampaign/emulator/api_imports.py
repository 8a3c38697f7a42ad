"""Bulk import endpoints: submit a batch, follow it, and the account-wide summary."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import api_common as ac
from .faults import RequestInfo
from .guards import current_user, requires
from .imports import count_contacts, rejection, summary, validate
from .model import truthy


@requires("pgContactImport")
async def bulk_import(request: Request) -> Response:
    emu = ac.emulator(request)
    cfg = emu.config
    info: RequestInfo = request.scope["emulator.request"]
    # Single-contact requests have their own, tighter, per-minute window.
    single = count_contacts(info.body) == 1
    window, limit = (
        (emu.bulk_single_window, cfg.bulk_single_per_minute) if single else (emu.bulk_window, cfg.bulk_per_minute)
    )
    if not window.acquire(emu.clock(), limit, emu.scaled(60.0)).admitted:
        # "minute.Please" without a space: as the reference prints it.
        reason = (
            f"Up to {limit} imports may be requested per minute.Please batch contacts into larger requests, "
            "or retry this request in a minute."
        )
        return ac.ok(rejection("Rate limit exceeded.", [reason]), 400)
    checked = validate(info.body, cfg.accept_unicode_email)
    if isinstance(checked, dict):
        return ac.ok(checked, 400)
    fault = emu.faults.import_fault(info)
    outcome = "completed" if fault is None or fault.import_status == "false" else str(fault.import_status)
    payload = ac.body_json(request)
    batch = emu.schedule_batch(
        checked,
        outcome,
        fault.hold_s if fault is not None else 0.0,
        user_id=current_user(request).id,
        exclude_automations=isinstance(payload, dict) and truthy(payload.get("exclude_automations")),
    )
    return ac.ok(
        {
            cfg.success_casing: 1,
            "queued_contacts": batch.size,
            "batchId": batch.id,
            "message": "Contact import queued",
        }
    )


async def bulk_import_summary(request: Request) -> Response:
    return ac.ok(summary(list(ac.emulator(request).batches.values())))


async def import_info(request: Request) -> Response:
    emu = ac.emulator(request)
    cfg = emu.config
    batch_id = request.query_params.get("batchId")
    if not batch_id:
        return ac.ok({"success": 0, "message": "'batchId' is a required field."}, 400)
    now = emu.clock()
    # Apply (and forget) at this same instant so a "completed" answer always comes with the batch's effects.
    emu.process_due(now)
    batch = emu.batches.get(batch_id)
    if batch is None:
        # Never known, or forgotten after batch_retention_s: the same answer.
        return ac.ok({"success": 0, "message": f"No import found for batchId {batch_id}."}, cfg.unknown_batch_status)
    return ac.ok({"status": batch.status(now), "success": list(batch.success), "failure": list(batch.failure)})


ROUTES = [
    Route("/api/3/import/bulk_import", bulk_import, methods=["POST"]),
    Route("/api/3/import/bulk_import", bulk_import_summary, methods=["GET"]),
    Route("/api/3/import/info", import_info, methods=["GET"]),
]
