"""Crash safety: `ac-sync run` killed -9 at a random point of the upload, then run again, ends exactly right
with at most one batch sent twice."""

from __future__ import annotations

import math
import random
import subprocess
from pathlib import Path

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, kill_after_accepted, start_cli, sync


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
    args = ["run", "--audience", str(sample.path), "--list", "Crash", "--group", "Admin", "--pause-timeout", "0"]
    proc = start_cli(*args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await kill_after_accepted(proc, admin, kill_after)
    at_kill = admin.accepted_bulk()
    assert at_kill < total
    code, summary = await sync(audience=str(sample.path), list_name="Crash", group_name="Admin", pause_timeout=0)
    assert code == 0, summary
    assert admin.members("Crash") == set(sample.valid)
    assert total <= admin.accepted_bulk() <= total + 1, (kill_after, at_kill, admin.accepted_bulk())
