"""Where the features meet: every kind of source, on both sides of the early-start head and of the small-delta
limit, on a first sync and on re-syncs, in a one-list run and inside an account run.

Each case syncs an audience with invalid and duplicate rows into a new list, then re-syncs it unchanged, with
three changed contacts (few enough for the contact API), and with forty changed and five new (bulk import); the
list ends exactly the valid audience after every run, and each re-sync sends only what changed, counted in the
emulator's request log.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.postgres_server import Server
from tests.syncing import Admin, sync

HEAD = 200  # the early-start head, made small so that both of its sides are cheap
SIZES = {"below-head": HEAD - 60, "above-head": HEAD + 110}
SOURCES = ("csv", "parquet", "json", "jsonl", "duckdb-query", "postgres-query")
RUNS = ("one-list", "account")
WRITES = ("/api/3/import/bulk_import", "/api/3/contact/sync", "/api/3/contactLists", "/api/3/contacts")

Person = tuple[str, str]  # (email as written, first name)


def audience(n: int) -> list[Person]:
    """n rows: every 25th an invalid email, every 40th a duplicate (other case and spaces) of the row before."""
    rows: list[Person] = []
    for i in range(n):
        if i % 25 == 24:
            rows.append((f"broken{i}", f"F{i}"))
        elif i % 40 == 39 and rows:
            rows.append((f"  {rows[-1][0].upper()} ", f"Dup{i}"))
        else:
            rows.append((f"p{i}@example.com", f"F{i}"))
    return rows


def expected(rows: list[Person]) -> dict[str, str]:
    """The valid audience: the first row of each normalised email."""
    out: dict[str, str] = {}
    for email, first in rows:
        key = email.strip().lower()
        if "@" in key:
            out.setdefault(key, first)
    return out


class Source:
    """Writes the rows where a source of one kind reads them, and answers what `--audience` is given."""

    def __init__(self, kind: str, folder: Path, postgres: Server | None, table: str) -> None:
        self.kind, self.folder, self.postgres, self.table = kind, folder, postgres, table

    def write(self, rows: list[Person]) -> str:
        csv_path = self.folder / "people.csv"
        with csv_path.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["email", "first_name"])
            out.writerows(rows)
        if self.kind == "csv":
            return str(csv_path)
        if self.kind in ("parquet", "duckdb-query"):
            parquet = self.folder / "people.parquet"
            with duckdb.connect() as con:
                con.execute(
                    f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar=true)) TO '{parquet}' (FORMAT parquet)"
                )
            return str(parquet) if self.kind == "parquet" else f"SELECT email, first_name FROM '{parquet}'"
        if self.kind == "json":
            path = self.folder / "people.json"
            path.write_text(json.dumps([{"email": e, "first_name": f} for e, f in rows]))
            return str(path)
        if self.kind == "jsonl":
            path = self.folder / "people.jsonl"
            path.write_text("".join(json.dumps({"email": e, "first_name": f}) + "\n" for e, f in rows))
            return str(path)
        assert self.kind == "postgres-query" and self.postgres is not None
        import psycopg

        with psycopg.connect(self.postgres.url) as con, con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")
            cur.execute(f"CREATE TABLE {self.table} (n int PRIMARY KEY, email text, first_name text)")
            with cur.copy(f"COPY {self.table} FROM STDIN") as copy:
                for n, (email, first) in enumerate(rows):
                    copy.write_row((n, email, first))
        return f"SELECT email, first_name FROM {self.table} ORDER BY n"


def writes_since(admin: Admin, mark: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in admin.requests()[mark:]:
        if r["method"] != "GET" and r["path"] in WRITES and r["status"] < 300:
            out[r["path"]] = out.get(r["path"], 0) + 1
    return out


@pytest.fixture
def head(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("ac_sync.engine.upload.early.HEAD_ROWS", HEAD)
    monkeypatch.setattr("ac_sync.engine.upload.early.FIRST_ROWS", HEAD // 4)
    return HEAD


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("kind", SOURCES)
async def test_every_source_both_sides_of_every_threshold(
    sync_env: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    head: int,
    kind: str,
    size: str,
    run: str,
) -> None:
    postgres: Server | None = None
    if kind == "postgres-query":
        postgres = request.getfixturevalue("postgres")
        monkeypatch.setenv("AC_SYNC_DATABASE_URL", postgres.reader_url)
    admin = Admin(sync_env.base_url)
    source = Source(kind, tmp_path, postgres, f"people_{size.replace('-', '_')}_{run.replace('-', '_')}")
    rows = audience(SIZES[size])
    runner = _runner(run, tmp_path)

    def check(summary: dict[str, Any], rows: list[Person]) -> None:
        valid = expected(rows)
        assert admin.members("Crossing") == set(valid)
        assert (summary["audience_rows"], summary["valid"]) == (len(rows), len(valid))
        assert summary["invalid"] + summary["duplicates"] == len(rows) - len(valid)

    # First sync: the list is created, and every valid contact sent once.
    mark = len(admin.requests())
    summary = await runner(source.write(rows))
    check(summary, rows)
    assert writes_since(admin, mark) == {"/api/3/import/bulk_import": math.ceil(len(expected(rows)) / 250)}
    assert summary["subscribed"] == len(expected(rows))

    # Unchanged: nothing written.
    mark = len(admin.requests())
    summary = await runner(source.write(rows))
    check(summary, rows)
    assert writes_since(admin, mark) == {}

    # Three changed first names: under the small-delta limit, one contact write each, no bulk import.
    changed = [i for i, (email, _) in enumerate(rows) if email.startswith("p")][:3]
    for i in changed:
        rows[i] = (rows[i][0], rows[i][1] + "-renamed")
    mark = len(admin.requests())
    summary = await runner(source.write(rows))
    check(summary, rows)
    assert writes_since(admin, mark) == {"/api/3/contact/sync": 3}
    for i in changed:
        assert admin.contact(rows[i][0])["first_name"] == rows[i][1]

    # Forty changed and five new: over the limit, one bulk import.
    changed = [i for i, (email, _) in enumerate(rows) if email.startswith("p")][10:50]
    for i in changed:
        rows[i] = (rows[i][0], rows[i][1] + "-again")
    rows += [(f"new{i}@example.com", f"New{i}") for i in range(5)]
    mark = len(admin.requests())
    summary = await runner(source.write(rows))
    check(summary, rows)
    assert writes_since(admin, mark) == {"/api/3/import/bulk_import": 1}
    assert summary["subscribed"] == 45
    for i in changed:
        assert admin.contact(rows[i][0])["first_name"] == rows[i][1]


def _runner(run: str, folder: Path) -> Callable[[str], Any]:
    """A sync of the audience into the list "Crossing": alone, or as one sync of an account's syncs file."""

    async def one_list(audience: str) -> dict[str, Any]:
        code, summary = await sync(audience=audience, list_name="Crossing", group_name="Admin")
        assert code == 0, summary
        return summary

    async def account(audience: str) -> dict[str, Any]:
        spec = folder / "syncs.yaml"
        one = {"name": "crossing", "audience": audience, "list": "Crossing", "group": "Admin"}
        spec.write_text(yaml.safe_dump({"syncs": [one]}))
        code, summary = await sync(syncs=str(spec))
        assert code == 0, summary
        assert summary["status"] == "completed"
        return summary["syncs"]["crossing"]

    return one_list if run == "one-list" else account
