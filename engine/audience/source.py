"""Turning the user's `source` (a file or a SQL query) into something DuckDB can select from."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ac_sync.engine.errors import AudienceError, one_line
from ac_sync.engine.sql import sql_literal

from . import csv_source
from .fields import Column
from .postgres import check_database_url, load_postgres
from .sandbox import ANY_FILE, QueryPolicy, bind, refusal, run_into
from .statement import query_message, read_only_query

FILE_KINDS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
# Leading comments and an opening parenthesis are allowed before the first keyword.
_SQL_START = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\()*(?:select|with|from|values)\b", re.I | re.S)
# Words that make text holding a path separator SQL (standing alone: "exports/from/x" is still a path).
_SQL_WORDS = re.compile(
    r"(?:^|[\s(])(?:select|from|where|join|union|values|with|copy|attach|install|load|pragma|set|call|create|insert"
    r"|update|delete|drop|alter|export|import)(?=$|[\s(])",
    re.I,
)
# DuckDB's message when a CSV read in SQL is not UTF-8: the line, and the file further down its dialect dump.
_CSV_NOT_UTF8 = re.compile(r"CSV Error on Line: (\d+).*?not utf-8 encoded", re.S | re.I)
_CSV_FILE = re.compile(r"^\s*file = (.+)$", re.M)


@dataclass
class OpenedSource:
    relation: str  # SQL that can follow FROM
    columns: list[Column]  # what the relation yields, for picking the audience fields
    source_columns: list[str]  # what the source had, for the summary
    # Runs after the relation has been read in full (CSV: report unreadable records).
    after_load: Callable[[duckdb.DuckDBPyConnection], None] = field(default=lambda con: None)
    notes: list[str] = field(default_factory=list)  # warnings for the run's log (a PostgreSQL role's reach)


def looks_like_path(source: str) -> bool:
    """Whether `source` names a file (which may not exist) rather than being SQL, which everything else is.

    A file that exists is a path; so is one line ending in a known suffix (`Copy of export (1).csv`) unless it
    starts as a query does (`SELECT * FROM people.csv`), and one holding a path separator and no SQL word. Any
    other text is SQL, so that a mistyped query gets DuckDB's own message, not "file not found".
    """
    if _existing_file(source) is not None:
        return True
    text = source.strip()
    if not text or "\n" in text or _SQL_START.match(text):
        return False
    if Path(text).suffix.lower() in FILE_KINDS:
        return True
    return any(sep in text for sep in "/\\") and not _SQL_WORDS.search(text) and not any(q in text for q in "'\";")


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


def source_record_path(db_path: Path | str) -> Path:
    path = Path(db_path)
    return path.with_name(path.name + ".source.json")


def record_source(db_path: Path | str, source: str) -> None:
    """Remember where the audience's rows can be read again (a file, or the staged query): the rejected-rows
    log shows each row's original values from there. A query that was not staged is not run again."""
    path = _existing_file(source)
    again = str(path.resolve()) if path is not None else source if source == STAGED_SOURCE else None
    source_record_path(db_path).write_text(json.dumps({"source": again}), encoding="utf-8")


def recorded_source(db_path: Path | str) -> str | None:
    try:
        return json.loads(source_record_path(db_path).read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError):
        return None


def stage_query(
    con: duckdb.DuckDBPyConnection, source: str, database_url: str | None, policy: QueryPolicy = ANY_FILE
) -> OpenedSource:
    """Run the audience query once into STAGED_TABLE (every column, as the query types it); answer it opened.

    STAGED_SOURCE itself (rows someone staged already, e.g. one sub-audience of a campaign) is opened as it is.
    """
    if source == STAGED_SOURCE:
        return _open_staged(con)
    con.execute(f"DROP TABLE IF EXISTS {STAGED_TABLE}")
    # Either way the rows are in a table already: PostgreSQL's streamed, DuckDB's from the sandbox.
    opened = open_source(con, source, database_url, "main", policy=policy)
    con.execute(f"ALTER TABLE {opened.relation} RENAME TO {STAGED_TABLE.split('.', 1)[1]}")
    staged = _open_staged(con, opened.source_columns)
    staged.notes = opened.notes
    return staged


def _open_staged(con: duckdb.DuckDBPyConnection, source_columns: list[str] | None = None) -> OpenedSource:
    columns = _describe(con, STAGED_TABLE, None)
    return OpenedSource(STAGED_TABLE, columns, source_columns or [c.name for c in columns])


def open_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    database_url: str | None,
    stage: str,
    *,
    policy: QueryPolicy = ANY_FILE,
) -> OpenedSource:
    """Resolve `source`; a query (PostgreSQL's, or DuckDB's in the sandbox `policy` rules) is run into a table of
    the `stage` database first."""
    if source == STAGED_SOURCE:
        return _open_staged(con)
    if database_url is not None:
        check_database_url(database_url)
        if looks_like_path(source):
            raise AudienceError("with a database URL the audience must be a SQL query (SELECT ...)")
        table = f"{stage}.pg_rows"
        names, columns, notes = load_postgres(con, source, database_url, table, policy)
        return OpenedSource(table, columns, names, notes=notes)
    if not looks_like_path(source):
        return _open_query(con, source, stage, policy)
    path = _existing_file(source)
    if path is None:
        raise AudienceError(f"audience file not found: {source}")
    return _open_file(con, path)


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
        return OpenedSource(relation, columns, names, lambda c: _csv_read_whole(c, path))
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


def _open_query(con: duckdb.DuckDBPyConnection, query: str, stage: str, policy: QueryPolicy) -> OpenedSource:
    """Run the query once, in the sandbox, into `{stage}.query_rows`."""
    body = read_only_query(con, query)
    table = f"{stage}.query_rows"
    try:
        run_into(con, body, table, policy, near=_folder_of(con))
    except duckdb.Error as exc:
        raise (refusal(exc, policy) or _query_failed(exc)) from None
    columns = _describe(con, table, None)
    return OpenedSource(table, columns, [c.name for c in columns])


def check_source(source: str, policy: QueryPolicy) -> None:
    """That `source` can be read, without reading its rows: a file's header or schema, or the query bound in
    its sandbox (raises AudienceError)."""
    if looks_like_path(source):
        con = duckdb.connect()
        try:
            open_source(con, source, None, "main")
        finally:
            con.close()
        return
    with duckdb.connect() as con:
        body = read_only_query(con, source)
    try:
        bind(body, policy)
    except duckdb.Error as exc:
        raise (refusal(exc, policy) or _query_failed(exc)) from None


def _csv_read_whole(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """After DuckDB read a CSV: the records it could not parse, then what its reader can miss, as one line."""
    csv_source.raise_for_rejects(con, path)
    csv_source.check_lines(path)


def _folder_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The folder of the database `con` works in (None in memory)."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return Path(row[0]).parent if row and row[0] else None


def _describe(con: duckdb.DuckDBPyConnection, relation: str, path: Path | None) -> list[Column]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as exc:
        if path is None:
            raise _query_failed(exc) from None
        raise AudienceError(f"cannot read {path}: {one_line(exc)}") from None
    return [Column(name=row[0], type=row[1]) for row in rows]


def _query_failed(exc: duckdb.Error) -> AudienceError:
    """DuckDB's whole message about the user's query; a CSV it reads that is not UTF-8 as the file path says it."""
    message = str(exc)
    not_utf8 = _CSV_NOT_UTF8.search(message)
    if not_utf8:
        file = _CSV_FILE.search(message)
        where = file.group(1).strip() if file else "a CSV file the query reads"
        return AudienceError(f"{where} line {not_utf8.group(1)}: {csv_source.NOT_UTF8}")
    return AudienceError(f"the audience query failed: {query_message(exc)}")
