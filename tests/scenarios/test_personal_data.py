"""Personal data stays out of Prefect: a scan of every table of the Prefect database, after a first sync, a plan,
a typed failure, a mirror removal and an account run whose every email and mapped value holds a token, finds the
token nowhere; every file the tool wrote is private whatever the umask, and no working copy outlives its run."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.demo import seed_demo_fields
from ac_sync.cli.sample import write_sample
from ac_sync.engine.rejected_files import files_of, find_digest, rejected_root
from ac_sync.engine.workspace import CONTINUABLE
from ac_sync.flows.records import REJECTED_PREFIX, list_key
from tests.syncing import Admin, ac_sync_cli, sync

TOKEN = "qz7canary"  # in every email and every first name, and in the plan values no option takes


def tokened(source: Path, target: Path, keep: int | None = None) -> Path:
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        row[1] += TOKEN
        if row[8:9] == ["Gold"]:
            row[8] = f"Gold{TOKEN}"
    with target.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows[: None if keep is None else keep + 1])
    return target


def prefect_rows_holding(token: str) -> dict[str, int]:
    """Table -> rows of the Prefect database in which `token` appears in any column."""
    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    con = sqlite3.connect(url.split(":///", 1)[1])
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found: dict[str, int] = {}
        for table in tables:
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            if not cols:
                continue
            where = " OR ".join(f'instr(lower(CAST("{c}" AS TEXT)), ?) > 0' for c in cols)
            (n,) = con.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', [token] * len(cols)).fetchone()
            if n:
                found[table] = n
        return found
    finally:
        con.close()


@pytest.fixture
def umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


async def latest_rejected_artifact(list_name: str) -> list[dict[str, object]]:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[REJECTED_PREFIX + list_key(list_name)])),
            limit=1,
        )
    return json.loads(found[0].data) if isinstance(found[0].data, str) else found[0].data


async def test_no_email_or_mapped_value_reaches_prefect_and_every_file_is_private(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    monkeypatch.delenv("AC_SYNC_VERBOSE_LOG_PATH")  # the default: beside the sync state
    inputs = {"sample.csv", "a.csv", "syncs.yaml"}
    admin = Admin(sync_env.base_url)
    admin.post("/groups", {"title": "Marketing"})
    await seed_demo_fields(sync_env.api_url, sync_env.api_key, 10)
    sample = write_sample(tmp_path / "sample.csv", 300, salt=TOKEN, custom=True)
    audience = tokened(sample.path, tmp_path / "a.csv")
    common = {"audience": str(audience), "list_name": "Private", "group_name": "Marketing", "mode": "mirror"}
    code, summary = await sync(**common, dry_run=True)  # a plan
    assert code == 0, summary
    code, summary = await sync(**common)  # a first sync
    assert code == 0 and summary["invalid"] > 0 and summary["rejected_values"] > 0, summary
    named = summary["verbose_log"]  # relative to the state's folder; the operator prints it by that name
    assert named.startswith("rejected/Private/") and summary["verbose_log_root"] == str(tmp_path / "state")
    printed = ac_sync_cli("rejected", named)
    assert printed.returncode == 0 and TOKEN in printed.stdout.lower(), printed.stderr
    tokened(sample.path, audience, keep=200)
    code, summary = await sync(**common, max_removals="60%")  # a mirror removal
    assert code == 0 and summary["removed"] > 0, summary
    removed = sorted(set(sample.valid) - set(admin.members("Private", status=1)))
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    admin.post(
        "/contacts", {"contacts": [{"email": removed[0], "lists": {str(summary["list_id"]): 2}, "list_udate": later}]}
    )
    tokened(sample.path, audience)
    code, summary = await sync(**common)  # they come back; one unsubscribed by themselves since: held, and logged
    assert code == 0 and summary["resubscribed"] == len(removed) - 1 and summary["held"] == 1, summary
    code, summary = await sync(**{**common, "group_name": "Nobody"}, pause_timeout=0)  # a typed failure
    assert code != 0, summary
    (kept,) = (tmp_path / ".ac-sync" / "work").iterdir()  # private, marked for its Retry
    assert (kept / CONTINUABLE).exists()
    spec = tmp_path / "syncs.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "syncs": [
                    {"name": "one", "audience": str(audience), "list": "Private", "group": "Marketing"},
                    {"name": "two", "audience": str(audience), "list": "Private Two", "group": "Marketing"},
                ]
            }
        )
    )
    code, summary = await sync(syncs=str(spec))  # an account run
    assert code == 0, summary
    assert TOKEN in audience.read_text()
    assert prefect_rows_holding(TOKEN) == {}

    # The UI's masked row is found in the private file by its digest.
    shown = await latest_rejected_artifact("Private")
    assert shown and all("•••" in str(row["email"]) for row in shown)
    local, root = fsspec.filesystem("file"), rejected_root(str(tmp_path / "state"))
    hits = list(find_digest(local, root, str(shown[0]["digest"])))
    assert hits and all(TOKEN in row["email"].lower() for _, row in hits)
    assert len(files_of(local, root)) >= 4
    found = ac_sync_cli("rejected", "--find", str(shown[0]["digest"]))  # as the operator looks it up
    assert found.returncode == 0 and TOKEN in found.stdout.lower(), found.stderr
    listed = json.loads(ac_sync_cli("rejected", "--list", "Private", "--json").stdout)
    assert {f["list"] for f in listed["files"]} == {"Private"} and all(f["rows"] > 0 for f in listed["files"])

    # The consent record, read here (never in Prefect): the contact who unsubscribed themselves is in it.
    record = ac_sync_cli("consent", "--list", "Private", "--json")
    assert record.returncode == 0, record.stderr
    (kept,) = json.loads(record.stdout)["states"]
    assert removed[0] in {r["email"] for r in kept["opted_out"]} and kept["opted_out_but_subscribed"] == []
    assert len(kept["resubscribed"]) == len(removed) - 1

    # Whatever the umask, what the tool wrote is its owner's alone, and no working copy is left: the failed
    # run's, kept for its Retry, went when the account run completed its list.
    assert list((tmp_path / ".ac-sync" / "work").iterdir()) == []
    wrote = [p for p in tmp_path.rglob("*") if p.name not in inputs]
    assert any(p.suffix == ".csv" for p in wrote) and any("state" in p.parts for p in wrote)
    loose = [(str(p), oct(p.stat().st_mode & 0o777)) for p in wrote if p.stat().st_mode & 0o077]
    assert loose == []
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in wrote if p.is_file())


async def test_a_team_can_let_its_prefect_show_the_rejected_emails(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "qz8shown"
    monkeypatch.setenv("AC_SYNC_PREFECT_PERSONAL_DATA", "true")
    sample = write_sample(tmp_path / "a.csv", 120, salt=token, malformed_ratio=0.2)
    code, summary = await sync(audience=str(sample.path), list_name="Shown Emails", group_name="Admin")
    assert code == 0 and summary["invalid"] > 0, summary
    shown = await latest_rejected_artifact("Shown Emails")
    assert all(token in str(row["email"]).lower() for row in shown)
    assert "artifact" in prefect_rows_holding(token)  # the scan above sees what is there


@pytest.mark.parametrize("kind", ["parquet", "json", "duckdb-query"])
async def test_no_email_reaches_prefect_from_any_kind_of_source(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import duckdb

    monkeypatch.delenv("AC_SYNC_VERBOSE_LOG_PATH")  # the default: beside the sync state

    token = f"qz9{kind.replace('-', '')}"
    sample = write_sample(tmp_path / "a.csv", 120, salt=token, malformed_ratio=0.2)
    con = duckdb.connect()
    read = f"read_csv('{sample.path}', all_varchar=true)"
    if kind == "parquet":
        audience = str(tmp_path / "a.parquet")
        con.execute(f"COPY (SELECT * FROM {read}) TO '{audience}' (FORMAT parquet)")
    elif kind == "json":
        audience = str(tmp_path / "a.jsonl")
        con.execute(f"COPY (SELECT * FROM {read}) TO '{audience}' (FORMAT json)")
    else:
        audience = f"SELECT email, first_name FROM '{sample.path}'"
    con.close()
    code, summary = await sync(audience=audience, list_name=f"Source {kind}", group_name="Admin")
    assert code == 0 and summary["invalid"] > 0, summary
    assert prefect_rows_holding(token) == {}
    assert any(token in p.read_text().lower() for p in (tmp_path / "state" / "rejected").rglob("*.csv"))
