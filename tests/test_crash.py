"""Crash safety: `ac-sync run` killed -9 at a random point of the upload, then run again, ends exactly right
with at most one batch sent twice."""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from ac_sync.sample import write_sample
from activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, sync


def accepted(admin: Admin) -> int:
    return sum(
        1
        for r in admin.requests()
        if r["method"] == "POST" and r["path"].endswith("bulk_import") and r["status"] == 200
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_at_random_point_then_rerun(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    admin = Admin(sync_env.base_url)
    admin.post("/config", {"time_scale": 2})  # slow enough that the kill lands mid-upload
    monkeypatch.setenv("AC_SYNC_TIME_SCALE", "2")
    sample = write_sample(tmp_path / "a.csv", 6000, seed=seed)
    total = math.ceil(len(sample.valid) / 250)
    kill_after = random.Random(seed).randint(1, total - 3)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    args = ["run", "--audience", str(sample.path), "--list", "Crash", "--group", "Admin", "--pause-timeout", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ac_sync.cli", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 90
        while accepted(admin) < kill_after:
            assert proc.poll() is None and asyncio.get_running_loop().time() < deadline, "upload did not progress"
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    at_kill = accepted(admin)
    assert at_kill < total
    code, summary = await sync(audience=str(sample.path), list_name="Crash", group_name="Admin", pause_timeout=0)
    assert code == 0, summary
    assert admin.members("Crash") == set(sample.valid)
    assert total <= accepted(admin) <= total + 1, (kill_after, at_kill, accepted(admin))
