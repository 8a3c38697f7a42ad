"""Reading the prepared audience back: batches, custom queries, rejected rows as CSV and for the UI."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ac_sync.engine.audience import (
    AudienceError,
    connect_db,
    count_audience,
    csv_source,
    iter_batches,
    iter_rows,
    prepare_audience,
    rejected_rows,
    write_rejected_csv,
)


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """600 valid contacts (rows 1..600), then 3 rejects: two invalid and a duplicate."""
    path = tmp_path / "people.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "first_name", "tags"])
        writer.writerows([f"user{i}@example.com", f"User {i}", "a;b"] for i in range(1, 601))
        writer.writerow(['odd, "quoted"\nemail', "Comma", ""])
        writer.writerow(["", "Blank", ""])
        writer.writerow(["USER7@example.com", "Dup", ""])
    db = tmp_path / "audience.duckdb"
    prepare_audience(str(path), db)
    return db


def test_iter_batches_default_query(prepared: Path) -> None:
    batches = list(iter_batches(prepared))
    assert [len(b) for b in batches] == [250, 250, 100]
    first = batches[0][0]
    assert set(first) == {"email", "first_name", "last_name", "phone", "tags", "fields_hash", "source_row"}
    assert first["email"] == "user1@example.com" and first["tags"] == ["a", "b"]
    rows = [r["source_row"] for b in batches for r in b]
    assert rows == list(range(1, 601))


def test_iter_batches_custom_query_with_params(prepared: Path) -> None:
    query = "SELECT email, source_row FROM audience WHERE source_row <= ? ORDER BY source_row"
    batches = list(iter_batches(prepared, query, [5], size=2))
    assert [[r["source_row"] for r in b] for b in batches] == [[1, 2], [3, 4], [5]]


def test_iter_rows_on_a_callers_connection_joining_its_own_table(prepared: Path) -> None:
    with connect_db(prepared) as con:
        con.execute("CREATE TABLE sent AS SELECT 'user2@example.com' AS email")
        sql = "SELECT a.email FROM audience a ANTI JOIN sent USING (email) WHERE a.source_row <= $n ORDER BY 1"
        rows = list(iter_rows(con, sql, {"n": 3}, chunk=1))
        # The caller's connection is still usable afterwards.
        assert con.execute("SELECT count(*) FROM sent").fetchone() == (1,)
    assert rows == [{"email": "user1@example.com"}, {"email": "user3@example.com"}]


def test_prepare_keeps_other_tables(prepared: Path, tmp_path: Path) -> None:
    with connect_db(prepared) as con:
        con.execute("CREATE TABLE sync_state AS SELECT 42 AS last_run")
    other = tmp_path / "other.csv"
    other.write_text("email\nnew@example.com\n")
    summary = prepare_audience(str(other), prepared)
    assert summary.valid == 1
    with connect_db(prepared) as con:
        assert con.execute("SELECT * FROM sync_state").fetchall() == [(42,)]
        assert con.execute("SELECT email FROM audience").fetchall() == [("new@example.com",)]
        assert con.execute("SELECT count(*) FROM rejected").fetchone() == (0,)


def test_rejected_rows_are_numbered_as_the_csv_is(prepared: Path) -> None:
    # A CSV's spreadsheet rows: the header is row 1, so record 601 is row 602 (and its duplicate's first, 8).
    assert rejected_rows(prepared, limit=10) == [
        {
            "row": 602,
            "email": 'odd, "quoted"\nemail',
            "column_name": None,
            "value": None,
            "reason": "An email address must have an @-sign.",
        },
        {"row": 603, "email": None, "column_name": None, "value": None, "reason": "missing email"},
        {
            "row": 604,
            "email": "USER7@example.com",
            "column_name": None,
            "value": None,
            "reason": "duplicate of row 8",
        },
    ]
    assert [r["row"] for r in rejected_rows(prepared, limit=2)] == [602, 603]


def test_write_rejected_csv_round_trips(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "rejected.csv"
    assert write_rejected_csv(prepared, out) == 3
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    # The spreadsheet's row numbers (the header is row 1), and each row's original values after the reason.
    assert rows[0] == ["row", "email", "column", "value", "reason", "original email", "first_name", "tags"]
    assert rows[1] == ["602", 'odd, "quoted"\nemail', "", "", rows[1][4], 'odd, "quoted"\nemail', "Comma", ""]
    assert rows[2] == ["603", "", "", "", "missing email", "", "Blank", ""]
    assert rows[3] == ["604", "USER7@example.com", "", "", "duplicate of row 8", "USER7@example.com", "Dup", ""]


def test_the_log_keeps_what_it_can_when_the_source_went_away(prepared: Path, tmp_path: Path) -> None:
    (tmp_path / "people.csv").unlink()
    out = tmp_path / "rejected.csv"
    assert write_rejected_csv(prepared, out) == 3
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["row", "email", "column", "value", "reason"] and rows[2] == ["603", "", "", "", "missing email"]


def test_write_rejected_csv_empty(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("email\nok@example.com\n")
    db = tmp_path / "db.duckdb"
    prepare_audience(str(path), db)
    out = tmp_path / "rejected.csv"
    assert write_rejected_csv(db, out) == 0
    assert not out.exists()  # no rejected rows: no file holding audience data, not even its header


def test_prepare_while_the_caller_holds_a_connection(prepared: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("email\nnew@example.com\n")
    with connect_db(prepared) as con:
        # Twice: the staging database of the first run must not linger in the shared instance.
        prepare_audience(str(other), prepared)
        prepare_audience(str(other), prepared)
        assert con.execute("SELECT email FROM audience").fetchall() == [("new@example.com",)]
        assert [r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()] == [
            "audience",
            "system",
            "temp",
        ]


def test_reading_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(AudienceError, match="no prepared audience at"):
        list(iter_batches(tmp_path / "nope.duckdb"))
    assert not (tmp_path / "nope.duckdb").exists()


# --- nothing dropped: a record the reader cannot take is named, never left out -----------------------------


def _with_row(tmp_path: Path, name: str, row: bytes) -> Path:
    lines = [b"email,first_name"] + [f"u{i}@example.com,N{i}".encode() for i in range(9)]
    lines.insert(5, row)
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


LIMIT = csv_source.LONGEST_LINE


@pytest.mark.parametrize("count", [True, False], ids=["count", "prepare"])
@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (b"big@example.com," + b"x" * (LIMIT + 1), "line 6: the line is longer than 8 MB"),
        (b"big@example.com," + b"x" * (50 << 20), "line 6: the line is longer than 8 MB"),
        (b"bad@example.com,Ren\xe9", "line 6: not valid UTF-8"),
        (b'q@example.com,"broken quote', "line 6: Value with unterminated quote found."),
    ],
    ids=["just-over-the-limit", "a-50-MB-cell", "bad-encoding-in-another-column", "broken-quote"],
)
def test_a_record_the_reader_cannot_take_refuses_the_file_naming_its_line(
    tmp_path: Path, row: bytes, needle: str, count: bool
) -> None:
    path = _with_row(tmp_path, "a.csv", row)
    read = count_audience if count else prepare_audience
    with pytest.raises(AudienceError) as err:
        read(str(path), tmp_path / "w" / "audience.duckdb")
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert "big@example.com" not in str(err.value)


def test_a_line_just_under_the_limit_is_a_row_like_any_other(tmp_path: Path) -> None:
    path = _with_row(tmp_path, "a.csv", b"long@example.com," + b"x" * (LIMIT - 100))
    summary = count_audience(str(path), tmp_path / "w" / "audience.duckdb")
    assert (summary.rows, summary.valid) == (10, 10)


def test_a_query_error_never_quotes_the_row(tmp_path: Path) -> None:
    path = _with_row(tmp_path, "a.csv", b"secret@example.com," + b"x" * (3 << 20))
    with pytest.raises(AudienceError) as err:
        count_audience(f"SELECT * FROM '{path}'", tmp_path / "w" / "audience.duckdb")
    message = str(err.value)
    assert "secret@example.com" not in message and "Original Line: (left out" in message
    assert max(len(line) for line in message.splitlines()) <= 502
