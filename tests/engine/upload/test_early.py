"""A first sync starts sending before its audience is fully prepared: the same list, requests and log as ever.

HEAD_ROWS and FIRST_ROWS are made small so that each part (the head's start, the rest of the head, the rest
from the full plan) carries rows, duplicates and invalid addresses, and the boundaries fall inside batches.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

import ac_sync.engine.upload.early as plan
from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, create_list, sync


async def test_first_sync_starts_early_and_ends_exact(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "HEAD_ROWS", 517)
    monkeypatch.setattr(plan, "FIRST_ROWS", 203)
    admin = Admin(sync_env.base_url)
    admin.group("Admin")
    lst = create_list(sync_env, "Early")
    sample = write_sample(tmp_path / "a.csv", 1_600, seed=5)
    # Two contacts who opted out of the list: one early in the file, one late; neither may be sent.
    with open(sample.path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    valid_in_order = [r["email"].strip().lower() for r in rows if r["email"].strip().lower() in sample.valid]
    early_out, late_out = valid_in_order[3], valid_in_order[-3]
    admin.post("/contacts", {"contacts": [{"email": e, "lists": {lst["id"]: 2}} for e in (early_out, late_out)]})

    log_path = tmp_path / "rejected.csv"
    code, summary = await sync(
        audience=str(sample.path), list_name="Early", group_name="Admin", verbose_log=str(log_path)
    )
    assert code == 0, summary
    expected = set(sample.valid) - {early_out, late_out}
    assert admin.members("Early") == expected
    assert admin.members("Early", status=2) == {early_out, late_out}
    posts = admin.bulk_imports()
    assert len(posts) == math.ceil(len(expected) / 250) == summary["batches"]
    assert all(r["status"] == 200 for r in posts)
    assert (summary["valid"], summary["invalid"], summary["duplicates"]) == (
        len(sample.valid),
        sample.invalid,
        sample.duplicates,
    )
    assert summary["subscribed"] == len(expected) and summary["opted_out"] == 2
    assert summary["plan"]["adds"] == len(expected) and summary["plan"]["requests"]["bulk_import"] == len(posts)
    with log_path.open(newline="") as fh:
        logged = list(csv.DictReader(fh))
    assert len(logged) == sample.invalid + sample.duplicates
    assert all(r["reason"].strip() for r in logged)

    # The next run finds the state the early run left: nothing to send.
    before = len(admin.requests())
    code, again = await sync(audience=str(sample.path), list_name="Early", group_name="Admin")
    assert code == 0, again
    assert again["plan"]["unchanged"] == len(expected) and again["plan"]["adds"] == 0
    assert not admin.bulk_imports(before)


async def test_first_sync_stopped_in_its_head_then_run_again_ends_exact(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The early path stops (a typed failure on its second import, inside the head) and a fresh run finishes
    from the state it left: the list it created is exact and no accepted batch is sent again."""
    monkeypatch.setattr(plan, "HEAD_ROWS", 517)
    monkeypatch.setattr(plan, "FIRST_ROWS", 203)
    admin = Admin(sync_env.base_url)
    admin.group("Admin")
    sample = write_sample(tmp_path / "a.csv", 1_600, seed=6)
    started: list[object] = []
    real_start = plan.EarlyFeed.start

    def start(feed: plan.EarlyFeed) -> None:
        started.append(feed)
        real_start(feed)

    monkeypatch.setattr(plan.EarlyFeed, "start", start)
    bulk = "^/api/3/import/bulk_import$"
    admin.post("/faults", {"rules": [{"method": "POST", "path": bulk, "status": 403, "every": 2, "times": 2}]})
    code, first = await sync(audience=str(sample.path), list_name="Early", group_name="Admin", pause_timeout=0)
    assert code == 3 and first["failure"]["code"] == "MISSING_PERMISSION", first  # the key itself still works
    assert [r["status"] for r in admin.bulk_imports()] == [200, 403]  # stopped inside the head, one batch in
    assert len(started) == 1  # by the early path

    admin.post("/faults", {"rules": []})
    code, second = await sync(audience=str(sample.path), list_name="Early", group_name="Admin", pause_timeout=0)
    assert code == 0, second
    assert admin.members("Early") == set(sample.valid)
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)
    assert second["plan"]["adds"] == len(sample.valid) - 250
    assert len(started) == 1  # the second run had a state: the usual path


async def test_audience_that_changes_while_sending_early_is_a_clear_error(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is read twice on the early path (counted, then prepared): if it changed in between, the run
    stops with one line saying so (exit 2), after the batches already confirmed, and a fresh run completes."""
    monkeypatch.setattr(plan, "HEAD_ROWS", 517)
    monkeypatch.setattr(plan, "FIRST_ROWS", 203)
    admin = Admin(sync_env.base_url)
    admin.group("Admin")
    sample = write_sample(tmp_path / "a.csv", 1_600, seed=7)
    real_finish = plan.finish_audience

    def edited_meanwhile(db_path: object, mapping: object = None) -> object:
        with open(sample.path, "a") as fh:
            fh.write("late.arrival@example.com,Late,Arrival,,\n")
        return real_finish(db_path, mapping)

    monkeypatch.setattr(plan, "finish_audience", edited_meanwhile)
    code, first = await sync(audience=str(sample.path), list_name="Early", group_name="Admin", pause_timeout=0)
    assert code == 2, first
    assert first["status"] == "failed" and "file changed while it was being synced" in first["error"]
    assert "\n" not in first["error"]

    monkeypatch.setattr(plan, "finish_audience", real_finish)
    code, second = await sync(audience=str(sample.path), list_name="Early", group_name="Admin", pause_timeout=0)
    assert code == 0, second
    assert admin.members("Early") == set(sample.valid) | {"late.arrival@example.com"}
