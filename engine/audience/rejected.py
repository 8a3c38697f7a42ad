"""The rejected rows, for a downloadable CSV and for a table in the UI."""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from ac_sync.engine.errors import AudienceError
from ac_sync.engine.privacy import open_private

from .db import connect_db
from .read import iter_rows
from .source import open_source, recorded_source
from .validate import CHECKED_COLUMNS, check_rows

# A row that is not synced has no column; a cell left out of a synced contact names its column and value.
REJECTED_COLUMNS = "source_row BIGINT, email VARCHAR, reason VARCHAR, column_name VARCHAR, value VARCHAR"
REJECTED_QUERY = (
    "SELECT source_row, email, column_name, value, reason FROM rejected ORDER BY source_row, column_name NULLS FIRST"
)
# Only if email-validator accepted an address the SQL tier rejected (a property test says it cannot).
PRECHECK_REASON = "The email address is not valid."


def fill_reasons(con: duckdb.DuckDBPyConnection, table: str = "main.rejected") -> int:
    """Ask email-validator for the reason of each row in `table` whose reason is still NULL.

    The SQL tier rejects the plainly invalid addresses without a message; the wording is
    email-validator's, and it is only needed for the log, so preparing can leave it for later.
    Answers the number of rows completed (0, cheaply, when none is pending).
    """
    row = con.execute(f"SELECT count(*) FROM {table} WHERE reason IS NULL").fetchone()
    if not row or not row[0]:
        return 0
    verdicts = f"ac_sync_reasons_{uuid.uuid4().hex[:12]}"
    # A temporary table is this connection's own: concurrent fills cannot see each other's.
    con.execute(f"CREATE TEMP TABLE {verdicts} ({CHECKED_COLUMNS})")
    try:
        done = check_rows(con, f"SELECT source_row, email FROM {table} WHERE reason IS NULL", f"temp.{verdicts}")
        con.execute(f"""
            UPDATE {table} SET reason = coalesce(v.reason, '{PRECHECK_REASON}')
            FROM temp.{verdicts} v WHERE {table}.source_row = v.row_id AND {table}.reason IS NULL""")
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{verdicts}")
    return done


def complete_rejected(db_path: Path | str) -> int:
    """fill_reasons on the audience database at `db_path` (see prepare_audience's defer_reasons)."""
    if not Path(db_path).exists():
        raise AudienceError(f"no prepared audience at {db_path}")
    con = connect_db(db_path)
    try:
        return fill_reasons(con)
    finally:
        con.close()


LOG_COLUMNS = ["row", "email", "column", "value", "reason"]
_DUPLICATE = re.compile(r"duplicate of row (\d+)")


def shown_row(source: str | None, source_row: int) -> int:
    """A row's number as the person who made the source sees it: in a CSV file the spreadsheet's row (the
    header is row 1, so the first record is row 2); elsewhere the record's number (the first is 1)."""
    return source_row + 1 if source is not None and source.lower().endswith(".csv") else source_row


def write_rejected_csv(
    db_path: Path | str, out_path: Path | str, digest: Callable[[str | None], str] | None = None
) -> int:
    """Write `row,email,column,value,reason` (with `digest`, a `digest` column after `email`: the one the UI's
    masked rows show) and then the row's original values, one column each as the source names them (RFC 4180
    quoting), to out_path, a file only its owner reads; return the number of rows. `row` is shown_row's. With
    no rejected rows no file is written."""
    complete_rejected(db_path)
    if sum(count_rejected(db_path)) == 0:
        return 0
    source = recorded_source(db_path)
    count = 0
    names = LOG_COLUMNS if digest is None else [*LOG_COLUMNS[:2], "digest", *LOG_COLUMNS[2:]]
    con = connect_db(db_path)
    try:
        query, original = _with_originals(con, source)
        with open_private(Path(out_path), newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(names + [f"original {name}" if name in names else name for name in original])
            for row in iter_rows(con, query):
                reason = _renumbered(source, row["reason"] or "")
                email = row["email"]
                writer.writerow(
                    [shown_row(source, row["source_row"]), email, *([] if digest is None else [digest(email)])]
                    + [row["column_name"], row["value"], reason]
                    + [_text(row.get(f"__o{i}")) for i in range(len(original))]
                )
                count += 1
    finally:
        con.close()
    return count


def _renumbered(source: str | None, reason: str) -> str:
    """ "duplicate of row N" in the numbering the log's `row` column uses."""
    return _DUPLICATE.sub(lambda m: f"duplicate of row {shown_row(source, int(m[1]))}", reason)


def _with_originals(con: duckdb.DuckDBPyConnection, source: str | None) -> tuple[str, list[str]]:
    """The log's query, joined to the source's rows by their number when the source can be read again."""
    if source is None:
        return REJECTED_QUERY, []
    try:
        opened = open_source(con, source, None, "main")
        relation = f"(SELECT row_number() OVER () AS __n, * FROM {opened.relation})"
        names = [c.name for c in opened.columns]
        picks = ", ".join(f"o.{c.ident}::VARCHAR AS __o{i}" for i, c in enumerate(opened.columns))
        con.execute(f"SELECT * FROM {relation} LIMIT 0")
    except (AudienceError, duckdb.Error):
        return REJECTED_QUERY, []  # the file changed or went away since: the log without the originals
    query = f"""
        SELECT r.source_row, r.email, r.column_name, r.value, r.reason{", " + picks if picks else ""}
        FROM rejected r LEFT JOIN {relation} o ON o.__n = r.source_row
        ORDER BY r.source_row, r.column_name NULLS FIRST"""
    return query, names


ORIGINAL_MAX = 10_000  # characters of an original value in the log (a 1 MB cell would break spreadsheets)


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= ORIGINAL_MAX else f"{text[:ORIGINAL_MAX]}… ({len(text):,} characters)"


def rejected_rows(db_path: Path | str, limit: int = 100) -> list[dict[str, Any]]:
    """The first `limit` rejected rows in source order, as the CSV numbers them (one numbering: `row`, and the
    "duplicate of row N" of a reason, are shown_row's): dicts with row, email, column_name, value, reason."""
    complete_rejected(db_path)
    source = recorded_source(db_path)
    rows = list(iter_rows(db_path, REJECTED_QUERY + " LIMIT ?", [limit]))
    return [
        {
            "row": shown_row(source, row.pop("source_row")),
            **row,
            "reason": _renumbered(source, row.get("reason") or ""),
        }
        for row in rows
    ]


def count_rejected(db_path: Path | str) -> tuple[int, int]:
    """(rows not synced: invalid, duplicate or refused by ActiveCampaign; cells left out of synced contacts)."""
    if not Path(db_path).exists():
        raise AudienceError(f"no prepared audience at {db_path}")
    con = connect_db(db_path)
    try:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE column_name IS NULL), count(*) FILTER (WHERE column_name IS NOT NULL)"
            " FROM rejected"
        ).fetchone()
    finally:
        con.close()
    return (int(row[0]), int(row[1])) if row else (0, 0)
