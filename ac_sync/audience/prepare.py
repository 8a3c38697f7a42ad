"""The audience pipeline: source -> staged rows -> validated, de-duplicated `audience` + `rejected`.

All row data stays in DuckDB; Python only sees the few addresses the SQL fast path does not accept,
one chunk at a time. Staging tables live in an in-memory attached database (spilling to the temp
directory under the memory limit), so the audience file only ever gains the two published tables.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .db import connect_db, temp_dir_for
from .emails import check_email, fast_email_sql
from .errors import AudienceError, one_line
from .fields import (
    TEXT_FIELDS,
    clean_text_sql,
    fields_hash_sql,
    pick_columns,
    tag_set_sql,
    tags_sql,
    text_sql,
)
from .source import OpenedSource, open_source

CHECK_CHUNK_ROWS = 50_000
# Repeated bad values ("n/a", "-") are common; remembering verdicts skips re-validating them.
VERDICT_CACHE_MAX = 100_000

AUDIENCE_DDL = """
CREATE TABLE audience (
    source_row BIGINT,
    email VARCHAR,
    first_name VARCHAR,
    last_name VARCHAR,
    phone VARCHAR,
    tags VARCHAR[],
    fields_hash VARCHAR
)"""
REJECTED_DDL = "CREATE TABLE rejected (source_row BIGINT, email VARCHAR, reason VARCHAR)"


@dataclass(frozen=True)
class AudienceSummary:
    rows: int  # rows the source returned
    valid: int  # distinct valid normalised emails
    invalid: int  # rows rejected for syntax (including a missing email)
    duplicates: int  # rows dropped as duplicates of an earlier row (after normalising)
    columns: list[str]  # columns the source had


def prepare_audience(source: str, db_path: Path, *, database_url: str | None = None) -> AudienceSummary:
    """Load `source` into `audience` and `rejected` in the DuckDB file `db_path`, replacing earlier ones.

    Raises AudienceError (one-line message) for anything wrong with the source or its configuration;
    the published tables are then left as they were. Other tables in the file are not touched.
    """
    source = os.fspath(source)  # a Path is as good as its text
    db_path = Path(db_path)
    con = connect_db(db_path)
    # Attached databases belong to the DuckDB instance, which other connections to the same file
    # share: a unique name keeps concurrent or interrupted runs from colliding.
    stage = f"ac_sync_stage_{uuid.uuid4().hex[:12]}"
    try:
        con.execute(f"ATTACH ':memory:' AS {stage}")
        try:
            opened = open_source(con, source, database_url, stage)
            _stage_rows(con, opened, stage)
            opened.after_load(con)
            _check_slow_path(con, stage)
            _deduplicate(con, stage)
            rows, valid, invalid = _publish(con, stage)
        except duckdb.Error as exc:
            # Disk full, temp directory not writable and the like: still one line for the user.
            raise AudienceError(f"preparing the audience failed: {one_line(exc)}") from None
        finally:
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DETACH {stage}")
    finally:
        con.close()
        _remove_empty_dir(temp_dir_for(db_path))
    return AudienceSummary(
        rows=rows,
        valid=valid,
        invalid=invalid,
        duplicates=rows - valid - invalid,
        columns=list(opened.source_columns),
    )


def _stage_rows(con: duckdb.DuckDBPyConnection, opened: OpenedSource, stage: str) -> None:
    """One pass over the source: the fast path's email verdict and the cleaned contact fields.

    The table's rowid (insertion order, which DuckDB preserves) becomes source_row.
    """
    picked = pick_columns(opened.columns)
    inner = [f"{text_sql(picked['email'])} AS email_raw"]
    inner += [f"{clean_text_sql(text_sql(picked.get(f)))} AS {f}" for f in TEXT_FIELDS]
    inner.append(f"{tags_sql(picked.get('tags'))} AS tag_list")
    # Nested selects so our aliases can never be confused with same-named source columns.
    sql = f"""
        CREATE TABLE {stage}.rows AS
        SELECT email_raw,
               CASE WHEN fast THEN lower(email_trim) END AS email,
               fast,
               fast AS keep,
               {", ".join(TEXT_FIELDS)},
               tags
        FROM (
            SELECT *,
                   coalesce({fast_email_sql("email_trim")}, false) AS fast,
                   {tag_set_sql("tag_list")} AS tags
            FROM (
                SELECT *, trim(email_raw) AS email_trim
                FROM (SELECT {", ".join(inner)} FROM {opened.relation})
            )
        )"""
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise AudienceError(f"cannot read the audience: {one_line(exc)}") from None


def _check_slow_path(con: duckdb.DuckDBPyConnection, stage: str) -> None:
    """Run email-validator over every row the SQL fast path did not accept, chunk by chunk."""
    con.execute(f"CREATE TABLE {stage}.checked (source_row BIGINT, email_raw VARCHAR, email VARCHAR, reason VARCHAR)")
    # Reading through a second connection lets the appender write on the first meanwhile.
    reader = con.cursor()
    try:
        result = reader.execute(f"SELECT rowid + 1, email_raw FROM {stage}.rows WHERE NOT fast")
        cache: dict[str | None, tuple[str | None, str | None]] = {}
        with con.appender(f"{stage}.checked") as appender:
            while chunk := result.fetchmany(CHECK_CHUNK_ROWS):
                verdicts = []
                for source_row, raw in chunk:
                    verdict = cache.get(raw)
                    if verdict is None:
                        verdict = cache[raw] = check_email(raw)
                    verdicts.append((source_row, raw, *verdict))
                appender.append_rows(verdicts)
                appender.flush()
                if len(cache) > VERDICT_CACHE_MAX:
                    cache.clear()
    finally:
        reader.close()


def _deduplicate(con: duckdb.DuckDBPyConnection, stage: str) -> None:
    """Mark the rows that make the audience (`keep`) and list the duplicates in a stage table.

    Everything is decided with small updates to the staged rows rather than joins in the final
    write: DuckDB's joins do not preserve row order, and sorting 10 M rows again would cost more.
    """
    con.execute(f"""
        UPDATE {stage}.rows SET email = c.email, keep = true
        FROM {stage}.checked c
        WHERE c.source_row = {stage}.rows.rowid + 1 AND c.reason IS NULL""")
    # Only emails seen more than once need a second look, and those are few.
    con.execute(f"""
        CREATE TABLE {stage}.repeated AS
        SELECT email, min(rowid) + 1 AS first_row
        FROM {stage}.rows WHERE keep GROUP BY email HAVING count(*) > 1""")
    con.execute(f"""
        CREATE TABLE {stage}.duplicates AS
        SELECT r.rowid + 1 AS source_row, r.email_raw, f.first_row
        FROM {stage}.rows r JOIN {stage}.repeated f ON f.email = r.email
        WHERE r.keep AND r.rowid + 1 > f.first_row""")
    con.execute(f"""
        UPDATE {stage}.rows SET keep = false
        FROM {stage}.duplicates d WHERE d.source_row = {stage}.rows.rowid + 1""")


def _publish(con: duckdb.DuckDBPyConnection, stage: str) -> tuple[int, int, int]:
    """Replace audience and rejected in one transaction; return (rows, valid, invalid)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DROP TABLE IF EXISTS main.audience")
        con.execute(AUDIENCE_DDL)
        # A plain filtered scan keeps the staged (source) order, so no sort is needed. The hash is
        # computed here, for kept rows only, so the staged rows stay smaller.
        con.execute(f"""
            INSERT INTO main.audience
            SELECT rowid + 1, email, first_name, last_name, phone, tags, {fields_hash_sql(*TEXT_FIELDS, "tags")}
            FROM {stage}.rows WHERE keep""")
        con.execute("DROP TABLE IF EXISTS main.rejected")
        con.execute(REJECTED_DDL)
        con.execute(f"""
            INSERT INTO main.rejected
            SELECT source_row, email_raw, reason FROM {stage}.checked WHERE reason IS NOT NULL
            UNION ALL
            SELECT source_row, email_raw, 'duplicate of row ' || first_row FROM {stage}.duplicates
            ORDER BY 1""")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    counts = con.execute(f"""
        SELECT (SELECT count(*) FROM {stage}.rows),
               (SELECT count(*) FROM main.audience),
               (SELECT count(*) FROM {stage}.checked WHERE reason IS NOT NULL)""").fetchone()
    assert counts is not None
    return counts[0], counts[1], counts[2]


def _remove_empty_dir(path: Path) -> None:
    # DuckDB removes its spill files on close but leaves the directory behind.
    with contextlib.suppress(OSError):
        path.rmdir()
