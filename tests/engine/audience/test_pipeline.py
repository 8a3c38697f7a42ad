"""Preparing in steps: counting first, the head of a file alone, reasons later, and the checks between them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

import ac_sync.engine.audience.count as census
from ac_sync.engine.audience import (
    AudienceError,
    audience_pending,
    check_email,
    complete_rejected,
    connect_db,
    count_audience,
    finish_audience,
    pending_counts,
    prepare_audience,
    prepare_head,
    rejected_rows,
)
from ac_sync.engine.audience.source import STAGED_SOURCE, STAGED_TABLE

DIRTY = [
    "Ann@Example.com",
    " ann@example.com ",
    "bad@@example.com",
    "",
    "n/a",
    "u@ｅｘａｍｐｌｅ.com",
    "U@example.com",
    "x@bücher.de",
    "X@xn--bcher-kva.de",
    "first--last@foo--bar.com",
    "\tbob@example.org",
    "bob@example.org",
    "user@localhost",
    "John <john@example.com>",
    "jöhn@example.com",
    "carl@example.com",
]


def write_csv(path: Path, emails: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "first_name", "tags"])
        writer.writerows([e, f"Name {i}", "b; a; b" if i % 2 else ""] for i, e in enumerate(emails, start=1))
    return path


def fetch(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect_db(db) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    # Repeated so that duplicates span far-apart rows and every tier has several rows.
    return write_csv(tmp_path / "dirty.csv", DIRTY * 3)


def test_counting_agrees_with_preparing(dirty: Path, tmp_path: Path) -> None:
    full = prepare_audience(str(dirty), tmp_path / "full.duckdb")
    counted = count_audience(str(dirty), tmp_path / "counted.duckdb")
    assert counted == full
    assert audience_pending(tmp_path / "counted.duckdb") == str(dirty)
    assert pending_counts(tmp_path / "counted.duckdb") == {
        "rows": full.rows,
        "valid": full.valid,
        "invalid": full.invalid,
        "duplicates": full.duplicates,
    }
    # Until finished: an empty rejected log to add to, and no audience to read by mistake.
    assert fetch(tmp_path / "counted.duckdb", "SELECT count(*) FROM rejected") == [(0,)]
    assert not fetch(tmp_path / "counted.duckdb", "SELECT * FROM duckdb_tables() WHERE table_name = 'audience'")


def test_counting_falls_back_to_exact_when_hashes_collide(
    dirty: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = prepare_audience(str(dirty), tmp_path / "full.duckdb")
    real = census._census_sql
    # Two buckets for every address: collisions galore, caught by the second hash.
    collide = "hash(email) % 2 WHEN"
    monkeypatch.setattr(
        census, "_census_sql", lambda emails, **kw: real(emails, **kw).replace("hash(email) WHEN", collide)
    )
    assert count_audience(str(dirty), tmp_path / "counted.duckdb") == full


def test_counting_falls_back_to_exact_when_undecided_values_collide(
    dirty: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = prepare_audience(str(dirty), tmp_path / "full.duckdb")
    real = census._census_sql
    calls: list[bool] = []

    def colliding(emails: str, *, exact_undecided: bool = False) -> str:
        calls.append(exact_undecided)
        # Every undecided value in one bucket, unless grouped by text.
        return real(emails, exact_undecided=exact_undecided).replace("THEN hash(raw) END", "THEN 0 END")

    monkeypatch.setattr(census, "_census_sql", colliding)
    assert count_audience(str(dirty), tmp_path / "counted.duckdb") == full
    assert calls == [False, True]


def test_finishing_a_counted_audience(dirty: Path, tmp_path: Path) -> None:
    db = tmp_path / "counted.duckdb"
    reference = tmp_path / "full.duckdb"
    prepare_audience(str(dirty), reference)
    count_audience(str(dirty), db)
    with connect_db(db) as con:  # an early upload logged a rejection before the audience was ready
        con.execute(
            "INSERT INTO rejected (source_row, email, reason)"
            " VALUES (1, 'ann@example.com', 'rejected by ActiveCampaign: x')"
        )
    summary = finish_audience(db)
    assert summary is not None and audience_pending(db) is None
    assert finish_audience(db) is None  # nothing left to do
    query = "SELECT source_row, email, first_name, tags, fields_hash FROM audience ORDER BY source_row"
    assert fetch(db, query) == fetch(reference, query)
    # Reasons come later; the early rejection is kept.
    assert fetch(db, "SELECT count(*) FROM rejected WHERE reason IS NULL")[0][0] > 0
    assert complete_rejected(db) > 0
    expected = fetch(reference, "SELECT source_row, email, reason FROM rejected ORDER BY source_row")
    got = fetch(db, "SELECT source_row, email, reason FROM rejected ORDER BY source_row, reason")
    early = (1, "ann@example.com", "rejected by ActiveCampaign: x")
    assert got == sorted([early, *expected], key=lambda r: (r[0], r[2]))


def test_a_file_changed_since_it_was_counted(dirty: Path, tmp_path: Path) -> None:
    db = tmp_path / "counted.duckdb"
    count_audience(str(dirty), db)
    write_csv(dirty, DIRTY * 2)
    with pytest.raises(AudienceError, match="changed while it was being synced"):
        finish_audience(db)


def test_queries_run_once_into_the_database_and_are_prepared_from_there(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    summary = count_audience("SELECT 'a@example.com' AS email, 7 AS n UNION ALL SELECT 'bad', 8", db)
    assert (summary.rows, summary.valid, summary.invalid) == (2, 1, 1)
    assert summary.columns == ["email", "n"]
    assert audience_pending(db) == STAGED_SOURCE
    assert fetch(db, f"SELECT * FROM {STAGED_TABLE} ORDER BY n") == [("a@example.com", 7), ("bad", 8)]
    finish_audience(db)
    assert audience_pending(db) is None
    assert fetch(db, "SELECT email FROM audience") == [("a@example.com",)]


def test_counting_reports_a_broken_file_like_preparing(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text('email,first_name\nann@example.com,Ann\n"bob@example.com,Bob\ncid@example.com,Cid\n')
    with pytest.raises(AudienceError) as err:
        count_audience(str(path), tmp_path / "db.duckdb")
    assert str(err.value) == f"{path} line 3: Value with unterminated quote found."


@pytest.mark.parametrize("limit", [1, 2, 7, 13, 30, 1000])
def test_the_head_is_the_start_of_the_audience(dirty: Path, tmp_path: Path, limit: int) -> None:
    db = tmp_path / "full.duckdb"
    prepare_audience(str(dirty), db)
    expected = fetch(
        db,
        "SELECT source_row, email, first_name, last_name, phone, tags, fields_hash FROM audience"
        f" WHERE source_row <= {limit} ORDER BY source_row",
    )
    assert prepare_head(str(dirty), limit) == expected


def test_deferred_reasons_are_email_validators(dirty: Path, tmp_path: Path) -> None:
    now = tmp_path / "now.duckdb"
    later = tmp_path / "later.duckdb"
    prepare_audience(str(dirty), now)
    prepare_audience(str(dirty), later, defer_reasons=True)
    pending = fetch(later, "SELECT email FROM rejected WHERE reason IS NULL")
    assert pending and all(check_email(email)[0] is None for (email,) in pending)
    # Reading the log completes it.
    assert rejected_rows(later, 1000) == rejected_rows(now, 1000)
    assert complete_rejected(later) == 0


def test_pending_marker_is_beside_the_database(dirty: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    count_audience(str(dirty), db)
    marker = json.loads((tmp_path / "db.duckdb.pending.json").read_text())
    assert marker["source"] == str(dirty)
