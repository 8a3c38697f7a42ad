"""One path for every run: a list synced alone and the same list inside an account run report alike; an account
run's end is honest and its syncs independent; the audience's form is checked before any write; a plan fills in
every fact it knows; the records of a stopped and continued run add up to the list."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import signal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from prefect.client.orchestration import get_client

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.history import list_history
from ac_sync.cli.sample import write_sample
from ac_sync.flows import alerts as alerting_module
from tests.scenarios.test_operator import Cli, run_args
from tests.syncing import Admin, create_field, create_list, sync

# Keys whose values differ between two runs of two lists by nature: which run, which list, what it cost.
APART = {"flow_run_id", "list_name", "list_id", "sync", "requests", "verbose_log", "verbose_log_root", "plan"}


def syncs_file(path: Path, syncs: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"syncs": syncs}, sort_keys=False), encoding="utf-8")
    return path


def rename(source: Path, target: Path, n: int) -> None:
    """The audience with the first name of its first `n` records changed."""
    with source.open(newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1 : n + 1]:
        row[1] = row[1] + "-renamed"
    with target.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


async def test_a_list_alone_and_in_an_account_run_report_alike(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 400, seed=4)
    changed = tmp_path / "b.csv"
    rename(sample.path, changed, 30)
    spec = tmp_path / "syncs.yaml"
    for audience in (sample.path, changed):  # a first sync, then a re-sync of 30 changes
        code, alone = await sync(audience=str(audience), list_name="Alone", group_name="Admin", mode="mirror")
        assert code == 0, alone
        syncs_file(
            spec, [{"name": "inside", "audience": str(audience), "list": "Inside", "group": "Admin", "mode": "mirror"}]
        )
        code, account = await sync(syncs=str(spec))
        assert code == 0, account
        inside = account["syncs"]["inside"]
        assert set(alone) == set(inside)
        assert {k: v for k, v in alone.items() if k not in APART} == {k: v for k, v in inside.items() if k not in APART}
        assert {k: v for k, v in alone["plan"].items() if k != "requests"} == {
            k: v for k, v in inside["plan"].items() if k != "requests"
        }
    assert admin.members("Alone") == admin.members("Inside") == set(sample.valid)
    assert alone["updated"] == inside["updated"] > 20  # the renamed records that are valid first occurrences


async def test_one_failing_sync_fails_the_run_and_holds_no_other_back(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Admin(sync_env.base_url)
    alerts: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(alerting_module, "_emit", lambda event, payload: alerts.append((event, payload)))
    create_list(sync_env, "Healthy")  # exists: its sync never creates a list
    healthy = write_sample(tmp_path / "healthy.csv", 65, malformed_ratio=0, duplicate_ratio=0, seed=1)
    broken = write_sample(tmp_path / "broken.csv", 40, seed=2)
    # Every create answered 500 and none made: the list may still appear, so the sync stops, unconfirmed.
    admin.post("/faults", {"rules": [{"method": "POST", "path": "/api/3/lists$", "status": 500}]})
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [
            {"name": "broken", "audience": str(broken.path), "list": "Broken", "group": "Admin"},
            {"name": "healthy", "audience": str(healthy.path), "list": "Healthy", "group": "Admin"},
        ],
    )
    code, summary = await sync(syncs=str(spec), pause_timeout=0)
    assert code == 3, summary
    assert summary["status"] == "failed"
    assert summary["syncs"]["healthy"]["status"] == "completed"
    assert admin.members("Healthy") == set(healthy.valid)
    failed = summary["syncs"]["broken"]
    assert failed["status"] == "failed" and failed["failure"]["code"] == "WRITE_UNCONFIRMED"
    assert failed["failure"]["step"] == "ensure-list" and failed["failure"]["playbook"]
    assert [f["sync"] for f in summary["failures"]] == ["broken"]
    async with get_client() as client:
        run = await client.read_flow_run(UUID(summary["flow_run_id"]))
    assert run.state is not None and run.state.is_failed(), run.state
    assert "sync broken: WRITE_UNCONFIRMED in step ensure-list" in (run.state.message or "")
    assert [(e, p["error"], p["lists"]) for e, p in alerts] == [
        (alerting_module.RUN_FAILED, "WRITE_UNCONFIRMED", ["Broken"])
    ]
    alerts.clear()
    # Fixed: the next run completes the broken sync and leaves the healthy one as it is.
    admin.post("/faults", {"rules": []})
    mark = len(admin.requests())
    code, summary = await sync(syncs=str(spec))
    assert code == 0 and summary["status"] == "completed", summary
    assert admin.members("Broken") == set(broken.valid)
    assert summary["syncs"]["healthy"]["added"] == 0 and admin.accepted_bulk(mark) == 1
    # The failed list's recovery is announced; the healthy list had not failed.
    assert [(e, p["list"]) for e, p in alerts] == [(alerting_module.RECOVERED, "Broken")]


async def test_a_typed_failure_of_one_sync_is_set_aside_and_the_run_ends_failed(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    one = write_sample(tmp_path / "one.csv", 50, seed=3)
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [
            {"name": "lost", "audience": str(one.path), "list": "Lost", "group": "Nobody"},
            {"name": "found", "audience": str(one.path), "list": "Found", "group": "Admin"},
        ],
    )
    code, summary = await sync(syncs=str(spec), pause_timeout=0)
    assert code == 3 and summary["status"] == "failed", summary
    assert summary["syncs"]["lost"]["failure"]["code"] == "INVALID_GROUP_NAME"
    assert summary["syncs"]["found"]["status"] == "completed" and admin.members("Found") == set(one.valid)


async def test_a_field_claimed_twice_is_refused_before_any_write(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    create_field(sync_env, "Note", perstag="NOTE")
    path = tmp_path / "a.csv"
    path.write_text("email,n1,n2\nann@example.com,x,y\n", encoding="utf-8")
    mark = len(admin.requests())
    code, summary = await sync(
        audience=str(path), list_name="Twice", group_name="Admin", fields={"n1": "NOTE", "n2": "NOTE"}
    )
    assert code == 2, summary
    assert "2 columns for 'NOTE'" in summary["error"]
    assert not [r for r in admin.requests()[mark:] if r["method"] != "GET"]  # nothing created, nothing linked
    assert admin.state()["lists"] == []


async def test_a_merged_plan_of_two_new_lists_counts_their_creations_and_links(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    a = write_sample(tmp_path / "a.csv", 30, seed=5)
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [
            {"name": "first", "audience": str(a.path), "list": "New One", "group": "Admin"},
            {"name": "second", "audience": str(a.path), "list": "New Two", "group": "Admin"},
        ],
    )
    code, summary = await sync(syncs=str(spec), dry_run=True)
    assert code == 0 and summary["status"] == "planned", summary
    for name in ("first", "second"):
        one = summary["syncs"][name]
        assert one["list_created"] and one["new_list"]["sender_url"]
        assert one["plan"]["requests"]["lists"] == 1 and one["plan"]["requests"]["listGroups"] == 1
        assert one["plan"]["adds"] == len(a.valid) and one["mode"] == "upsert"
    assert summary["imports"]["bulk_import"] == 1 and summary["imports"]["one_by_one"] == 2
    assert summary["requests"]["total"] > 0
    code, ran = await sync(syncs=str(spec))
    assert code == 0, ran
    assert all(ran["syncs"][n]["list_created"] for n in ("first", "second"))


async def test_history_keeps_plans_apart(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 40, seed=6)
    common = {"audience": str(sample.path), "list_name": "Plans Apart", "group_name": "Admin"}
    assert (await sync(**common, dry_run=True))[0] == 0
    code, summary = await sync(**common)
    assert code == 0
    runs = await list_history("Plans Apart")
    assert [r["flow_run_id"] for r in runs] == [summary["flow_run_id"]]
    assert runs[0]["added"] == len(sample.valid)
    everything = await list_history("Plans Apart", plans=True)
    assert [r["kind"] for r in everything] == ["run", "plan"] and everything[1]["added"] is None


def test_a_stopped_run_and_its_continuation_add_up_to_the_list(slow_upload: Admin, tmp_path: Path) -> None:
    admin = slow_upload
    sample = write_sample(tmp_path / "a.csv", 6000, seed=7)
    valid = len(sample.valid)
    args = [*run_args(sample.path, "Adds Up"), "--json"]
    stopped = Cli(args, tmp_path)
    # Stopped once ActiveCampaign has applied several batches and the run has confirmed (recorded) one: the
    # run polls when it chooses, so the list's count alone does not say the run knows of any yet.
    recorded = lambda: any((tmp_path / "state").rglob("deltas/*.jsonl"))  # noqa: E731
    stopped.wait_for(lambda: admin.member_count("Adds Up") >= 2000 and recorded(), "2,000 members, one recorded")
    stopped.proc.send_signal(signal.SIGINT)
    assert stopped.end(timeout=30) == 130, stopped.stderr[-3000:]
    first = json.loads(stopped.out[-1])
    assert first["status"] == "stopped" and 0 < first["added"] < valid, first
    again = Cli(args, tmp_path)
    assert again.end(timeout=300) == 0, again.stderr[-3000:]
    second = json.loads(again.out[-1])
    assert admin.members("Adds Up") == set(sample.valid)
    # What each run put on the list adds up to the list; the continuing run's counts add up to the audience.
    assert first["added"] + second["added"] == valid, (first, second)
    assert second["added"] + second["unchanged"] + second["opted_out"] == valid, second
    assert second["subscribed"] == second["added"] and second["confirmed_earlier"] <= second["added"]
    assert math.ceil(valid / 250) <= admin.accepted_bulk() <= math.ceil(valid / 250) + 1
    runs = asyncio.run(list_history("Adds Up"))
    assert [r["flow_run_id"] for r in runs] == [second["flow_run_id"], first["flow_run_id"]]
    assert [r["status"] for r in runs] == ["Completed", "Cancelled"]
    assert sum(r["added"] for r in runs) == valid
