"""The audience SQL runs only as one statement that reads: anything else is refused before it runs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ac_sync.engine.audience import AudienceError, connect_db, count_audience, prepare_audience
from ac_sync.engine.audience.statement import read_only_query

KEEP_ROWS = 3

# Each would write a file, change the audience database or the session, or run something else, if it ran.
REFUSED = {
    "closing the subquery": ("SELECT 1) ; COPY (SELECT 1) TO 'x.csv' --", "syntax error"),
    "closing it politely": (
        "SELECT 'a@example.com' AS email) AS q; COPY (SELECT 1) TO 'y.csv'; SELECT * FROM (SELECT 1",
        "syntax error",
    ),
    "copy": ("COPY (SELECT 'a@example.com' AS email) TO 'x.csv'", "not a COPY statement"),
    "copy after a comment": ("-- the export\nCOPY (SELECT 1) TO 'x.csv' (HEADER)", "not a COPY statement"),
    "two statements": (
        "SELECT 'a@example.com' AS email; COPY (SELECT 1) TO 'x.csv'",
        "holds 2 statements (SELECT, then COPY)",
    ),
    "two selects": ("SELECT 'a@example.com' AS email; SELECT 'b@example.com' AS email", "holds 2 statements"),
    "drop": ("DROP TABLE keep", "not a DROP statement"),
    "attach": ("ATTACH 'x.db' AS other", "not an ATTACH statement"),
    "detach": ("DETACH keep", "not a DETACH statement"),
    "install": ("INSTALL httpfs", "not an INSTALL statement"),
    "load": ("LOAD httpfs", "not a LOAD statement"),
    "pragma": ("PRAGMA enable_profiling", "not a PRAGMA statement"),
    "set": ("SET enable_external_access = false", "not a SET statement"),
    "call": ("CALL pragma_version()", "not a CALL statement"),
    "create table as": ("CREATE TABLE t AS SELECT 'a@example.com' AS email", "not a CREATE statement"),
    "insert": ("INSERT INTO keep VALUES ('z@example.com')", "not an INSERT statement"),
    "update": ("UPDATE keep SET email = 'z@example.com'", "not an UPDATE statement"),
    "delete": ("DELETE FROM keep", "not a DELETE statement"),
    "with ... delete": ("WITH a AS (SELECT 1) DELETE FROM keep", "not a DELETE statement"),
    "export": ("EXPORT DATABASE 'exported'", "not an EXPORT statement"),
    # Without its values, a PIVOT first creates an ENUM type of them.
    "pivot statement": ("PIVOT keep ON email", "not a statement DuckDB runs as several (a PIVOT"),
    "pivot subquery": ("SELECT * FROM (PIVOT keep ON email USING count(*))", "runs as several"),
    "explain analyze": ("EXPLAIN ANALYZE SELECT * FROM keep", "not an EXPLAIN statement"),
    # DuckDB parses these as SELECTs and would run the data-modifying WITH clause.
    "writable cte": ("WITH d AS (DELETE FROM keep RETURNING *) SELECT * FROM d", "holds a DELETE"),
    "writable cte, nested": (
        "SELECT * FROM (WITH i AS (INSERT INTO keep VALUES ('z@example.com') RETURNING *) SELECT * FROM i)",
        "holds an INSERT",
    ),
    "writable cte in a scalar subquery": (
        "SELECT (WITH u AS (UPDATE keep SET email = 'z' RETURNING email) SELECT min(email) FROM u) AS email",
        "holds an UPDATE",
    ),
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding only the audience database, whose table `keep` a write would change."""
    monkeypatch.chdir(tmp_path)
    with connect_db(tmp_path / "audience.duckdb") as con:
        con.execute("CREATE TABLE keep AS SELECT 'k' || i || '@example.com' AS email FROM range(?) t(i)", [KEEP_ROWS])
    return tmp_path


def untouched(workdir: Path) -> None:
    assert sorted(p.name for p in workdir.iterdir()) == ["audience.duckdb"]
    with connect_db(workdir / "audience.duckdb") as con:
        assert con.execute("SELECT count(*) FROM keep").fetchone() == (KEEP_ROWS,)
        tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "t" not in tables


@pytest.mark.parametrize(("query", "needle"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_before_it_runs(workdir: Path, query: str, needle: str) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience(query, workdir / "audience.duckdb")
    assert needle in str(err.value)
    untouched(workdir)


@pytest.mark.parametrize("name", ["closing the subquery", "two statements", "writable cte", "attach"])
def test_refused_on_the_way_the_run_reads_a_query(workdir: Path, name: str) -> None:
    # get-details stages a query (count_audience); it goes through the same check.
    query, needle = REFUSED[name]
    with pytest.raises(AudienceError) as err:
        count_audience(query, workdir / "audience.duckdb")
    assert needle in str(err.value)
    untouched(workdir)


def test_refusal_is_one_line_saying_nothing_ran(workdir: Path) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience("COPY (SELECT 1) TO 'x.csv'", workdir / "audience.duckdb")
    assert str(err.value) == (
        "the audience SQL must be a SELECT query that only reads, not a COPY statement; nothing was run"
    )


ACCEPTED = {
    "leading comment": "-- the VIPs\nSELECT email FROM 'keep.csv'",
    "block comment": "/* the VIPs */ SELECT email FROM 'keep.csv'",
    "parentheses": "(SELECT email FROM 'keep.csv')",
    "trailing semicolon": "SELECT email FROM 'keep.csv';",
    "semicolons and a comment after them": "SELECT email FROM 'keep.csv' ; ; -- done",
    "trailing line comment": "SELECT email FROM 'keep.csv' -- no newline after this",
    "with ... select": "WITH k AS (SELECT email FROM 'keep.csv') SELECT * FROM k",
    "recursive with": "WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < 2)"
    " SELECT 'k' || n || '@example.com' AS email FROM r",
    "from first": "FROM 'keep.csv'",
    "union": "SELECT email FROM 'keep.csv' WHERE email < 'k1'"
    " UNION ALL SELECT email FROM 'keep.csv' WHERE email >= 'k1'",
    "semicolon and dashes in strings": "SELECT email FROM 'keep.csv' WHERE email NOT IN ('a;b', '--c', '/*d')",
    "a subquery": "SELECT email FROM (SELECT * FROM 'keep.csv') t",
}


@pytest.mark.parametrize("query", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_a_single_select_runs(workdir: Path, query: str) -> None:
    # The query runs in a DuckDB of its own (sandbox.py): it reads files, not the audience database's tables.
    (workdir / "keep.csv").write_text("email\n" + "".join(f"k{i}@example.com\n" for i in range(KEEP_ROWS)))
    summary = prepare_audience(query, workdir / "audience.duckdb")
    assert summary.rows == KEEP_ROWS and summary.valid == KEEP_ROWS


def test_the_body_loses_its_terminators_only() -> None:
    with duckdb.connect() as con:
        assert read_only_query(con, "SELECT 'é;' AS x ; -- done ü\n;") == "SELECT 'é;' AS x"
        assert read_only_query(con, "SELECT 1 -- c;") == "SELECT 1 -- c;"
        # PostgreSQL's dialect DuckDB cannot parse is left to the server (postgres.py), terminators cut all the same.
        assert read_only_query(con, "SELECT * FROM ONLY people;", foreign=True) == "SELECT * FROM ONLY people"
        with pytest.raises(AudienceError, match="holds a DELETE"):
            read_only_query(con, "WITH d AS (DELETE FROM people RETURNING *) SELECT * FROM d", foreign=True)


def test_empty_sql(workdir: Path) -> None:
    with pytest.raises(AudienceError, match="the audience SQL is empty"):
        prepare_audience(" ; -- nothing", workdir / "audience.duckdb")
