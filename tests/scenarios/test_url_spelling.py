"""One account, one state: the same account reached under another spelling of its URL sends nothing again."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, sync

SPELLINGS = {
    "host-case": "http://LOCALHOST:{port}",
    "api-path-slash": "http://localhost:{port}/api/3/",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS.values()), ids=list(SPELLINGS))
async def test_another_spelling_of_the_url_is_the_same_account(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    admin = Admin(sync_env.base_url)
    port = sync_env.base_url.rsplit(":", 1)[1].strip("/")
    with (tmp_path / "a.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email"])
        out.writerows([f"u{i}@example.com"] for i in range(300))
    common = {"audience": str(tmp_path / "a.csv"), "list_name": "Spelled", "group_name": "Admin"}
    monkeypatch.setenv("AC_SYNC_API_URL", f"http://localhost:{port}")
    code, summary = await sync(**common)
    assert code == 0 and summary["subscribed"] == 300, summary
    monkeypatch.setenv("AC_SYNC_API_URL", spelling.format(port=port))
    since = len(admin.requests())
    code, summary = await sync(**common)
    assert code == 0, summary
    assert summary["plan"]["adds"] == 0 and summary["plan"]["updates"] == 0, summary["plan"]
    assert admin.accepted_bulk(since) == 0
    assert [p.name for p in (tmp_path / "state").iterdir() if p.is_dir() and p.name != "rejected"] == [
        f"localhost_{port}"
    ]


async def test_an_older_folder_under_the_host_as_typed_moves_into_place(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Admin(sync_env.base_url)
    port = sync_env.base_url.rsplit(":", 1)[1].strip("/")
    with (tmp_path / "a.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["email"], *([f"u{i}@example.com"] for i in range(120))])
    common = {"audience": str(tmp_path / "a.csv"), "list_name": "Older", "group_name": "Admin"}
    monkeypatch.setenv("AC_SYNC_API_URL", f"http://localhost:{port}")
    code, summary = await sync(**common)
    assert code == 0, summary
    state = tmp_path / "state"
    (state / f"localhost_{port}").rename(state / f"LOCALHOST_{port}")  # how an older version kept it
    since = len(admin.requests())
    code, summary = await sync(**common)
    assert code == 0 and summary["plan"]["adds"] == 0 and admin.accepted_bulk(since) == 0, summary["plan"]
    older = [p for p in (state / f"LOCALHOST_{port}").glob("list-*") if p.is_dir()]
    assert (state / f"localhost_{port}").is_dir() and older == []  # (its empty lock files may stay)
