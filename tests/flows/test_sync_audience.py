"""The five-step flow end to end, over loopback HTTP, checked against the emulator's exact final state."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import httpx

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, sync


def bulk_posts(log: list[dict]) -> list[dict]:
    return [r for r in log if r["method"] == "POST" and r["path"].endswith("/import/bulk_import")]


async def test_new_list_is_created_and_linked_to_the_group(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    group_id = admin.group("Marketing")
    sample = write_sample(tmp_path / "a.csv", 600)
    code, summary = await sync(audience=str(sample.path), list_name="Spring", group_name="Marketing")
    assert code == 0, summary
    state = admin.state()
    assert [(lst["name"], [int(g) for g in lst["group_ids"]]) for lst in state["lists"]] == [("Spring", [group_id])]
    assert admin.members("Spring") == set(sample.valid)
    assert summary["list_id"] == int(state["lists"][0]["id"]) and summary["group_id"] == group_id
    assert summary["subscribed"] == len(sample.valid)
    posts = [(r["method"], r["path"]) for r in admin.requests() if r["method"] == "POST"]
    assert posts.count(("POST", "/api/3/lists")) == 1
    assert posts.count(("POST", "/api/3/listGroups")) == 1


async def test_existing_list_is_reused(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    with httpx.Client(base_url=sync_env.api_url, headers={"Api-Token": sync_env.api_key}) as api:
        created = api.post(
            "/lists",
            json={
                "list": {
                    "name": "Loyal",
                    "stringid": "loyal",
                    "sender_url": "https://x.example",
                    "sender_reminder": "r",
                }
            },
        ).json()["list"]
        # A partially matching name that a partial filter also returns: it must not be picked.
        api.post(
            "/lists",
            json={
                "list": {
                    "name": "Loyal 2",
                    "stringid": "loyal-2",
                    "sender_url": "https://x.example",
                    "sender_reminder": "r",
                }
            },
        )
    sample = write_sample(tmp_path / "a.csv", 300)
    before = len(admin.requests())
    code, summary = await sync(audience=str(sample.path), list_name="Loyal", group_name="Admin")
    assert code == 0, summary
    assert summary["list_id"] == int(created["id"]) and summary["list_created"] is False
    assert admin.members("Loyal") == set(sample.valid)
    assert admin.members("Loyal 2") == set()
    posts = [r["path"] for r in admin.requests()[before:] if r["method"] == "POST"]
    assert "/api/3/lists" not in posts
    assert posts.count("/api/3/listGroups") == 1  # the group link is made sure of, once


async def test_twenty_thousand_rows_with_dirt(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    admin.group("Marketing")
    sample = write_sample(tmp_path / "big.csv", 20_000, seed=11)
    rejected_csv = tmp_path / "rejected.csv"
    code, summary = await sync(
        audience=str(sample.path), list_name="Big", group_name="Marketing", verbose_log=str(rejected_csv)
    )
    assert code == 0, summary
    assert admin.members("Big") == set(sample.valid)
    log = admin.requests()
    posts = bulk_posts(log)
    assert len(posts) == math.ceil(len(sample.valid) / 250)
    assert [r["status"] for r in posts].count(400) == 0  # no batch voided for format
    assert [r["status"] for r in log].count(429) == 0
    assert (summary["valid"], summary["invalid"], summary["duplicates"]) == (
        len(sample.valid),
        sample.invalid,
        sample.duplicates,
    )
    with rejected_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sample.invalid + sample.duplicates == summary["rejected"]
    assert all(r["reason"].strip() and r["row"].strip() for r in rows)
    assert sum(r["reason"].startswith("duplicate of row") for r in rows) == sample.duplicates


async def test_names_with_commas_quotes_and_newlines_arrive_intact(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    audience = tmp_path / "names.csv"
    audience.write_text(
        'email,first_name,last_name\n"a@example.com","Ann, Jr.","O\'Neil ""The Great"""\n'
        '"b@example.com","Bob","Line one\nline two"\n',
        encoding="utf-8",
    )
    code, summary = await sync(audience=str(audience), list_name="Names", group_name="Admin")
    assert code == 0, summary
    with httpx.Client(base_url=sync_env.api_url, headers={"Api-Token": sync_env.api_key}) as api:
        people = {c["email"]: c for c in api.get("/contacts", params={"limit": 100}).json()["contacts"]}
    assert (people["a@example.com"]["firstName"], people["a@example.com"]["lastName"]) == (
        "Ann, Jr.",
        'O\'Neil "The Great"',
    )
    assert people["b@example.com"]["lastName"] == "Line one\nline two"
