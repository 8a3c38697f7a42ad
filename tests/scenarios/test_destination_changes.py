"""The destination changes underneath a run: "completed" only when the list is still the one written into."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, api_request, sync


async def after_accepted(admin: Admin, batches: int, deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    while admin.accepted_bulk() < batches:
        assert time.monotonic() < deadline, "the upload did not get going"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("change", ["list deleted", "account reset"])
async def test_a_list_that_goes_away_mid_upload_is_a_typed_failure_and_the_next_run_ends_exact(
    sync_env: EmulatorProcess, tmp_path: Path, change: str
) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 4000)
    common = {"audience": str(sample.path), "list_name": "Moving", "group_name": "Admin", "pause_timeout": 0}
    run = asyncio.ensure_future(sync(**common))
    await after_accepted(admin, 3)
    if change == "list deleted":
        list_id = admin.state()["lists"][0]["id"]
        api_request(sync_env, "DELETE", f"/lists/{list_id}")
    else:
        admin.http.post("/reset").raise_for_status()
    code, summary = await run
    assert code == 3 and summary["failure"]["code"] == "LIST_GONE", summary
    assert "retry" in summary["failure"]["playbook"]

    code, summary = await sync(**common)
    assert code == 0, summary
    assert admin.members("Moving") == set(sample.valid)
