"""Streaming an audience query out of PostgreSQL into the staging database.

A server-side (named) cursor keeps the result on the server; rows come over in FETCH_ROWS chunks
and go straight into a DuckDB appender, so client memory is one chunk whatever the audience size.

The query only reads: it passes the same one-SELECT check as a DuckDB query (statement.py) where DuckDB's
parser understands it, and the server enforces the rest whatever the dialect: everything runs in a READ ONLY
transaction (a writable CTE, a function that writes, nextval() or SELECT ... FOR UPDATE are refused), and the
query text only ever goes out as one prepared statement (the extended protocol refuses a second statement,
which could otherwise COMMIT the read-only transaction and start another).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb

from ac_sync.engine.errors import AudienceError, one_line
from ac_sync.engine.sql import quote_ident

from .fields import Column
from .statement import query_message, read_only_query, subquery

if TYPE_CHECKING:
    import psycopg

SUPPORTED_SCHEMES = ("postgresql", "postgres")
FETCH_ROWS = 50_000
CURSOR_NAME = "ac_sync_audience"
CONNECT_TIMEOUT_SECONDS = 15


def check_database_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        supported = ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        shown = f"'{scheme}://'" if scheme else "none"
        raise AudienceError(f"unsupported database URL scheme {shown} (supported: {supported})")


def load_postgres(con: duckdb.DuckDBPyConnection, query: str, url: str, table: str) -> tuple[list[str], list[Column]]:
    """Copy the query's rows into DuckDB `table`, every column as text (arrays and json as JSON).

    Answers (the query's column names, the staged columns). Names that differ only by case get a suffix,
    as DuckDB gives them in its own queries (its names are case-insensitive).
    """
    check_database_url(url)
    query = read_only_query(con, query, foreign=True)
    try:
        import psycopg
    except ImportError:
        raise AudienceError(
            "reading from PostgreSQL needs psycopg: pip install 'activecampaign-audience-sync[postgres]'"
        ) from None

    try:
        pg = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as exc:
        raise AudienceError(f"cannot connect to PostgreSQL: {one_line(exc)}") from None
    try:
        # BEGIN READ ONLY before the first statement: from then on the server refuses any write.
        pg.read_only = True
        with pg:
            names, structured = _describe(pg, query)
            staged_names = _unique(names)
            staged = [
                Column(name=staged_name, type="JSON" if name in structured else "VARCHAR")
                for name, staged_name in zip(names, staged_names, strict=True)
            ]
            con.execute(f"CREATE TABLE {table} ({', '.join(f'{c.ident} {c.type}' for c in staged)})")
            select = ", ".join(_as_text(name, name in structured) for name in names)
            with pg.cursor(name=CURSOR_NAME) as cur, con.appender(table) as appender:
                # psycopg declares a named cursor through the extended protocol: one statement only.
                cur.execute(f"SELECT {select} FROM {subquery(query, 'audience')}")
                while rows := cur.fetchmany(FETCH_ROWS):
                    appender.append_rows(rows)
                    appender.flush()
            # The audience is only read; nothing to keep.
            pg.rollback()
    except psycopg.Error as exc:
        raise AudienceError(f"the PostgreSQL query failed: {query_message(exc)}") from None
    return names, staged


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate.lower() in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def _describe(pg: psycopg.Connection, query: str) -> tuple[list[str], set[str]]:
    """Column names of the query, and which of them are arrays or json (tags may be text[] or jsonb)."""
    with pg.cursor() as cur:
        # prepare=True: a query with no parameters would otherwise go out as a simple query, which runs every
        # statement in it.
        cur.execute(f"SELECT * FROM {subquery(query, 'audience')} LIMIT 0", prepare=True)
        description = cur.description or []
        oids = [d.type_code for d in description]
        cur.execute(
            "SELECT oid FROM pg_type WHERE oid = ANY(%s) AND (typcategory = 'A' OR typname IN ('json', 'jsonb'))",
            (oids,),
        )
        structured = {row[0] for row in cur.fetchall()}
    return [d.name for d in description], {d.name for d in description if d.type_code in structured}


def _as_text(name: str, as_json: bool) -> str:
    # Casting on the server means psycopg only ever parses text, the cheapest path, and lists
    # arrive as JSON that DuckDB turns back into a list without ambiguity about commas.
    ident = "audience." + quote_ident(name)
    return f"to_json({ident})::text" if as_json else f"{ident}::text"
