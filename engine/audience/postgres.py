"""Streaming an audience query out of PostgreSQL into the staging database.

A server-side (named) cursor keeps the result on the server; rows come over in FETCH_ROWS chunks
and go straight into a DuckDB appender, so client memory is one chunk whatever the audience size.

The query only reads: it passes the same one-SELECT check as a DuckDB query (statement.py) where DuckDB's
parser understands it, and the server enforces the rest whatever the dialect: everything runs in a READ ONLY
transaction (a writable CTE, a function that writes, nextval() or SELECT ... FOR UPDATE are refused), and the
query text only ever goes out as one prepared statement (the extended protocol refuses a second statement,
which could otherwise COMMIT the read-only transaction and start another). What the transaction does not cover
— dblink's connections of their own, a superuser's server files — is checked on the role before the query runs
(check_role), and every statement has a timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb

from ac_sync.engine.errors import AudienceError, one_line
from ac_sync.engine.sql import quote_ident

from .fields import Column
from .sandbox import ANY_FILE, QueryPolicy
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


def load_postgres(
    con: duckdb.DuckDBPyConnection, query: str, url: str, table: str, policy: QueryPolicy = ANY_FILE
) -> tuple[list[str], list[Column], list[str]]:
    """Copy the query's rows into DuckDB `table`, every column as text (arrays and json as JSON).

    Answers (the query's column names, the staged columns, check_role's warnings). Names that differ only by
    case get a suffix, as DuckDB gives them in its own queries (its names are case-insensitive). The role is
    checked first (check_role), and every statement has `policy.timeout_s`.
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
            # For this transaction only: the server cancels a statement (a FETCH too) that runs longer.
            timeout_ms = str(max(1, int(policy.timeout_s * 1000)))
            pg.execute("SELECT set_config('statement_timeout', %s, true)", (timeout_ms,))
            notes = check_role(pg, policy)
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
    return names, staged, notes


# Functions that open a connection of their own, which the read-only transaction does not cover.
OUTBOUND_FUNCTIONS = (
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "dblink_connect_u",
    "dblink_send_query",
    "dblink_open",
)
_ROLE_SQL = """
SELECT current_user,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       ARRAY(SELECT DISTINCT p.proname::text FROM pg_proc p
             WHERE p.proname = ANY(%s) AND has_function_privilege(p.oid, 'EXECUTE') ORDER BY 1),
       EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p', 'f')
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
                 AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
                      OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE')))
"""


def check_role(pg: psycopg.Connection, policy: QueryPolicy) -> list[str]:
    """What the connecting role could reach beyond a read: a superuser or a role that can call dblink is refused
    (with policy.role_check "warn": reported); a role that can write is reported (the read-only transaction
    refuses its writes). Answers the warnings."""
    row = pg.execute(_ROLE_SQL, (list(OUTBOUND_FUNCTIONS),)).fetchone()
    assert row is not None
    role, superuser, outbound, writes = row
    beyond = []
    if superuser:
        beyond.append("is a superuser (it can read server files and open connections of its own)")
    if outbound:
        beyond.append(f"can call {', '.join(outbound)} (a connection of its own, outside the read-only transaction)")
    reports = []
    if beyond:
        what = f"the PostgreSQL role {role!r} " + " and ".join(beyond)
        fix = "use a role that can only read the audience's tables"
        if policy.role_check == "refuse":
            raise AudienceError(f"{what}: {fix} (or set AC_SYNC_QUERY_ROLE_CHECK=warn); nothing was run")
        reports.append(f"{what}; {fix}")
    if writes:
        reports.append(
            f"the PostgreSQL role {role!r} can write to some tables; the audience query runs read-only, but a role"
            " that can only read is safer"
        )
    return reports


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
