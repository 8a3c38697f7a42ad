"""Two runs of one list at once, each holding the list's lock around ListSync as upload-contacts would: the list
gets each contact once, and the second run, planning against the first run's state, sends nothing."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from ac_sync.activecampaign.client import ACClient, RetryPolicy
from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorServer
from ac_sync.activecampaign.ratelimit import AccountLimiter, AccountLimits
from ac_sync.cli.sample import write_sample
from ac_sync.engine.audience import count_audience
from ac_sync.engine.upload.account_fields import discover_fields, map_audience
from ac_sync.engine.upload.lock import ListLock
from ac_sync.engine.upload.state import SyncState, destination_key
from ac_sync.engine.upload.sync import ListSync, SyncOptions
from tests.syncing import create_list

TIME_SCALE = 20.0


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(time_scale=TIME_SCALE)


async def one_run(
    emulator: EmulatorServer, limiter: AccountLimiter, audience: Path, db: Path, list_id: int, location: str, name: str
) -> int:
    """resume → map → plan → send under the list's lock; answers how many contacts this run wrote."""
    await asyncio.to_thread(count_audience, str(audience), db)
    client = ACClient(
        emulator.base_url,
        SecretStr(emulator.api_key),
        limits=AccountLimits(time_scale=TIME_SCALE),
        limiter=limiter,
        retry=RetryPolicy(backoff_base_s=0.01, backoff_max_s=0.05, bulk_rate_backoff_s=0.05),
    )
    async with client:
        state = SyncState(location, destination_key(client.base_url, list_id))
        async with ListLock(state, wait_s=300, owner=f"run {name}", poll_s=0.02):
            fields = await discover_fields(client)
            mapping = await map_audience(
                client, str(db), fields, {}, {}, clear_empty=False, dry_run=False, log=logging.getLogger(name)
            )
            sync = ListSync(client, str(db), list_id, location, SyncOptions(), mapping=mapping)
            try:
                await sync.resume()
                plan = await sync.plan()
                sent = await sync.send(plan)
            finally:
                sync.close()
    return sent.result.subscribed


async def test_two_runs_at_once_send_each_contact_once(
    emulator: EmulatorServer, emulator_admin: httpx.Client, tmp_path: Path
) -> None:
    # One limiter for both runs, as the process-wide registry would give them: they share one account's budget.
    limiter = AccountLimiter(AccountLimits(time_scale=TIME_SCALE))
    lst = create_list(emulator, "Both")
    sample = write_sample(tmp_path / "a.csv", 600, malformed_ratio=0, duplicate_ratio=0)
    location = str(tmp_path / "state")
    runs = [
        one_run(emulator, limiter, sample.path, tmp_path / f"{n}.duckdb", int(lst["id"]), location, n) for n in "AB"
    ]
    written = await asyncio.gather(*runs)
    assert sorted(written) == [0, len(sample.valid)]
    log = emulator_admin.get("/requests").json()
    imports = [r for r in log if r["method"] == "POST" and r["path"].endswith("/import/bulk_import")]
    assert len(imports) == math.ceil(len(sample.valid) / 250)
