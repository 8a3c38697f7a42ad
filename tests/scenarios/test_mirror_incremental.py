"""Mirror and incremental sync, step by step, each step checked against the emulator's exact state and log."""

from __future__ import annotations

import asyncio
import csv
import math
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.flow_runs import aresume_flow_run

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, PauseWatch, sync

CONTACT_WRITES = ("/api/3/import/bulk_import", "/api/3/contacts", "/api/3/contact/sync", "/api/3/contactLists")
UNCHANGED_REQUESTS = 8


def write_audience(path: Path, people: dict[str, str]) -> Path:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "first_name", "last_name"])
        for email, first in people.items():
            out.writerow([email, first, "Example"])
    return path


def since(admin: Admin, mark: int) -> list[dict[str, Any]]:
    return admin.requests()[mark:]


def writes(log: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in log:
        if r["method"] != "GET":
            out[r["path"]] = out.get(r["path"], 0) + 1
    return out


def contact_writes(log: list[dict[str, Any]]) -> dict[str, int]:
    """The writes of a run besides the list's link to the group, which every run makes again (it cannot be read)."""
    return {path: n for path, n in writes(log).items() if path != "/api/3/listGroups"}


def plan_matches(plan: dict[str, Any], log: list[dict[str, Any]]) -> None:
    """The plan's predicted write requests are exactly the run's, and its reads too (polls aside)."""
    w = writes(log)
    predicted = plan["requests"]
    assert w.get("/api/3/import/bulk_import", 0) == predicted["bulk_import"]
    assert w.get("/api/3/contactLists", 0) == predicted["contactLists"]
    assert w.get("/api/3/lists", 0) == predicted["lists"]
    assert w.get("/api/3/listGroups", 0) == predicted["listGroups"]
    reads = [r for r in log if r["method"] == "GET" and not r["path"].endswith("/import/info")]
    assert len(reads) == predicted["reads"]


async def plan_then_run(admin: Admin, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mark = len(admin.requests())
    code, planned = await sync(dry_run=True, **params)
    assert code == 0 and planned["status"] == "planned", planned
    plan_log = since(admin, mark)
    assert writes(plan_log) == {}, "a plan must only read"
    mark = len(admin.requests())
    code, summary = await sync(**params)
    assert code == 0, summary
    log = since(admin, mark)
    plan_matches(planned["plan"], log)
    return summary, log


async def test_mirror_scenario(sync_env: EmulatorProcess, tmp_path: Path, pauses: PauseWatch) -> None:
    admin = Admin(sync_env.base_url)
    people = {f"p{i}@example.com": f"First{i}" for i in range(10_000)}
    csv_path = tmp_path / "audience.csv"
    common = {"audience": str(csv_path), "list_name": "Mirror", "group_name": "Admin", "mode": "mirror"}

    # 1. Full sync of 10,000: list created and linked, everyone subscribed.
    write_audience(csv_path, people)
    summary, log = await plan_then_run(admin, **common)
    assert admin.members("Mirror") == set(people)
    assert writes(log)["/api/3/import/bulk_import"] == 40

    # 2. Unchanged: no contact writes at all; reads of who-am-I, groups, the list, fields and opt-outs, the link
    # made again, and the list read back before saying "completed".
    mark = len(admin.requests())
    code, summary = await sync(**common)
    assert code == 0, summary
    log = since(admin, mark)
    assert not any(r["method"] != "GET" and r["path"] in CONTACT_WRITES for r in log)
    assert contact_writes(log) == {} and len(log) <= UNCHANGED_REQUESTS, log

    # 3. 300 changed, 200 new, 150 left: ⌈650/250⌉ write requests, nothing else written.
    emails = list(people)
    for email in emails[:300]:
        people[email] = people[email] + "-changed"
    left = emails[300:450]
    for email in left:
        del people[email]
    people.update({f"new{i}@example.com": f"New{i}" for i in range(200)})
    write_audience(csv_path, people)
    summary, log = await plan_then_run(admin, **common)
    assert contact_writes(log) == {"/api/3/import/bulk_import": math.ceil(650 / 250)}
    assert admin.members("Mirror") == set(people)
    assert admin.members("Mirror", status=2) == set(left)
    assert (summary["subscribed"], summary["unsubscribed"]) == (500, 150)

    # 4. Someone opts out in ActiveCampaign, leaves the audience, and comes back: never re-subscribed.
    list_id = str(summary["list_id"])
    opted = emails[500]
    admin.post("/contacts", {"contacts": [{"email": opted, "lists": {list_id: 2}}]})
    del people[opted]
    write_audience(csv_path, people)
    summary, log = await plan_then_run(admin, **common)
    assert contact_writes(log) == {}  # an opted-out leaver needs no unsubscribe, and is not ours to count as removed
    people[opted] = "Back"
    write_audience(csv_path, people)
    summary, log = await plan_then_run(admin, **common)
    assert contact_writes(log) == {}
    assert summary["opted_out"] == 1 and summary["plan"]["opted_out"] == 1
    assert opted in admin.members("Mirror", status=2)

    # 5. Someone this tool removed comes back: re-subscribed, through the contact-list endpoint.
    returning = left[0]
    people[returning] = "Returning"
    write_audience(csv_path, people)
    summary, log = await plan_then_run(admin, **common)
    assert writes(log).get("/api/3/contactLists") == 1
    assert returning in admin.members("Mirror")
    assert summary["resubscribed"] == 1

    # 6. Removals over the guardrail: a typed failure before any write; approve, and it continues.
    kept = dict(list(people.items())[:5_000])
    removed = set(people) - set(kept) - {opted}
    write_audience(csv_path, kept)
    mark = len(admin.requests())
    run = asyncio.create_task(sync(**common, pause_timeout=60))
    notice = await pauses.paused("TOO_MANY_REMOVALS")
    assert contact_writes(since(admin, mark)) == {}
    await aresume_flow_run(UUID(notice.flow_run_id), run_input={"action": "approve"})
    code, summary = await run
    assert code == 0, summary
    assert admin.members("Mirror") == set(kept) - {opted}
    assert removed <= admin.members("Mirror", status=2)
    assert summary["unsubscribed"] == len(removed)


async def test_upsert_never_removes_and_full_resync_resends(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    people = {f"u{i}@example.com": "A" for i in range(600)}
    csv_path = write_audience(tmp_path / "a.csv", people)
    common = {"audience": str(csv_path), "list_name": "Up", "group_name": "Admin"}
    assert (await sync(**common))[0] == 0
    write_audience(csv_path, dict(list(people.items())[:100]))
    mark = len(admin.requests())
    code, summary = await sync(**common)
    assert code == 0 and contact_writes(since(admin, mark)) == {}
    assert admin.members("Up") == set(people)
    mark = len(admin.requests())
    code, summary = await sync(**common, full_resync=True)
    assert code == 0 and contact_writes(since(admin, mark)) == {"/api/3/import/bulk_import": 1}


async def test_campaign_list_template(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    admin.group("Marketing")
    csv_path = write_audience(tmp_path / "a.csv", {"a@example.com": "A"})
    code, summary = await sync(
        audience=str(csv_path),
        group_name="Marketing",
        campaign="Spring VIP",
        list_template="{campaign_name} – {group_name}",
    )
    assert code == 0, summary
    assert admin.members("Spring VIP – Marketing") == {"a@example.com"}
    code, summary = await sync(audience=str(csv_path), group_name="Marketing", campaign="X", list_template="{nope}")
    assert code == 2
