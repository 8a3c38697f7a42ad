"""The audience pipeline: source -> one staged table -> validated, de-duplicated `audience` + `rejected`.

The source is read once, into a work table in the audience file that already holds every output column
(normalised fields, the email's SQL verdict, the fields hash). Everything after that touches only the
few rows that need it: email-validator runs over the addresses SQL could not decide, duplicates are
found through a 64-bit hash pre-filter, and the work table becomes `audience` by deleting the rejected
rows, dropping its two helper columns and renaming it — so the 10 M rows are written once. Python sees
only the undecided addresses, one chunk at a time.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ac_sync.engine.errors import AudienceError, one_line

from .db import connect_db, temp_dir_for
from .mapping import ColumnMapping, map_columns
from .normalise import (
    HELPER_COLUMNS,
    NAIVE_COLUMN,
    REJECTED,
    UNDECIDED,
    VALID,
    bad_column,
    fallible,
    rows_select,
    staged_columns,
)
from .rejected import REJECTED_COLUMNS, fill_reasons
from .source import STAGED_SOURCE, OpenedSource, open_source, record_source
from .validate import CHECKED_COLUMNS, check_rows
from .values import reason_sql


@dataclass(frozen=True)
class AudienceSummary:
    rows: int  # rows the source returned
    valid: int  # distinct valid normalised emails
    invalid: int  # rows rejected for syntax (including a missing email)
    duplicates: int  # rows dropped as duplicates of an earlier row (after normalising)
    columns: list[str]  # columns the source had
    rejected_values: int = 0  # cells left out of a synced contact because they do not fit their field
    naive_datetimes: int = 0  # synced date-time values that carried no zone, taken as UTC
    notes: list[str] = field(default_factory=list)  # warnings about the source, for the run's log


def prepare_audience(
    source: str,
    db_path: Path,
    *,
    mapping: ColumnMapping | None = None,
    database_url: str | None = None,
    defer_reasons: bool = False,
    keep_rejected: bool = False,
) -> AudienceSummary:
    """Load `source` into `audience` and `rejected` in the DuckDB file `db_path`, replacing earlier ones.

    Raises AudienceError (one-line message) for anything wrong with the source or its configuration;
    the published tables are then left as they were. Other tables in the file are not touched.

    With `defer_reasons`, rows that SQL rejected are in `rejected` with a NULL reason, for
    `fill_reasons` to complete later (reading the log through this package does so): every verdict and
    count is final either way, only the wording of email-validator's message is left to ask. With
    `keep_rejected`, the rows are added to an existing `rejected` table instead of replacing it (an
    upload that started early may already have logged rows there). `mapping` decides which columns feed
    which fields; without one, only the standard fields are read (by their spellings).
    """
    source = os.fspath(source)  # a Path is as good as its text
    db_path = Path(db_path)
    con = connect_db(db_path)
    # Attached databases belong to the DuckDB instance, which other connections to the same file
    # share: unique names keep concurrent or interrupted runs from colliding.
    tag = uuid.uuid4().hex[:12]
    stage = f"ac_sync_stage_{tag}"
    work, rejected = f"main.ac_sync_work_{tag}", f"main.ac_sync_rejected_{tag}"
    try:
        con.execute(f"ATTACH ':memory:' AS {stage}")
        try:
            opened = open_source(con, source, database_url, stage)
            mapping = mapping or map_columns(opened.columns, None)
            rows, valid, invalid = _prepare(con, opened, mapping, work, stage)
            _write_rejected(con, work, stage, rejected)
            bad_values = _write_rejected_values(con, mapping, work, stage, rejected)
            naive = _count_naive(con, mapping, work, stage)
            if not defer_reasons:
                fill_reasons(con, rejected)
            _shape_audience(con, mapping, work, stage)
            _publish(con, work, rejected, keep_rejected=keep_rejected)
        except duckdb.Error as exc:
            # Disk full, temp directory not writable and the like: still one line for the user.
            raise AudienceError(f"preparing the audience failed: {one_line(exc)}") from None
        finally:
            for cleanup in (f"DROP TABLE IF EXISTS {work}", f"DROP TABLE IF EXISTS {rejected}", f"DETACH {stage}"):
                with contextlib.suppress(duckdb.Error):
                    con.execute(cleanup)
    finally:
        con.close()
        _remove_empty_dir(temp_dir_for(db_path))
    if database_url is None:  # a PostgreSQL query is not run again for the log (nothing else runs)
        record_source(db_path, source)
    return AudienceSummary(
        rows=rows,
        valid=valid,
        invalid=invalid,
        duplicates=rows - valid - invalid,
        columns=list(opened.source_columns),
        rejected_values=bad_values,
        naive_datetimes=naive,
    )


# The head is a few thousand rows, in a private in-memory database.
HEAD_MEMORY_LIMIT = "256MB"


def audience_columns(mapping: ColumnMapping) -> list[str]:
    """The published audience table's columns, in order: what a row to send is read from."""
    helpers = {*HELPER_COLUMNS, NAIVE_COLUMN, *(bad_column(m.target.field.id) for m in fallible(mapping))}  # type: ignore[union-attr]
    return [c for c in staged_columns(mapping) if c not in helpers]


def prepare_head(
    source: str, limit: int, mapping: ColumnMapping | None = None, db_path: Path | str | None = None
) -> list[tuple[Any, ...]]:
    """The audience rows among the first `limit` rows of a source, in order, prepared apart from the audience.

    Whether a row is in the audience depends only on the rows before it (its email's first occurrence
    wins), so these are exactly the first rows of the full audience: a first sync can start sending
    them while the rest is prepared. Rows are (email, first_name, last_name, phone, tags, fields_hash,
    source_row). The source must be one prepare_audience has already read without error; a query's rows
    were staged in the audience database `db_path` (STAGED_SOURCE), which the head reads there, its own work
    kept in a private in-memory database; a file is read where it lies.
    """
    staged = source == STAGED_SOURCE
    if staged and db_path is None:
        raise ValueError("a staged audience's head is read from its audience database: give db_path")
    con = connect_db(db_path) if staged and db_path is not None else duckdb.connect()
    stage = f"ac_sync_head_{uuid.uuid4().hex[:12]}"
    try:
        if not staged:
            con.execute(f"SET memory_limit = '{HEAD_MEMORY_LIMIT}'")
            con.execute("SET preserve_insertion_order = true")
        con.execute(f"ATTACH ':memory:' AS {stage}")
        opened = open_source(con, os.fspath(source), None, "main")
        mapping = mapping or map_columns(opened.columns, None)
        work = f"{stage}.head"
        _prepare(con, opened, mapping, work, stage, limit=limit)
        columns = [f"{_ORDER} AS source_row" if c == "source_row" else c for c in audience_columns(mapping)]
        rows = con.execute(f"""
            SELECT {", ".join(columns)}
            FROM {work}
            WHERE cls = {VALID} AND rowid NOT IN (SELECT row_id FROM {stage}.duplicates)
            ORDER BY source_row""").fetchall()
    except duckdb.Error as exc:
        raise AudienceError(f"preparing the audience failed: {one_line(exc)}") from None
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"DETACH {stage}")
        con.close()
    return rows


def _prepare(
    con: duckdb.DuckDBPyConnection,
    opened: OpenedSource,
    mapping: ColumnMapping,
    work: str,
    stage: str,
    *,
    limit: int | None = None,
) -> tuple[int, int, int]:
    """Stage, validate and de-duplicate into `work` (+ helper tables in `stage`); answers (rows, valid, invalid)."""
    _stage_rows(con, opened, mapping, work, limit)
    opened.after_load(con)
    rows = _count(con, f"SELECT count(*) FROM {work}")
    _check_undecided(con, work, stage)
    duplicates = _find_duplicates(con, work, stage)
    invalid = _count(
        con,
        f"SELECT (SELECT count(*) FROM {work} WHERE cls = {REJECTED})"
        f" + (SELECT count(*) FROM {stage}.checked WHERE reason IS NOT NULL)",
    )
    return rows, rows - invalid - duplicates, invalid


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _stage_rows(
    con: duckdb.DuckDBPyConnection, opened: OpenedSource, mapping: ColumnMapping, work: str, limit: int | None
) -> None:
    """The one pass over the source. DuckDB keeps insertion order, so the rowid is the source row - 1."""
    try:
        con.execute(f"CREATE TABLE {work} AS {rows_select(mapping, opened.relation, limit=limit)}")
    except duckdb.Error as exc:
        raise AudienceError(f"cannot read the audience: {one_line(exc)}") from None


def _check_undecided(con: duckdb.DuckDBPyConnection, work: str, stage: str) -> None:
    """email-validator over the addresses SQL could not decide; its verdict and normal form are final.

    Updating a text column in place costs seconds even for a few thousand rows scattered over 10 M, so
    each row email-validator accepts is appended again with its email (and its source_row, as the
    rowid no longer says it) and the original is left undecided, to be deleted with the rejected rows.
    """
    con.execute(f"CREATE TABLE {stage}.checked ({CHECKED_COLUMNS})")
    if not check_rows(con, f"SELECT rowid, raw FROM {work} WHERE cls = {UNDECIDED}", f"{stage}.checked"):
        return
    con.execute(f"""
        INSERT INTO {work}
        SELECT w.* REPLACE (w.rowid + 1 AS source_row, c.email AS email, {VALID}::UTINYINT AS cls)
        FROM {work} w JOIN {stage}.checked c ON w.rowid = c.row_id
        WHERE w.rowid IN (SELECT row_id FROM {stage}.checked WHERE reason IS NULL)""")


# Rows keep their place (source_row = rowid + 1) except the few appended by _check_undecided.
_ORDER = "coalesce(source_row, rowid + 1)"


def _find_duplicates(con: duckdb.DuckDBPyConnection, work: str, stage: str) -> int:
    """List the valid rows whose email an earlier row already has; answer how many there are.

    Grouping 10 M 64-bit hashes is much cheaper than grouping the strings; a hash seen more than once
    only nominates candidates, which are then grouped by the email itself, so a collision costs nothing.
    """
    con.execute(f"""
        CREATE TABLE {stage}.repeated AS
        SELECT hash(email) AS h FROM {work} WHERE cls = {VALID} GROUP BY h HAVING count(*) > 1""")
    con.execute(f"""
        CREATE TABLE {stage}.duplicates AS
        SELECT row_id, source_row, raw, first_row FROM (
            SELECT rowid AS row_id, {_ORDER} AS source_row, coalesce(raw, email) AS raw,
                   min({_ORDER}) OVER (PARTITION BY email) AS first_row
            FROM {work}
            WHERE cls = {VALID} AND hash(email) IN (SELECT h FROM {stage}.repeated)
        ) WHERE source_row > first_row""")
    return _count(con, f"SELECT count(*) FROM {stage}.duplicates")


def _write_rejected(con: duckdb.DuckDBPyConnection, work: str, stage: str, rejected: str) -> None:
    """Every row that is not in the audience, with its row number and reason."""
    con.execute(f"CREATE TABLE {rejected} ({REJECTED_COLUMNS})")
    con.execute(f"""
        INSERT INTO {rejected} (source_row, email, reason)
        SELECT * FROM (
            SELECT rowid + 1 AS source_row, raw AS email, NULL::VARCHAR AS reason FROM {work} WHERE cls = {REJECTED}
            UNION ALL
            SELECT row_id + 1, raw, reason FROM {stage}.checked WHERE reason IS NOT NULL
            UNION ALL
            SELECT source_row, raw, 'duplicate of row ' || first_row FROM {stage}.duplicates
        ) ORDER BY source_row""")


def _synced_rows(stage: str) -> str:
    """The staged rows that become audience rows: valid, first of their email."""
    return f"cls = {VALID} AND rowid NOT IN (SELECT row_id FROM {stage}.duplicates)"


def _write_rejected_values(
    con: duckdb.DuckDBPyConnection, mapping: ColumnMapping, work: str, stage: str, rejected: str
) -> int:
    """A rejected-rows entry for each cell of a synced contact that does not fit its field; answers how many."""
    total = 0
    for m in fallible(mapping):
        fld = m.target.field
        assert fld is not None
        bad = bad_column(fld.id)
        inserted = con.execute(
            f"""
            INSERT INTO {rejected} (source_row, email, reason, column_name, value)
            SELECT {_ORDER}, email, {reason_sql(bad, fld)}, ?, {bad} FROM {work}
            WHERE {bad} IS NOT NULL AND {_synced_rows(stage)}""",
            [m.column.name],
        ).fetchone()
        total += int(inserted[0]) if inserted else 0
    return total


def _count_naive(con: duckdb.DuckDBPyConnection, mapping: ColumnMapping, work: str, stage: str) -> int:
    if NAIVE_COLUMN not in staged_columns(mapping):
        return 0
    return _count(con, f"SELECT count(*) FROM {work} WHERE {NAIVE_COLUMN} AND {_synced_rows(stage)}")


def _shape_audience(con: duckdb.DuckDBPyConnection, mapping: ColumnMapping, work: str, stage: str) -> None:
    """Turn the work table into the audience in place: drop rejected rows, number rows, drop helpers.

    Deleting marks rows and dropping a column forgets it, so none of this rewrites the kept rows.
    """
    con.execute(f"""
        DELETE FROM {work}
        WHERE cls <> {VALID} OR rowid IN (SELECT row_id FROM {stage}.duplicates)""")
    con.execute(f"UPDATE {work} SET source_row = rowid + 1 WHERE source_row IS NULL")
    for column in staged_columns(mapping):
        if column not in audience_columns(mapping):
            con.execute(f"ALTER TABLE {work} DROP COLUMN {column}")


def _publish(con: duckdb.DuckDBPyConnection, work: str, rejected: str, *, keep_rejected: bool) -> None:
    """Replace audience and rejected (or add to rejected) in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DROP TABLE IF EXISTS main.audience")
        con.execute(f"ALTER TABLE {work} RENAME TO audience")
        if keep_rejected and _exists(con, "rejected"):
            con.execute(f"INSERT INTO main.rejected SELECT * FROM {rejected}")
        else:
            con.execute("DROP TABLE IF EXISTS main.rejected")
            con.execute(f"ALTER TABLE {rejected} RENAME TO rejected")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
        " AND table_name = ?",
        [table],
    ).fetchone()
    return bool(found and found[0])


def _remove_empty_dir(path: Path) -> None:
    # DuckDB removes its spill files on close but leaves the directory behind.
    with contextlib.suppress(OSError):
        path.rmdir()
