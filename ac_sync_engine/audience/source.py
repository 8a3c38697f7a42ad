"""Turning the user's `source` (a file or a SQL query) into something DuckDB can select from."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ac_sync_engine.errors import AudienceError, one_line
from ac_sync_engine.sql import sql_literal

from . import csv_source
from .fields import Column
from .postgres import check_database_url, load_postgres

FILE_KINDS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
# Leading comments and an opening parenthesis are allowed before the first keyword.
_SQL_START = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\()*(?:select|with|from|values)\b", re.I | re.S)


@dataclass
class OpenedSource:
    relation: str  # SQL that can follow FROM
    columns: list[Column]  # what the relation yields, for picking the audience fields
    source_columns: list[str]  # what the source had, for the summary
    # Runs after the relation has been read in full (CSV: report unreadable records).
    after_load: Callable[[duckdb.DuckDBPyConnection], None] = field(default=lambda con: None)


def looks_like_sql(text: str) -> bool:
    return bool(_SQL_START.match(text))


def _existing_file(source: str) -> Path | None:
    try:
        path = Path(source).expanduser()
        return path if path.is_file() else None
    except (OSError, ValueError):
        # Long SQL text can exceed the OS's file-name limits.
        return None


# A query's rows, run once by get-details into the audience database (count.stage_query): the source
# finish_audience prepares. Not a path, so no file can be mistaken for it.
STAGED_SOURCE = "ac-sync:staged-audience"
STAGED_TABLE = "main.audience_source"


def stage_query(con: duckdb.DuckDBPyConnection, source: str, database_url: str | None) -> OpenedSource:
    """Run the audience query once into STAGED_TABLE (every column, as the query types it); answer it opened.

    STAGED_SOURCE itself (rows someone staged already, e.g. one sub-audience of a campaign) is opened as it is.
    """
    if source == STAGED_SOURCE:
        return _open_staged(con)
    con.execute(f"DROP TABLE IF EXISTS {STAGED_TABLE}")
    if database_url is not None:
        opened = open_source(con, source, database_url, "main")  # PostgreSQL: streamed into a table already
        con.execute(f"ALTER TABLE {opened.relation} RENAME TO {STAGED_TABLE.split('.', 1)[1]}")
    else:
        opened = open_source(con, source, None, "main")
        try:
            con.execute(f"CREATE TABLE {STAGED_TABLE} AS SELECT * FROM {opened.relation}")
        except duckdb.Error as exc:
            raise AudienceError(f"the audience query failed: {one_line(exc)}") from None
    return _open_staged(con, opened.source_columns)


def _open_staged(con: duckdb.DuckDBPyConnection, source_columns: list[str] | None = None) -> OpenedSource:
    columns = _describe(con, STAGED_TABLE, None)
    return OpenedSource(STAGED_TABLE, columns, source_columns or [c.name for c in columns])


def open_source(con: duckdb.DuckDBPyConnection, source: str, database_url: str | None, stage: str) -> OpenedSource:
    """Resolve `source`; a PostgreSQL query is copied into the `stage` database first."""
    if source == STAGED_SOURCE:
        return _open_staged(con)
    path = _existing_file(source)
    if database_url is not None:
        check_database_url(database_url)
        if path is not None or not looks_like_sql(source):
            raise AudienceError("with a database URL the audience must be a SQL query (SELECT ...)")
        table = f"{stage}.pg_rows"
        names, columns = load_postgres(con, _strip_sql(source), database_url, table)
        return OpenedSource(table, columns, names)
    if path is not None:
        return _open_file(con, path)
    if looks_like_sql(source):
        return _open_query(con, _strip_sql(source))
    raise AudienceError(f"audience file not found: {source}")


def _strip_sql(query: str) -> str:
    # A trailing semicolon is habit, but the query is wrapped as a subquery where it is a syntax error.
    return query.strip().rstrip(";").strip()


def _open_file(con: duckdb.DuckDBPyConnection, path: Path) -> OpenedSource:
    suffix = path.suffix.lower()
    kind = FILE_KINDS.get(suffix)
    if kind is None:
        supported = ", ".join(FILE_KINDS)
        shown = suffix or path.name
        raise AudienceError(f"unsupported audience file type '{shown}' (supported: {supported})")
    if kind == "csv":
        names, delim = csv_source.read_header(path)
        relation, columns = csv_source.csv_relation(path, names, delim)
        return OpenedSource(relation, columns, names, lambda c: csv_source.raise_for_rejects(c, path))
    literal = sql_literal(str(path))
    if kind == "parquet":
        relation = f"read_parquet({literal})"
        columns = _describe(con, relation, path)
        return OpenedSource(relation, columns, [c.name for c in columns])
    fmt = "newline_delimited" if kind == "jsonl" else "auto"
    detected = _describe(con, f"read_json({literal}, format='{fmt}')", path)
    # Types sniffed from a sample can contradict later records ("0123" then 123), so the columns
    # are re-read as JSON and converted to text (or a tag list) by the field expressions.
    spec = "{" + ", ".join(f"{sql_literal(c.name)}: 'JSON'" for c in detected) + "}"
    relation = f"read_json({literal}, format='{fmt}', columns={spec})"
    columns = [Column(name=c.name, type="JSON") for c in detected]
    return OpenedSource(relation, columns, [c.name for c in detected])


def _open_query(con: duckdb.DuckDBPyConnection, query: str) -> OpenedSource:
    relation = f"({query}) AS audience_query"
    columns = _describe(con, relation, None)
    return OpenedSource(relation, columns, [c.name for c in columns])


def _describe(con: duckdb.DuckDBPyConnection, relation: str, path: Path | None) -> list[Column]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as exc:
        what = f"cannot read {path}" if path is not None else "the audience query failed"
        raise AudienceError(f"{what}: {one_line(exc)}") from None
    return [Column(name=row[0], type=row[1]) for row in rows]
