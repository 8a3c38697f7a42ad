"""A full disk while the run records a batch: one line naming the path, what was not recorded and what the next
run does; the next run, with room again, ends the list exact."""

from __future__ import annotations

import csv
import errno
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, sync

PEOPLE = [f"p{i}@example.com" for i in range(700)]


@pytest.mark.parametrize("record", ["pending", "deltas"], ids=["queued-batch", "confirmed-batch"])
async def test_a_full_disk_while_recording_a_batch_is_one_line_and_the_next_run_recovers(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: str
) -> None:
    admin = Admin(sync_env.base_url)
    with (tmp_path / "a.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["email"], *([e] for e in PEOPLE)])
    params = {"audience": str(tmp_path / "a.csv"), "list_name": "Full", "group_name": "Admin", "pause_timeout": 0}
    real_open = LocalFileSystem._open
    writes = {"n": 0}

    def full(self: LocalFileSystem, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode and f"/{record}/" in str(path):
            writes["n"] += 1
            if writes["n"] >= 2:  # the first batch is recorded, the disk is full for the second
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, path, mode, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "_open", full)
    code, summary = await sync(**params)
    failure = summary["failure"]
    assert code == 2 and failure["code"] == "STATE_UNWRITABLE", summary
    message = failure["message"]
    assert "No space left on device" in message and f"/{record}/" in message and "the next run" in message
    assert "\n" not in message and "Traceback" not in message
    monkeypatch.setattr(LocalFileSystem, "_open", real_open)
    code, summary = await sync(**params)
    assert code == 0, summary
    assert admin.members("Full") == set(PEOPLE)
    # Each contact is on the list once; at most the batch whose record was lost went out twice.
    assert admin.accepted_bulk() <= 3 + 1
