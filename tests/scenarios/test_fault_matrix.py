"""The fault matrix: a 5,000-contact sync under each fault the emulator can throw ends exactly right.

For every fault: the list holds exactly the valid audience, the contacts who opted out stay opted out,
and the request log shows no accepted batch sent twice beyond the batches the fault itself broke.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.flow_runs import aresume_flow_run

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, PauseWatch, create_list, sync

RATE_BODY = {"success": 0, "message": "Rate limit exceeded.", "failureReasons": ["Up to 100 imports may be requested"]}
BULK = "^/api/3/import/bulk_import$"
INFO = "^/api/3/import/info$"

FAULTS: dict[str, list[dict[str, Any]]] = {
    "429-bursts-with-retry-after": [
        {"method": "*", "path": "^/api/3/", "status": 429, "retry_after": 0.3, "probability": 0.08, "seed": 1}
    ],
    "bulk-400-rate-limit": [{"method": "POST", "path": BULK, "status": 400, "body": RATE_BODY, "every": 4}],
    "500-at-10pc": [{"method": "*", "path": "^/api/3/", "status": 500, "probability": 0.1, "seed": 2}],
    "502-at-10pc": [{"method": "*", "path": "^/api/3/", "status": 502, "probability": 0.1, "seed": 3}],
    "503-at-10pc": [{"method": "*", "path": "^/api/3/", "status": 503, "probability": 0.1, "seed": 4}],
    "connection-resets-at-5pc": [
        {"method": "*", "path": "^/api/3/", "drop_connection": True, "probability": 0.05, "seed": 5}
    ],
    # Answers that come after the client has given up (AC_SYNC_REQUEST_TIMEOUT_S below). A timed-out bulk
    # import still takes effect on the server, so sending it again is right: READ_TIMEOUT_BULK of them.
    "read-timeouts": [
        {"method": "POST", "path": BULK, "delay_s": 4.0, "every": 7, "times": 3},
        {"method": "*", "path": "^/api/3/(import/info|users/me|groups|lists)", "delay_s": 4.0, "probability": 0.05,
         "seed": 6},
    ],
    "info-stuck-false-then-recovering": [
        {"method": "POST", "path": BULK, "import_status": "false", "hold_s": 1.5, "every": 3}
    ],
    # Three broken imports, 3 apart: a re-sent batch comes back at least 4 imports later, so no batch can
    # use up its 3 attempts (that case, ending in the rejected log, is test_upload_behaviour's).
    "batches-failed-or-interrupted": [
        {"method": "POST", "path": BULK, "import_status": "failed", "every": 6, "times": 2},
        {"method": "POST", "path": BULK, "import_status": "interrupted", "every": 9, "times": 1},
    ],
}  # fmt: skip
# Faults that break an accepted batch, so that sending it again is right; any other re-send is a bug.
BATCH_BREAKING = {"batches-failed-or-interrupted"}
READ_TIMEOUT_S = "1.5"  # well above a loaded machine's answer time, well below the delay
READ_TIMEOUT_BULK = 3


def prepare(admin: Admin, emu: EmulatorProcess, tmp_path: Path) -> tuple[Path, set[str], set[str]]:
    sample = write_sample(tmp_path / "a.csv", 5000, malformed_ratio=0.01, duplicate_ratio=0.01, seed=3)
    # Contacts who opted out of the list themselves before this tool ever ran.
    list_id = create_list(emu, "Faults")["id"]
    opted = set(sorted(sample.valid)[:20])
    admin.post("/contacts", {"contacts": [{"email": e, "lists": {str(list_id): 2}} for e in opted]})
    return sample.path, set(sample.valid), opted


def check(admin: Admin, valid: set[str], opted: set[str], extra_allowed: int) -> None:
    assert admin.members("Faults") == valid - opted
    assert admin.members("Faults", status=2) == opted
    batches = math.ceil(len(valid - opted) / 250)
    assert batches <= admin.accepted_bulk() <= batches + extra_allowed


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_sync_survives(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    admin = Admin(sync_env.base_url)
    if fault == "read-timeouts":
        monkeypatch.setenv("AC_SYNC_REQUEST_TIMEOUT_S", READ_TIMEOUT_S)
    audience, valid, opted = prepare(admin, sync_env, tmp_path)
    admin.post("/faults", {"rules": FAULTS[fault]})
    code, summary = await sync(audience=str(audience), list_name="Faults", group_name="Admin", pause_timeout=0)
    assert code == 0, summary
    assert summary["opted_out"] == len(opted)
    extra = summary["batches_resent"] if fault in BATCH_BREAKING else 0
    if fault in BATCH_BREAKING:
        assert summary["batches_resent"] > 0
    if fault == "read-timeouts":
        assert summary["requests"]["transport_error"] >= READ_TIMEOUT_BULK  # the client did time out
        extra = READ_TIMEOUT_BULK
        # A request the client gave up on is still being answered: let it land here, not in the next test.
        deadline = asyncio.get_running_loop().time() + 30
        while any(r["status"] is None for r in admin.requests()):
            assert asyncio.get_running_loop().time() < deadline, "a delayed request was never answered"
            await asyncio.sleep(0.1)
    check(admin, valid, opted, extra)


async def test_key_revoked_mid_run_then_restored(sync_env: EmulatorProcess, tmp_path: Path, pauses: PauseWatch) -> None:
    admin = Admin(sync_env.base_url)
    audience, valid, opted = prepare(admin, sync_env, tmp_path)
    run = asyncio.create_task(sync(audience=str(audience), list_name="Faults", group_name="Admin", pause_timeout=120))
    while admin.accepted_bulk() < 5:
        await asyncio.sleep(0.01)
    admin.post("/keys", {"valid": ["some-other-key"]})  # revoked mid-upload
    notice = await pauses.paused("INVALID_CREDENTIALS")
    admin.post("/keys", {"valid": [sync_env.api_key]})  # restored
    await aresume_flow_run(UUID(notice.flow_run_id), run_input={"action": "retry"})
    code, summary = await run
    assert code == 0, summary
    check(admin, valid, opted, 0)
