"""An account's syncs as one plan: overlapping lists share their imports, one sync's failure holds no other back."""

from __future__ import annotations

import asyncio
import csv
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, PauseWatch, ac_sync_cli, kill_after_accepted, start_cli, sync


def people(path: Path, emails: list[str], **extra: list[str]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "first_name", *extra])
        for n, email in enumerate(emails):
            writer.writerow([email, f"First{email.split('@')[0][1:]}", *(v[n] for v in extra.values())])
    return path


def syncs_file(path: Path, syncs: list[dict[str, Any]], **top: Any) -> Path:
    path.write_text(yaml.safe_dump({**top, "syncs": syncs}, sort_keys=False), encoding="utf-8")
    return path


def emails(n: int, start: int = 0) -> list[str]:
    return [f"p{i}@example.com" for i in range(start, start + n)]


async def test_overlapping_lists_share_imports(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Audiences "large" enough that a single list's first sync would start sending before it is prepared:
    # an account run prepares every list in full (it merges them by email).
    monkeypatch.setattr("ac_sync.engine.upload.early.HEAD_ROWS", 200)
    admin = Admin(sync_env.base_url)
    everyone, customers, vip = emails(1000), emails(600), emails(100)
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [
            {"name": "newsletter", "audience": str(people(tmp_path / "all.csv", everyone)), "list": "Newsletter"},
            {"name": "customers", "audience": str(people(tmp_path / "cust.csv", customers)), "list": "Customers"},
            {"name": "vip", "audience": "vip.csv", "list": "VIP", "mode": "mirror"},
        ],
        defaults={"group": "Admin"},
    )
    people(tmp_path / "vip.csv", vip)  # relative to the syncs file
    code, summary = await sync(syncs=str(spec))
    assert code == 0, summary
    assert admin.members("Newsletter") == set(everyone)
    assert admin.members("Customers") == set(customers)
    assert admin.members("VIP") == set(vip)
    assert admin.accepted_bulk() == math.ceil(1000 / 250)
    assert summary["imports"]["bulk_import"] == 4 and summary["imports"]["one_by_one"] == 4 + 3 + 1
    assert set(summary["syncs"]) == {"newsletter", "customers", "vip"}
    assert all(s["status"] == "completed" for s in summary["syncs"].values())
    assert admin.count("GET", "/api/3/groups") == 1
    assert admin.count("GET", "/api/3/fields") <= 1


async def test_a_resync_sends_the_distinct_changed_contacts_once(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    audiences = {"all": emails(1000), "cust": emails(600), "vip": emails(100)}
    for name, members in audiences.items():
        people(tmp_path / f"{name}.csv", members)
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [{"name": n, "audience": f"{n}.csv", "list": n.title(), "group": "Admin"} for n in audiences],
    )
    assert (await sync(syncs=str(spec)))[0] == 0
    # 1 % of each list changes its first name: 30 people, every one of them on all three lists.
    changed = set(emails(30, start=20))
    for name, members in audiences.items():
        with (tmp_path / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["email", "first_name"])
            writer.writerows([e, "Renamed" if e in changed else f"First{e.split('@')[0][1:]}"] for e in members)
    since = len(admin.requests())
    code, summary = await sync(syncs=str(spec))
    assert code == 0, summary
    assert admin.accepted_bulk(since) == 1  # ⌈30 distinct / 250⌉, not one per list
    assert summary["imports"]["bulk_import"] == 1 and summary["imports"]["one_by_one"] == 3
    assert {admin.contact(e)["first_name"] for e in changed} == {"Renamed"}
    assert {name: s["plan"]["updates"] for name, s in summary["syncs"].items()} == {"all": 30, "cust": 30, "vip": 30}


async def test_plan_for_the_account_counts_what_merging_saves(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    people(tmp_path / "a.csv", emails(800))
    people(tmp_path / "b.csv", emails(500))
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [{"name": "a", "audience": "a.csv", "list": "A"}, {"name": "b", "audience": "b.csv", "list": "B"}],
        defaults={"group": "Admin"},
    )
    code, summary = await sync(syncs=str(spec), dry_run=True)
    assert code == 0 and summary["status"] == "planned", summary
    assert summary["imports"]["bulk_import"] == 4 and summary["imports"]["one_by_one"] == 4 + 2
    assert summary["imports"]["changed_contacts"] == 800
    assert summary["syncs"]["a"]["plan"]["adds"] == 800 and summary["syncs"]["b"]["plan"]["adds"] == 500
    assert admin.state()["lists"] == [] and admin.accepted_bulk() == 0


async def test_a_campaign_sends_each_sub_audience_to_its_own_list(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    marketing = admin.group("Marketing")
    members = emails(900)
    arm = ["treatment" if i % 3 else "control" for i in range(900)]
    people(tmp_path / "spring.csv", members, arm=arm)
    people(tmp_path / "all.csv", emails(1000))
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [
            {"name": "newsletter", "audience": "all.csv", "list": "Newsletter", "group": "Marketing"},
            {
                "name": "spring",
                "audience": "spring.csv",
                "campaign": "Spring",
                "sub_audience": "arm",
                "list_template": "{campaign_name} – {sub_audience}",
                "group": "Marketing",
            },
        ],
    )
    code, summary = await sync(syncs=str(spec))
    assert code == 0, summary
    treatment = {e for e, a in zip(members, arm, strict=True) if a == "treatment"}
    assert admin.members("Spring – treatment") == treatment
    assert admin.members("Spring – control") == set(members) - treatment
    assert admin.members("Newsletter") == set(emails(1000))
    for lst in admin.state()["lists"]:
        assert [int(g) for g in lst["group_ids"]] == [marketing]
    assert admin.accepted_bulk() == math.ceil(1000 / 250)  # each contact once, with all its lists
    spring = summary["syncs"]["spring"]
    assert set(spring["sub_audiences"]) == {"treatment", "control"}
    assert spring["sub_audiences"]["treatment"]["subscribed"] == len(treatment)
    assert spring["subscribed"] == 900 and spring["status"] == "completed"


async def test_a_wrong_group_pauses_its_sync_alone(
    sync_env: EmulatorProcess, tmp_path: Path, pauses: PauseWatch
) -> None:
    admin = Admin(sync_env.base_url)
    people(tmp_path / "a.csv", emails(600))
    people(tmp_path / "b.csv", emails(300, start=400))
    people(tmp_path / "c.csv", emails(200, start=100))
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [
            {"name": "a", "audience": "a.csv", "list": "A", "group": "Admin"},
            {"name": "b", "audience": "b.csv", "list": "B", "group": "Growth"},  # no such group yet
            {"name": "c", "audience": "c.csv", "list": "C", "group": "Admin"},
        ],
    )
    run = asyncio.create_task(sync(syncs=str(spec), pause_timeout=60))
    notice = await pauses.paused("INVALID_GROUP_NAME")
    # Paused on b, the others are done: exact, in ⌈600/250⌉ shared imports.
    assert admin.members("A") == set(emails(600)) and admin.members("C") == set(emails(200, start=100))
    assert [lst["name"] for lst in admin.state()["lists"]] == ["A", "C"]
    assert admin.accepted_bulk() == 3
    resolved = ac_sync_cli("resolve", notice.flow_run_id, "--action", "create-group")
    assert resolved.returncode == 0, resolved.stderr
    code, summary = await run
    assert code == 0, summary
    assert admin.members("B") == set(emails(300, start=400))
    assert {s["status"] for s in summary["syncs"].values()} == {"completed"} and len(summary["syncs"]) == 3
    growth = next(g["id"] for g in admin.state()["groups"] if g["title"] == "Growth")
    assert [int(g) for g in next(x for x in admin.state()["lists"] if x["name"] == "B")["group_ids"]] == [int(growth)]


async def test_a_wrong_group_without_waiting_fails_only_its_sync(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    people(tmp_path / "a.csv", emails(300))
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [
            {"name": "a", "audience": "a.csv", "list": "A", "group": "Admin"},
            {"name": "b", "audience": "a.csv", "list": "B", "group": "Growth"},
        ],
    )
    code, summary = await sync(syncs=str(spec), pause_timeout=0)
    assert code == 3 and summary["status"] == "failed", summary
    assert summary["syncs"]["a"]["status"] == "completed"
    assert summary["syncs"]["b"]["failure"]["code"] == "INVALID_GROUP_NAME"
    assert admin.members("A") == set(emails(300))


async def test_kill_during_the_merged_upload_then_rerun(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Admin(sync_env.base_url)
    admin.config(time_scale=2)  # slow enough that the kill lands mid-upload
    monkeypatch.setenv("AC_SYNC_TIME_SCALE", "2")
    lists = {"all": emails(4000), "half": emails(2000, start=1000), "few": emails(300, start=3500)}
    for name, members in lists.items():
        people(tmp_path / f"{name}.csv", members)
    spec = syncs_file(
        tmp_path / "syncs.yaml",
        [{"name": n, "audience": f"{n}.csv", "list": n, "group": "Admin"} for n in lists],
    )
    total = math.ceil(4000 / 250)
    args = ["run", "--syncs", str(spec), "--pause-timeout", "0"]
    proc = start_cli(*args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await kill_after_accepted(proc, admin, 5)
    assert admin.accepted_bulk() < total
    code, summary = await sync(syncs=str(spec), pause_timeout=0)
    assert code == 0, summary
    for name, members in lists.items():
        assert admin.members(name) == set(members), name
    assert total <= admin.accepted_bulk() <= total + 1
