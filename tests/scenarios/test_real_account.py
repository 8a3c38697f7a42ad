"""What a real account does that the first emulator did not: rights, automations, the life of a batch, the state's
identity, small changes and drift — each driven through the real flow and counted in the emulator's log."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.resolve import resolve
from ac_sync.cli.sample import write_sample
from ac_sync.cli.verify_command import VerifyAsk, run_verify
from ac_sync.engine.upload.state import SUBSCRIBED, SyncState, open_state
from tests.syncing import Admin, PauseWatch, api_request, create_list, sync


async def verify(**options: Any) -> tuple[int, dict[str, Any]]:
    """`ac-sync verify --json` in this process: (exit code, its JSON summary)."""
    out, shown = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await run_verify(VerifyAsk(**options), console=Console(file=shown), as_json=True)
    assert out.getvalue(), shown.getvalue()
    return code, json.loads(out.getvalue().strip().splitlines()[-1])


async def test_a_key_without_admin_rights_is_a_missing_permission_found_before_any_write(
    admin: Admin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marketing = admin.group("Marketing")
    admin.post("/users", {"username": "marketer", "group_id": marketing, "api_key": "marketer-key"})
    monkeypatch.setenv("AC_SYNC_API_KEY", "marketer-key")
    sample = write_sample(tmp_path / "a.csv", 50)
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Marketing", pause_timeout=0)
    assert code == 3 and summary["failure"]["code"] == "MISSING_PERMISSION", summary
    assert summary["failure"]["step"] == "ensure-group"
    assert "only the Admin group" in summary["failure"]["playbook"]
    assert [r for r in admin.requests() if r["method"] != "GET"] == []


async def test_import_info_forgetting_a_batch_four_times_still_ends_exact(admin: Admin, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 1200)
    admin.post("/faults", {"rules": [{"method": "GET", "path": "import/info", "status": 404, "times": 4}]})
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0 and summary["plan"]["unchanged"] == len(sample.valid)
    assert admin.members("L") == set(sample.valid)
    # Three unknown answers in a row send a batch again: at most one of the four 404s' batches went twice.
    assert admin.accepted_bulk() <= math.ceil(len(sample.valid) / 250) + 1


async def test_a_batch_held_past_the_deadline_ends_the_run_and_the_next_confirms_it(
    admin: Admin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = write_sample(tmp_path / "a.csv", 600)
    # The first batch stays `false` for 6 s (real seconds); the run waits 2 s at most (20 s of ActiveCampaign's
    # time at this time-scale) for a queued batch.
    rule = {"method": "POST", "path": "bulk_import", "import_status": "false", "hold_s": 6, "times": 1}
    admin.post("/faults", {"rules": [rule]})
    monkeypatch.setenv("AC_SYNC_CONFIRM_TIMEOUT_S", "2")
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0 and summary["status"] == "completed", summary
    assert summary["unconfirmed"] >= 1
    monkeypatch.delenv("AC_SYNC_CONFIRM_TIMEOUT_S")
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0 and summary["unconfirmed"] == 0, summary
    assert admin.members("L") == set(sample.valid)
    assert admin.accepted_bulk() <= math.ceil(len(sample.valid) / 250) + 1


@pytest.mark.parametrize(("automations", "runs"), [(None, 0), ("run", "all")])
async def test_automations_start_only_when_asked(
    admin: Admin, tmp_path: Path, automations: str | None, runs: object
) -> None:
    sample = write_sample(tmp_path / "a.csv", 400)
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin", automations=automations)
    assert code == 0, summary
    assert summary["automations"] == (automations or "skip")
    assert admin.state()["automation_runs"] == (len(sample.valid) if runs == "all" else 0)


async def test_new_only_starts_automations_for_contacts_new_after_the_first_sync(admin: Admin, tmp_path: Path) -> None:
    first = write_sample(tmp_path / "a.csv", 300)
    assert (await sync(audience=str(first.path), list_name="L", group_name="Admin", automations="new-only"))[0] == 0
    assert admin.state()["automation_runs"] == 0
    more = write_sample(tmp_path / "b.csv", 300, salt="x")
    both = tmp_path / "both.csv"
    both.write_text(first.path.read_text() + "".join(more.path.read_text().splitlines(keepends=True)[1:]))
    assert (await sync(audience=str(both), list_name="L", group_name="Admin", automations="new-only"))[0] == 0
    assert admin.state()["automation_runs"] == len(more.valid)


async def test_a_list_created_after_a_reset_starts_with_an_empty_state(admin: Admin, tmp_path: Path) -> None:
    old = write_sample(tmp_path / "old.csv", 300)
    assert (await sync(audience=str(old.path), list_name="Old", group_name="Admin"))[0] == 0
    admin.http.post("/reset").raise_for_status()  # the account is reset: list ids start over
    new = write_sample(tmp_path / "new.csv", 300, seed=11)  # the same addresses, mostly
    code, summary = await sync(audience=str(new.path), list_name="New", group_name="Admin")
    assert code == 0 and summary["list_id"] == 1, summary
    assert admin.members("New") == set(new.valid)


async def test_a_state_written_for_another_list_is_reported_and_start_fresh_continues(
    sync_env: EmulatorProcess, admin: Admin, tmp_path: Path, pauses: PauseWatch
) -> None:
    sample = write_sample(tmp_path / "a.csv", 200)
    assert (await sync(audience=str(sample.path), list_name="Same name", group_name="Admin"))[0] == 0
    admin.http.post("/reset").raise_for_status()
    create_list(sync_env, "Same name")  # someone re-creates it by hand: same id, another stringid
    task = asyncio.ensure_future(sync(audience=str(sample.path), list_name="Same name", group_name="Admin"))
    notice = await pauses.paused("STATE_MISMATCH")
    await resolve(notice.flow_run_id, "start-fresh", [])
    code, summary = await task
    assert code == 0, summary
    assert admin.members("Same name") == set(sample.valid)


def test_one_account_under_any_url_form_keeps_one_state(tmp_path: Path) -> None:
    legacy = SyncState(str(tmp_path), "ACME.api-us1.com/list-7")  # how an older version kept it
    legacy.checkpoint([("a@x.com", "h", SUBSCRIBED, None)])
    state = open_state(str(tmp_path), "https://acme.activehosted.com/api/3", 7)
    assert state.root.endswith("ac-acme/list-7") and not state.is_empty()
    assert open_state(str(tmp_path), "https://Acme.API-US1.com/api/3", 7).root == state.root


async def test_three_changed_contacts_take_no_bulk_import(admin: Admin, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    rows = [f"p{i}@example.com,First{i}" for i in range(600)]
    path.write_text("email,first_name\n" + "\n".join(rows) + "\n")
    assert (await sync(audience=str(path), list_name="L", group_name="Admin"))[0] == 0
    since = len(admin.requests())
    rows[:3] = [f"p{i}@example.com,Changed{i}" for i in range(3)]
    path.write_text("email,first_name\n" + "\n".join(rows) + "\n")
    code, summary = await sync(audience=str(path), list_name="L", group_name="Admin")
    assert code == 0 and summary["plan"]["updates"] == 3, summary
    assert admin.accepted_bulk(since) == 0
    assert admin.count("POST", "/contact/sync", since) == 3
    assert admin.contact("p1@example.com")["first_name"] == "Changed1"


async def test_contacts_deleted_behind_the_tools_back_are_found_and_put_back(
    sync_env: EmulatorProcess, admin: Admin, tmp_path: Path
) -> None:
    sample = write_sample(tmp_path / "a.csv", 300)
    assert (await sync(audience=str(sample.path), list_name="L", group_name="Admin"))[0] == 0
    gone = sorted(sample.valid)[:7]
    for email in gone:
        contact_id = api_request(sync_env, "GET", "/contacts", params={"email": email})["contacts"][0]["id"]
        api_request(sync_env, "DELETE", f"/contacts/{contact_id}")
    code, report = await verify(list_name="L", group_name="Admin", repair_missing=False)
    assert code == 1 and (report["missing"], report["members"]) == (7, len(sample.valid) - 7), report
    assert sorted(report["examples"]["missing"]) == gone
    code, report = await verify(list_name="L", group_name="Admin", repair_missing=True)
    assert code == 0 and (report["repaired"], report["missing"]) == (7, 0), report
    assert admin.members("L") == set(sample.valid)
    first = admin.contact(gone[0])
    assert first["first_name"]  # put back with the values the state says were sent


async def test_the_plan_and_the_first_run_say_what_a_new_list_gets(
    sync_env: EmulatorProcess, admin: Admin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = write_sample(tmp_path / "a.csv", 20)
    params = {"audience": str(sample.path), "list_name": "New", "group_name": "Admin", "pause_timeout": 0}
    code, summary = await sync(**params, dry_run=True)
    assert code == 0 and summary["new_list"]["sender_url"] == "https://www.example.com", summary
    monkeypatch.setenv("AC_SYNC_LIST_SENDER_URL", "https://shop.example.org")
    code, summary = await sync(**params)
    assert code == 0 and summary["new_list"]["sender_url"] == "https://shop.example.org", summary
    (made,) = admin.state()["lists"]
    assert api_request(sync_env, "GET", f"/lists/{made['id']}")["list"]["sender_url"] == "https://shop.example.org"
    code, summary = await sync(**params)
    assert code == 0 and summary["new_list"] is None  # found, not created


async def test_every_nth_run_verifies_the_list(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 300)
    params = {"audience": str(sample.path), "list_name": "L", "group_name": "Admin", "verify_every": 2}
    code, summary = await sync(**params)
    assert code == 0 and summary["verify"] is None
    gone = sorted(sample.valid)[:4]
    for email in gone:  # deleted behind the tool's back
        contact_id = api_request(sync_env, "GET", "/contacts", params={"email": email})["contacts"][0]["id"]
        api_request(sync_env, "DELETE", f"/contacts/{contact_id}")
    code, summary = await sync(**params)
    assert code == 0 and summary["verify"]["missing"] == 4 and summary["verify"]["status"] != "completed", summary
    code, summary = await sync(**params)
    assert summary["verify"] is None  # the count starts again
