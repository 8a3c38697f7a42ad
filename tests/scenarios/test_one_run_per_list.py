"""Two runs on one list at once take turns through the list's lock: every contact is sent once, not twice."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, create_list, sync


async def test_two_runs_on_one_list_send_each_contact_once(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    create_list(sync_env, "L")  # a scheduled list's runs (two at once finding no list would each create one)
    sample = write_sample(tmp_path / "a.csv", 1500)
    params = {"audience": str(sample.path), "list_name": "L", "group_name": "Admin", "pause_timeout": 0}
    first, second = await asyncio.gather(sync(**params), sync(**params))
    assert first[0] == 0 and second[0] == 0, (first[1], second[1])
    assert admin.members("L") == set(sample.valid)
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)  # the second found it all sent


async def test_a_run_that_waits_too_long_names_the_holder(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Admin(sync_env.base_url)
    admin.config(time_scale=2)  # the first run holds the list for a while
    monkeypatch.setenv("AC_SYNC_TIME_SCALE", "2")
    monkeypatch.setenv("AC_SYNC_LOCK_WAIT_S", "0")
    sample = write_sample(tmp_path / "a.csv", 3000)
    params = {"audience": str(sample.path), "list_name": "L", "group_name": "Admin", "pause_timeout": 0}
    holder = asyncio.create_task(sync(**params))
    while admin.accepted_bulk() < 1:  # the first run is uploading: it holds the lock
        assert not holder.done(), holder.result()
        await asyncio.sleep(0.05)
    code, summary = await sync(**params)
    assert code == 2 and "another ac-sync run" in summary["error"] and "is syncing this list" in summary["error"]
    assert (await holder)[0] == 0
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)
