"""A first, fast pass over an audience: its exact counts, and the preparation left for later.

A sync has to report the audience's counts as soon as it has read it, but which column feeds which field is
only known once the account's fields have been read (upload-contacts does that), and sending can begin long
before a 10 M-row audience is fully prepared (see prepare_head). So get-details only counts: a file is read
where it lies, a query (DuckDB's or PostgreSQL's) is run once into a staged table of the audience database;
then one scan of the email column with the same SQL verdicts and email-validator for the undecided rest.
What is still to do is recorded beside the database (`<db>.pending.json`); finish_audience does it with the
mapping, and checks that the full preparation finds exactly the counts reported.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import duckdb

from ac_sync.engine.errors import AudienceError, one_line
from ac_sync.engine.sql import quote_ident, sql_literal

from .db import connect_db
from .emails import DomainVerdicts, fast_email_sql
from .fields import Column, tags_sql, text_sql
from .mapping import ColumnMapping, map_columns, mapping_from_json, mapping_to_json, name_key
from .normalise import REJECTED, UNDECIDED, VALID, email_select
from .prepare import AudienceSummary, prepare_audience
from .rejected import REJECTED_COLUMNS
from .sandbox import ANY_FILE, QueryPolicy
from .source import (
    FILE_KINDS,
    STAGED_SOURCE,
    STAGED_TABLE,
    _existing_file,
    open_source,
    record_source,
    stage_query,
)

_finishing = threading.Lock()


def pending_path(db_path: Path | str) -> Path:
    path = Path(db_path)
    return path.with_name(path.name + ".pending.json")


def audience_pending(db_path: Path | str) -> str | None:
    """The source whose preparation count_audience left for later, or None when the audience is ready."""
    path = pending_path(db_path)
    if not path.exists():
        return None
    return str(json.loads(path.read_text())["source"])


def pending_counts(db_path: Path | str) -> dict[str, int] | None:
    """The counts count_audience reported for a pending audience (rows, valid, invalid, duplicates)."""
    path = pending_path(db_path)
    if not path.exists():
        return None
    return dict(json.loads(path.read_text())["counts"])


def count_audience(
    source: str, db_path: Path, *, database_url: str | None = None, policy: QueryPolicy = ANY_FILE
) -> AudienceSummary:
    """The counts prepare_audience would report for `source`, leaving the preparation itself pending.

    A file is counted where it lies (it can be read again unchanged); a query is run once, into the staged
    table STAGED_TABLE, since running it twice could cost as much and need not return the same rows. Until
    finish_audience has run, the database has an empty `rejected` table and no `audience`.
    """
    source = os.fspath(source)
    db_path = Path(db_path)
    path = _existing_file(source)
    con = connect_db(db_path)
    try:
        if database_url is None and path is not None and path.suffix.lower() in FILE_KINDS:
            opened = open_source(con, source, None, "main")
        else:
            opened = stage_query(con, source, database_url, policy)
            source = STAGED_SOURCE
        email = map_columns(opened.columns, None).standard("email")
        assert email is not None
        emails = email_select(email, opened.relation)
        try:
            row = con.execute(_census_sql(emails)).fetchall()
            if row[0][4]:
                # Two different undecided values shared a hash: group them by their text instead.
                row = con.execute(_census_sql(emails, exact_undecided=True)).fetchall()
        except duckdb.Error as exc:
            raise AudienceError(f"cannot read the audience: {one_line(exc)}") from None
        # Only once the result has been fetched in full has the scan finished (and logged unreadable records).
        opened.after_load(con)
        rows, invalid, valid, collisions, _, undecided = row[0]
        if collisions:
            # Two different addresses shared a 64-bit hash (about one 10 M-row audience in 400,000): count
            # the distinct addresses themselves.
            valid = _count_distinct(con, emails)
        # email-validator decides the rest, each distinct value once.
        normalised: set[str] = set()
        domains = DomainVerdicts()
        for item in undecided or []:
            raw, times = item["raw"], item["n"]
            email, _ = domains.check(raw)
            if email is None:
                invalid += times
            else:
                normalised.add(email)
        valid += len(normalised) - _already_counted(con, emails, normalised)
        con.execute("BEGIN TRANSACTION")
        con.execute("DROP TABLE IF EXISTS main.audience")
        con.execute(f"CREATE OR REPLACE TABLE main.rejected ({REJECTED_COLUMNS})")
        con.execute("COMMIT")
    finally:
        con.close()
    summary = AudienceSummary(
        rows=rows,
        valid=valid,
        invalid=invalid,
        duplicates=rows - valid - invalid,
        columns=opened.source_columns,
        notes=opened.notes,
    )
    columns = [[c.name, c.type, c.sql_name] for c in opened.columns]
    pending_path(db_path).write_text(json.dumps({"source": source, "counts": _counts(summary), "columns": columns}))
    record_source(db_path, source)
    return summary


def pending_columns(db_path: Path | str) -> list[Column] | None:
    """The columns (with their types) of the audience count_audience left pending: what mapping works from."""
    path = pending_path(db_path)
    if not path.exists():
        return None
    return [Column(name, type_, sql_name) for name, type_, sql_name in json.loads(path.read_text())["columns"]]


def _mapping_path(db_path: Path | str) -> Path:
    path = Path(db_path)
    return path.with_name(path.name + ".mapping.json")


def prepared_mapping(db_path: Path | str) -> ColumnMapping | None:
    """The mapping the audience in `db_path` was prepared with (its value columns depend on it)."""
    path = _mapping_path(db_path)
    return mapping_from_json(path.read_text()) if path.exists() else None


def _census_sql(emails: str, *, exact_undecided: bool = False) -> str:
    """Counts: (rows, rejected rows, distinct valid emails, valid hash collisions seen, impure undecided
    groups, undecided values with counts).

    Rows are grouped by (class, 64-bit hash): the email's for valid rows, the raw value's for undecided
    ones (grouping 10 M strings costs a good deal more, and a grouped aggregate, unlike count(DISTINCT
    ...), spills to disk under the memory limit). A second, independent hash per group tells whether all
    of its values are the same one. When valid ones are not, _count_distinct counts exactly; when
    undecided ones are not, the census is run again with `exact_undecided`, grouping those as text.
    """
    undecided_key = "NULL" if exact_undecided else "hash(raw)"
    undecided_raw = "raw" if exact_undecided else "any_value(raw)"
    group_raw = ", raw" if exact_undecided else ""
    return f"""
        SELECT coalesce(sum(n), 0)::BIGINT,
               coalesce(sum(n) FILTER (WHERE cls = {REJECTED}), 0)::BIGINT,
               count(*) FILTER (WHERE cls = {VALID}),
               count(*) FILTER (WHERE cls = {VALID} AND lo <> hi),
               count(*) FILTER (WHERE cls = {UNDECIDED} AND lo <> hi),
               list({{'raw': raw, 'n': n}}) FILTER (WHERE cls = {UNDECIDED})
        FROM (
            SELECT cls, h, count(*) AS n, min(check_hash) AS lo, max(check_hash) AS hi, {undecided_raw} AS raw
            FROM (
                SELECT cls,
                       CASE WHEN cls = {VALID} THEN hash(email) WHEN cls = {UNDECIDED} THEN {undecided_key} END AS h,
                       CASE WHEN cls = {VALID} THEN hash(email || '|') WHEN cls = {UNDECIDED} THEN hash(raw || '|') END
                           AS check_hash,
                       CASE WHEN cls = {UNDECIDED} THEN raw END AS raw
                FROM ({emails})
            )
            GROUP BY cls, h{group_raw}
        )"""


def _count_distinct(con: duckdb.DuckDBPyConnection, emails: str) -> int:
    row = con.execute(
        f"SELECT count(*) FROM (SELECT email FROM ({emails}) WHERE cls = {VALID} GROUP BY email)"
    ).fetchall()
    return int(row[0][0])


def _already_counted(con: duckdb.DuckDBPyConnection, email_rows: str, emails: set[str]) -> int:
    """How many of `emails` (validated in Python) a fast-path row already has: those are not new.

    Only an address the fast path would itself accept can be one (an internationalised domain, say,
    normalises to Punycode, which the fast path leaves alone), so this rarely has to read the file again.
    """
    if not emails:
        return 0
    candidates = [
        r[0]
        for r in con.execute(
            f"SELECT e FROM (SELECT unnest(?) AS e) WHERE coalesce({fast_email_sql('e')}, false)", [sorted(emails)]
        ).fetchall()
    ]
    if not candidates:
        return 0
    row = con.execute(
        f"SELECT count(DISTINCT email) FROM ({email_rows}) WHERE cls = {VALID} AND email IN (SELECT unnest(?))",
        [candidates],
    ).fetchone()
    return int(row[0]) if row else 0


def _counts(summary: AudienceSummary) -> dict[str, int]:
    return {"rows": summary.rows, "valid": summary.valid, "invalid": summary.invalid, "duplicates": summary.duplicates}


def finish_audience(db_path: Path | str, mapping: ColumnMapping | None = None) -> AudienceSummary | None:
    """Prepare what count_audience left pending (nothing if nothing is); check it matches the counts.

    The reasons for SQL-rejected rows are left to fill_reasons. Safe to call from several threads: the
    first does the work, the others wait for it.
    """
    with _finishing:
        marker = pending_path(db_path)
        if not marker.exists():
            return None
        pending = json.loads(marker.read_text())
        summary = prepare_audience(
            pending["source"], Path(db_path), mapping=mapping, defer_reasons=True, keep_rejected=True
        )
        if mapping is not None:
            _mapping_path(db_path).write_text(mapping_to_json(mapping))
        if _counts(summary) != pending["counts"]:
            then = ", ".join(f"{v} {k}" for k, v in pending["counts"].items())
            now = ", ".join(f"{v} {k}" for k, v in _counts(summary).items())
            raise AudienceError(
                f"the audience file changed while it was being synced (when counted: {then}; now: {now}); the"
                " batches already confirmed are kept: run the sync again once the file is final"
            )
        marker.unlink()
    return summary


def distinct_values(db_path: Path | str, column: str, *, split: bool = False, limit: int = 100) -> list[str]:
    """The distinct non-empty values (items, with `split`, as list fields take them) of a pending audience's
    column, in first-seen order: the options of a custom field created for it."""
    columns = pending_columns(db_path) or []
    col = next((c for c in columns if name_key(c.name) == name_key(column)), None)
    pending = json.loads(pending_path(db_path).read_text()) if pending_path(db_path).exists() else None
    if col is None or pending is None:
        return []
    con = connect_db(db_path)
    try:
        opened = open_source(con, pending["source"], None, "main")
        values = f"unnest({tags_sql(col)})" if split else f"nullif(trim({text_sql(col)}), '')"
        rows = con.execute(
            f"SELECT v FROM (SELECT v, row_number() OVER () AS n FROM (SELECT {values} AS v FROM {opened.relation}))"
            f" WHERE v IS NOT NULL GROUP BY v ORDER BY min(n) LIMIT {int(limit)}"
        ).fetchall()
    except duckdb.Error as exc:
        raise AudienceError(f"cannot read the audience: {one_line(exc)}") from None
    finally:
        con.close()
    return [str(r[0]) for r in rows]


MAX_SUB_AUDIENCES = 50


def split_audience(db_path: Path | str, column: str, out_dir: Path | str) -> dict[str, Path]:
    """A campaign's audience split by the values of its sub-audience `column`: one audience database per value
    (in `out_dir`), each counted and left pending like a query's, its rows as the source had them."""
    columns = pending_columns(db_path) or []
    col = next((c for c in columns if name_key(c.name) == name_key(column)), None)
    if col is None:
        listed = ", ".join(c.name for c in columns) or "none"
        raise AudienceError(f"the audience has no sub-audience column {column!r} (columns: {listed})")
    pending = json.loads(pending_path(db_path).read_text())
    con = connect_db(db_path)
    try:
        opened = open_source(con, pending["source"], None, "main")
        values = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT CAST({col.ident} AS VARCHAR) AS v FROM {opened.relation} ORDER BY v NULLS LAST"
                f" LIMIT {MAX_SUB_AUDIENCES + 1}"
            ).fetchall()
        ]
        if len(values) > MAX_SUB_AUDIENCES:
            raise AudienceError(f"column {column!r} has more than {MAX_SUB_AUDIENCES} values: not sub-audiences")
        if None in values:
            raise AudienceError(f"column {column!r} is empty in some rows: every row needs its sub-audience")
        select = ", ".join(f"{c.ident} AS {quote_ident(c.name)}" for c in opened.columns)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        parts: dict[str, Path] = {}
        for i, value in enumerate(values):
            child = out / f"sub-{i}.duckdb"
            con.execute(f"ATTACH {sql_literal(str(child))} AS sub_{i}")
            try:
                con.execute(
                    f"CREATE TABLE sub_{i}.{STAGED_TABLE.split('.', 1)[1]} AS SELECT {select} FROM {opened.relation}"
                    f" WHERE CAST({col.ident} AS VARCHAR) = ?",
                    [value],
                )
            finally:
                con.execute(f"DETACH sub_{i}")
            parts[str(value)] = child
    except duckdb.Error as exc:
        raise AudienceError(f"cannot split the audience by {column!r}: {one_line(exc)}") from None
    finally:
        con.close()
    for child in parts.values():
        count_audience(STAGED_SOURCE, child)
    return parts
