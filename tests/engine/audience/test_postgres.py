"""prepare_audience against a real PostgreSQL server started on loopback for this session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ac_sync.engine.audience import AudienceError, connect_db, count_audience, prepare_audience
from ac_sync.engine.audience import postgres as pg_source
from ac_sync.engine.audience.sandbox import QueryPolicy
from tests.postgres_server import Server, free_port

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install '.[dev]')")

ROWS = 20_000


@pytest.fixture(scope="session")
def pg_server(postgres: Server) -> Server:
    """The session's PostgreSQL server, with the `people` table these tests read."""
    _create_people(postgres.url)
    return postgres


def _person(i: int) -> tuple[Any, ...]:
    """Row i of people: every 100th invalid, every 50th (else) a duplicate of the row before, some NULLs."""
    if i % 100 == 0:
        email = None if i % 200 == 0 else f"broken{i}"
    elif i % 50 == 0:
        email = f" USER{i - 1}@Example.com"
    else:
        email = f"user{i}@example.com"
    tags = ["vip", " new "] if i % 3 == 0 else None
    return (i, email, f"First{i}", None if i % 7 == 0 else f"Last, {i}", f"0{i:05d}", tags, "a;b", i * 2)


def _create_people(url: str) -> None:
    with psycopg.connect(url) as con, con.cursor() as cur:
        cur.execute(
            "CREATE TABLE people (id int PRIMARY KEY, email text, first_name text, last_name text,"
            " phone text, tags text[], tag_text text, score int)"
        )
        with cur.copy("COPY people FROM STDIN") as copy:
            for i in range(1, ROWS + 1):
                copy.write_row(_person(i))


def fetch(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect_db(db) as con:
        return con.execute(sql).fetchall()


def test_counts_and_rows(pg_server: Server, tmp_path: Path) -> None:
    db = tmp_path / "audience.duckdb"
    query = 'SELECT id, email AS "Email", first_name, last_name, phone, tags, score FROM people ORDER BY id'
    summary = prepare_audience(query, db, database_url=pg_server.reader_url)

    invalid = ROWS // 100
    duplicates = ROWS // 50 - invalid
    assert summary.rows == ROWS
    assert (summary.valid, summary.invalid, summary.duplicates) == (ROWS - invalid - duplicates, invalid, duplicates)
    assert summary.columns == ["id", "Email", "first_name", "last_name", "phone", "tags", "score"]
    assert fetch(db, "SELECT * EXCLUDE (fields_hash) FROM audience WHERE source_row IN (3, 7) ORDER BY 1") == [
        (3, "user3@example.com", "First3", "Last, 3", "000003", ["new", "vip"]),
        (7, "user7@example.com", "First7", None, "000007", []),
    ]
    rejected = "SELECT source_row, email, reason FROM rejected WHERE source_row IN (50, 100, 200) ORDER BY 1"
    assert fetch(db, rejected) == [
        (50, " USER49@Example.com", "duplicate of row 49"),
        (100, "broken100", "An email address must have an @-sign."),
        (200, None, "missing email"),
    ]
    # source_row is the query's row order.
    assert fetch(db, "SELECT count(*) FROM audience WHERE email <> 'user' || source_row || '@example.com'") == [(0,)]


@pytest.mark.parametrize(
    ("tags_sql", "expected"),
    [
        ("tag_text", ["a", "b"]),
        ('\'[" x ", "y, z"]\'::jsonb', ["x", "y, z"]),
        ("'\"p; q\"'::json", ["p", "q"]),
        ("ARRAY[1, 2]", ["1", "2"]),
    ],
)
def test_tags_from_text_arrays_and_json(pg_server: Server, tmp_path: Path, tags_sql: str, expected: list[str]) -> None:
    db = tmp_path / "audience.duckdb"
    query = f"SELECT email, {tags_sql} AS tags FROM people WHERE id = 1"
    prepare_audience(query, db, database_url=pg_server.reader_url)
    assert fetch(db, "SELECT tags FROM audience") == [(expected,)]


def test_rows_stream_through_a_named_server_side_cursor(
    pg_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_source, "FETCH_ROWS", 3_000)
    offset = pg_server.log_size()
    summary = prepare_audience(
        "SELECT * FROM people ORDER BY id", tmp_path / "a.duckdb", database_url=pg_server.reader_url
    )
    assert summary.rows == ROWS
    log = pg_server.log_since(offset)
    cursor = pg_source.CURSOR_NAME
    # A client-side cursor would send the SELECT itself and receive all rows at once.
    assert re.search(rf'DECLARE "?{cursor}"? .*CURSOR .*FOR SELECT', log), log[-2000:]
    fetches = re.findall(rf'FETCH FORWARD 3000 FROM "?{cursor}"?', log)
    assert len(fetches) >= ROWS // 3_000, log[-2000:]


def test_failing_query_is_an_audience_error(pg_server: Server, tmp_path: Path) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience("SELECT * FROM no_such_table", tmp_path / "a.duckdb", database_url=pg_server.reader_url)
    # PostgreSQL's whole message, its LINE counted in the user's query (not the subquery it is sent in).
    assert str(err.value) == (
        'the PostgreSQL query failed: relation "no_such_table" does not exist\n'
        "LINE 1: SELECT * FROM no_such_table\n"
        "                      ^"
    )


def test_hints_pass_through(pg_server: Server, tmp_path: Path) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience("SELECT id,\n  emial\nFROM people", tmp_path / "a.duckdb", database_url=pg_server.reader_url)
    message = str(err.value)
    assert 'column "emial" does not exist\nLINE 2:   emial\n' in message
    assert 'HINT:  Perhaps you meant to reference the column "people.email".' in message


# --- the query only reads ------------------------------------------------------------------------------


@pytest.fixture
def writable_function(pg_server: Server) -> Iterator[str]:
    """A function that writes, which DuckDB's parser takes for any other function call in a SELECT."""
    with psycopg.connect(pg_server.url, autocommit=True) as con:
        con.execute("CREATE TABLE visits (n int)")
        con.execute(
            "CREATE FUNCTION visit() RETURNS text AS $$ INSERT INTO visits VALUES (1); SELECT 'x' $$ LANGUAGE sql"
        )
    yield "visit()"
    with psycopg.connect(pg_server.url, autocommit=True) as con:
        con.execute("DROP FUNCTION visit(); DROP TABLE visits")


def people_and_visits(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as con:
        people = con.execute("SELECT count(*) FROM people").fetchone()
        visits = con.execute("SELECT count(*) FROM visits").fetchone()
    assert people is not None and visits is not None
    return people[0], visits[0]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        # DuckDB's parser sees these, and refuses them as it refuses them for DuckDB.
        ("WITH gone AS (DELETE FROM people RETURNING *) SELECT * FROM gone", "holds a DELETE"),
        ("SELECT email FROM people; DELETE FROM people", "holds 2 statements"),
        ("DELETE FROM people RETURNING email", "not a DELETE statement"),
        # The read-only transaction refuses what looks like a read.
        ("SELECT visit() AS email FROM people LIMIT 1", "cannot execute INSERT in a read-only transaction"),
        ("SELECT email FROM people FOR UPDATE", "cannot execute SELECT FOR UPDATE in a read-only transaction"),
        # DuckDB cannot parse these (a closing parenthesis first). A trailing comment no longer swallows the
        # subquery's end; closed again, they are sent as one prepared statement, and the server refuses the
        # statements after the first, which would otherwise have ended the read-only transaction.
        ("SELECT 1 AS email) AS a; COMMIT; DELETE FROM people; --", "syntax error"),
        ("SELECT 1 AS email) AS a; COMMIT; DELETE FROM people; SELECT * FROM (SELECT 1", "multiple commands"),
        ("SELECT 1 AS email) AS a; COMMIT; INSERT INTO visits VALUES (2); SELECT * FROM (SELECT 1", "multiple"),
    ],
)
def test_only_reads(pg_server: Server, tmp_path: Path, writable_function: str, query: str, needle: str) -> None:
    offset = pg_server.log_size()
    with pytest.raises(AudienceError) as err:
        prepare_audience(query, tmp_path / "a.duckdb", database_url=pg_server.reader_url)
    assert needle in str(err.value)
    assert people_and_visits(pg_server.url) == (ROWS, 0)
    if "cannot execute" in needle:
        assert "BEGIN READ ONLY" in pg_server.log_since(offset)


def test_postgresql_only_syntax_still_reads(pg_server: Server, tmp_path: Path) -> None:
    # DuckDB's parser refuses ONLY; the server runs it, read-only.
    offset = pg_server.log_size()
    query = "SELECT email FROM ONLY people WHERE id IN (1, 2) ORDER BY id;"
    summary = prepare_audience(query, tmp_path / "a.duckdb", database_url=pg_server.reader_url)
    assert (summary.rows, summary.valid) == (2, 2)
    assert "BEGIN READ ONLY" in pg_server.log_since(offset)


def test_query_without_email_column(pg_server: Server, tmp_path: Path) -> None:
    with pytest.raises(AudienceError, match=r"no 'email' column \(columns found: id, score\)"):
        prepare_audience("SELECT id, score FROM people", tmp_path / "a.duckdb", database_url=pg_server.reader_url)


def test_unreachable_server(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(AudienceError, match="^cannot connect to PostgreSQL: ") as err:
        prepare_audience("SELECT 1 AS email", tmp_path / "a.duckdb", database_url=url)
    assert "\n" not in str(err.value)


# --- what a read-only transaction does not cover: the role's reach, and time ------------------------------


@pytest.fixture(scope="session")
def outbound(pg_server: Server) -> str:
    """A database of its own where dblink is installed (EXECUTE to PUBLIC, as CREATE EXTENSION leaves it)."""
    with psycopg.connect(pg_server.url, autocommit=True) as con:
        con.execute("CREATE DATABASE outbound")
    with psycopg.connect(pg_server.url.rsplit("/", 1)[0] + "/outbound", autocommit=True) as con:
        con.execute("CREATE EXTENSION dblink")
        con.execute("CREATE TABLE people (email text)")
        con.execute("INSERT INTO people VALUES ('a@example.com')")
        con.execute("GRANT SELECT ON people TO audience_reader")
    return pg_server.reader_url.rsplit("/", 1)[0] + "/outbound"


def test_a_role_that_can_call_dblink_is_refused_before_the_query_runs(
    pg_server: Server, outbound: str, tmp_path: Path
) -> None:
    # dblink_exec would run its INSERT on a connection of its own, outside the read-only transaction.
    insert = "'INSERT INTO people VALUES (''x'')'"
    query = f"SELECT email, dblink_exec('dbname=outbound user=postgres', {insert}) AS t FROM people"
    offset = pg_server.log_size()
    with pytest.raises(AudienceError) as err:
        count_audience(query, tmp_path / "a.duckdb", database_url=outbound)
    message = str(err.value)
    assert "'audience_reader' can call dblink" in message and "nothing was run" in message, message
    assert "AC_SYNC_QUERY_ROLE_CHECK=warn" in message
    assert "dblink_exec('dbname" not in pg_server.log_since(offset)  # the query itself never went out
    admin = pg_server.url.rsplit("/", 1)[0] + "/outbound"
    with psycopg.connect(admin) as con:
        assert con.execute("SELECT count(*) FROM people").fetchone() == (1,)
    # Told only to warn, the query goes out (this cluster's trust logins keep dblink itself from connecting).
    with pytest.raises(AudienceError, match="password is required"):
        count_audience(query, tmp_path / "b.duckdb", database_url=outbound, policy=QueryPolicy(role_check="warn"))


def test_a_superuser_is_refused_unless_told_to_warn(pg_server: Server, tmp_path: Path) -> None:
    query = "SELECT email FROM people WHERE id = 1"
    with pytest.raises(AudienceError, match="'postgres' is a superuser"):
        count_audience(query, tmp_path / "a.duckdb", database_url=pg_server.url)
    summary = count_audience(
        query, tmp_path / "b.duckdb", database_url=pg_server.url, policy=QueryPolicy(role_check="warn")
    )
    assert summary.valid == 1 and any("is a superuser" in note for note in summary.notes), summary.notes


def test_a_role_that_can_write_is_a_warning(pg_server: Server, tmp_path: Path) -> None:
    with psycopg.connect(pg_server.url, autocommit=True) as con:
        con.execute("CREATE ROLE audience_writer LOGIN")
        con.execute("GRANT SELECT, INSERT ON people TO audience_writer")
    url = pg_server.reader_url.replace("audience_reader", "audience_writer")
    summary = count_audience("SELECT email FROM people WHERE id = 1", tmp_path / "a.duckdb", database_url=url)
    assert summary.valid == 1 and summary.notes == [
        "the PostgreSQL role 'audience_writer' can write to some tables; the audience query runs read-only, but a"
        " role that can only read is safer"
    ]
    assert count_audience("SELECT email FROM people WHERE id = 1", tmp_path / "b.duckdb",
                          database_url=pg_server.reader_url).notes == []  # fmt: skip


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("SELECT pg_read_file('/etc/passwd') AS email", "permission denied for function pg_read_file"),
        ("SELECT set_config('transaction_read_only', 'off', false) AS email", "read-write"),
        ("SELECT email FROM people, pg_sleep(3) LIMIT 1", "statement timeout"),
    ],
    ids=["a server file", "leaving read-only", "a query that runs too long"],
)
def test_the_reader_cannot_reach_further(pg_server: Server, tmp_path: Path, query: str, needle: str) -> None:
    with pytest.raises(AudienceError) as err:
        count_audience(
            query, tmp_path / "a.duckdb", database_url=pg_server.reader_url, policy=QueryPolicy(timeout_s=0.5)
        )
    assert needle in str(err.value), str(err.value)
