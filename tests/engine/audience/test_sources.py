"""prepare_audience over every kind of source, and the errors a bad source must produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ac_sync.engine.audience import AudienceError, AudienceSummary, connect_db, count_audience, prepare_audience
from ac_sync.engine.audience.source import looks_like_path


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def fetch(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect_db(db) as con:
        return con.execute(sql).fetchall()


def audience(db: Path) -> list[tuple[Any, ...]]:
    return fetch(db, "SELECT source_row, email, first_name, last_name, phone, tags FROM audience ORDER BY 1")


def rejected(db: Path) -> list[tuple[Any, ...]]:
    return fetch(db, "SELECT source_row, email, reason FROM rejected ORDER BY 1")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "audience.duckdb"


PEOPLE_CSV = (
    "email,first_name,last_name,phone,tags,notes\n"
    "ann@example.com,Ann,Lee,0123,vip,x\n"
    "bob@example.org,Bob,,,,\n"
    "not-an-email,Carl,Key,,,\n"
)


def test_csv_source(tmp_path: Path, db: Path) -> None:
    summary = prepare_audience(str(write(tmp_path / "people.csv", PEOPLE_CSV)), db)
    assert summary == AudienceSummary(
        rows=3,
        valid=2,
        invalid=1,
        duplicates=0,
        columns=["email", "first_name", "last_name", "phone", "tags", "notes"],
    )
    assert audience(db) == [
        (1, "ann@example.com", "Ann", "Lee", "0123", ["vip"]),
        (2, "bob@example.org", "Bob", None, None, []),
    ]
    assert rejected(db) == [(3, "not-an-email", "An email address must have an @-sign.")]


def test_schema(tmp_path: Path, db: Path) -> None:
    prepare_audience(str(write(tmp_path / "people.csv", PEOPLE_CSV)), db)
    types = fetch(db, "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY all")
    assert sorted(types) == sorted(
        [
            ("audience", "source_row", "BIGINT"),
            ("audience", "email", "VARCHAR"),
            ("audience", "first_name", "VARCHAR"),
            ("audience", "last_name", "VARCHAR"),
            ("audience", "phone", "VARCHAR"),
            ("audience", "tags", "VARCHAR[]"),
            ("audience", "fields_hash", "VARCHAR"),
            ("rejected", "source_row", "BIGINT"),
            ("rejected", "email", "VARCHAR"),
            ("rejected", "reason", "VARCHAR"),
            ("rejected", "column_name", "VARCHAR"),
            ("rejected", "value", "VARCHAR"),
        ]
    )
    cols = fetch(db, "SELECT column_name FROM information_schema.columns WHERE table_name = 'audience'")
    assert [c[0] for c in cols] == [
        "source_row",
        "email",
        "first_name",
        "last_name",
        "phone",
        "tags",
        "fields_hash",
    ]


def test_parquet_source_with_list_tags_and_other_types(tmp_path: Path, db: Path) -> None:
    path = tmp_path / "people.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (
                SELECT * FROM (VALUES
                    ('Ann@Example.com', 'Ann', '0123', [' vip ', '', NULL, 'vip', 'new'], 42),
                    ('bad@', 'Bob', '0456', []::VARCHAR[], 7)
                ) t("EMAIL", "First_Name", phone, tags, age)
            ) TO '{path}' (FORMAT parquet)"""
        )
    summary = prepare_audience(str(path), db)
    assert summary.columns == ["EMAIL", "First_Name", "phone", "tags", "age"]
    assert (summary.rows, summary.valid, summary.invalid) == (2, 1, 1)
    assert audience(db) == [(1, "ann@example.com", "Ann", None, "0123", ["new", "vip"])]
    assert rejected(db) == [(2, "bad@", "There must be something after the @-sign.")]


def test_json_array_source_with_mixed_value_types(tmp_path: Path, db: Path) -> None:
    records = [
        {"email": "ann@example.com", "phone": "0123", "tags": ["a", "b"]},
        {"email": "bob@example.com", "phone": 456, "tags": "x; y"},
        {"email": "cid@example.com", "first_name": None},
    ]
    summary = prepare_audience(str(write(tmp_path / "people.json", json.dumps(records))), db)
    assert (summary.rows, summary.valid) == (3, 3)
    assert audience(db) == [
        (1, "ann@example.com", None, None, "0123", ["a", "b"]),
        (2, "bob@example.com", None, None, "456", ["x", "y"]),
        (3, "cid@example.com", None, None, None, []),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_source(tmp_path: Path, db: Path, suffix: str) -> None:
    lines = [
        {"Email": "ann@example.com", "last_name": "Lee"},
        {"Email": " ANN@example.com ", "last_name": "Again"},
        {"Email": "bob@example.com", "last_name": 'Quote "me", please'},
    ]
    path = write(tmp_path / f"people{suffix}", "\n".join(json.dumps(r) for r in lines) + "\n")
    summary = prepare_audience(str(path), db)
    assert (summary.rows, summary.valid, summary.duplicates) == (3, 2, 1)
    assert [r[:4] for r in audience(db)] == [
        (1, "ann@example.com", None, "Lee"),
        (3, "bob@example.com", None, 'Quote "me", please'),
    ]
    assert rejected(db) == [(2, " ANN@example.com ", "duplicate of row 1")]


def test_sql_query_over_a_file(tmp_path: Path, db: Path) -> None:
    csv_path = write(tmp_path / "people.csv", PEOPLE_CSV)
    query = f"-- the VIPs\nSELECT email, first_name FROM '{csv_path}' WHERE tags = 'vip' OR email LIKE 'not%';"
    summary = prepare_audience(query, db)
    assert summary.columns == ["email", "first_name"]
    assert (summary.rows, summary.valid, summary.invalid) == (2, 1, 1)
    assert audience(db) == [(1, "ann@example.com", "Ann", None, None, [])]


def test_sql_from_first(tmp_path: Path, db: Path) -> None:
    csv_path = write(tmp_path / "people.csv", PEOPLE_CSV)
    assert prepare_audience(f"from '{csv_path}'", db).rows == 3


def test_sql_values_without_email_column(db: Path) -> None:
    # VALUES names its columns col0, col1, ...
    with pytest.raises(AudienceError, match=r"no 'email' column \(columns found: col0, col1\)"):
        prepare_audience("VALUES ('x@example.com', 'X')", db)


def test_sql_row_order_is_source_row(db: Path) -> None:
    query = "SELECT 'user' || i || '@example.com' AS email FROM range(1, 6) t(i) ORDER BY i DESC"
    prepare_audience(query, db)
    assert [r[:2] for r in audience(db)] == [(i, f"user{6 - i}@example.com") for i in range(1, 6)]


def test_header_only_file_is_an_empty_audience(tmp_path: Path, db: Path) -> None:
    summary = prepare_audience(str(write(tmp_path / "empty.csv", "email,first_name\n")), db)
    assert summary == AudienceSummary(rows=0, valid=0, invalid=0, duplicates=0, columns=["email", "first_name"])
    assert audience(db) == []
    assert rejected(db) == []


def test_missing_email_column(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path / "people.csv", "contact,first_name,phone\nann@example.com,Ann,1\n")
    with pytest.raises(AudienceError) as err:
        prepare_audience(str(path), db)
    assert str(err.value) == "the audience has no 'email' column (columns found: contact, first_name, phone)"


def test_email_column_is_case_insensitive_and_must_be_unique(tmp_path: Path, db: Path) -> None:
    prepare_audience(str(write(tmp_path / "a.csv", "EMAIL\nann@example.com\n")), db)
    assert audience(db)[0][1] == "ann@example.com"
    with pytest.raises(AudienceError, match=r"2 columns for 'email' \(Email, email\)"):
        prepare_audience(str(write(tmp_path / "b.csv", "Email,email\na@example.com,b@example.com\n")), db)


def test_nonexistent_file(db: Path) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience("people-missing.csv", db)
    assert str(err.value) == "audience file not found: people-missing.csv"


def test_unsupported_file_type(tmp_path: Path, db: Path) -> None:
    with pytest.raises(AudienceError, match=r"unsupported audience file type '.xlsx'"):
        prepare_audience(str(write(tmp_path / "people.xlsx", "x")), db)


def test_failing_sql_keeps_duckdbs_whole_message(db: Path) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience("SELECT * FROM no_such_table", db)
    message = str(err.value)
    assert message.startswith("the audience query failed: Catalog Error: Table with name no_such_table")
    assert "LINE 1: SELECT * FROM no_such_table\n" in message


def test_candidate_bindings_and_the_caret_pass_through(tmp_path: Path, db: Path) -> None:
    csv_path = write(tmp_path / "people.csv", PEOPLE_CSV)
    query = f"SELECT first_name,\n       emial\nFROM '{csv_path}'"
    for run in (prepare_audience, count_audience):
        with pytest.raises(AudienceError) as err:
            run(query, db)
        # The LINE counts the user's own lines, and the caret sits under the mistake.
        assert str(err.value) == (
            'the audience query failed: Binder Error: Referenced column "emial" not found in FROM clause!\n'
            'Candidate bindings: "email", "first_name"\n'
            "\n"
            "LINE 2:        emial\n"
            "               ^^^^^"
        )


@pytest.mark.parametrize(
    "query",
    ["SELEC email FROM 'people.csv'", "SELECT email FROM 'people.csv' WHERE", "select email form 'people.csv'"],
)
def test_mistyped_sql_is_sql_not_a_missing_file(db: Path, query: str) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience(query, db)
    message = str(err.value)
    assert message.startswith("the audience query failed: Parser Error: syntax error at or near")
    assert "\nLINE 1: " in message and "^" in message
    assert "not found" not in message


@pytest.mark.parametrize(
    ("source", "is_path"),
    [
        ("people.csv", True),
        ("exports/people.PARQUET", True),
        ("Copy of export (1).csv", True),  # spaces and words, but a file name
        ("/data/from/select.jsonl", True),
        ("C:\\Users\\ann\\people.csv", True),
        ("exports/people", True),  # a separator and no SQL word
        ("SELECT * FROM people.csv", False),
        ("FROM 'people.csv'", False),
        ("SELEC email FROM 'people.csv'", False),
        ("select email form 'exports/people.csv'", False),
        ("COPY (SELECT 1) TO 'exports/x.csv'", False),
        ("ATTACH '/tmp/x.db'", False),
        ("DROP TABLE people", False),
        ("people", False),
        ("SELECT 1;\n", False),
        ("", False),
    ],
)
def test_what_looks_like_a_path(source: str, is_path: bool) -> None:
    assert looks_like_path(source) is is_path


def test_an_existing_file_is_a_path_whatever_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "select 1", "email\n")
    assert looks_like_path("select 1")


def test_non_utf8_csv_read_through_sql_names_file_and_line(tmp_path: Path, db: Path) -> None:
    # Windows-1252, as Excel saves it: the bad byte within DuckDB's sniffing sample, and well past it (then the
    # query fails while get-details stages it: count_audience).
    for name, rows, runs in (
        ("early.csv", 0, (prepare_audience, count_audience)),
        ("late.csv", 30_000, (count_audience,)),
    ):
        lines = "".join(f"u{i}@example.com,N{i}\n" for i in range(rows))
        content = f"email,first_name\n{lines}bob@example.com,Ren\xe9\n".encode("cp1252")
        path = write(tmp_path / name, content)
        for run in runs:
            with pytest.raises(AudienceError) as err:
                run(f"SELECT * FROM '{path}'", db)
            assert str(err.value) == f"{path} line {rows + 2}: not valid UTF-8; save the file as UTF-8 and try again."


def test_sql_failing_at_runtime(db: Path) -> None:
    # The query runs once, in its sandbox (as get-details runs it): DuckDB's message, its LINE the user's own.
    with pytest.raises(AudienceError, match="the audience query failed: Conversion Error") as err:
        prepare_audience("SELECT CAST('x' || i AS INTEGER) || '@example.com' AS email FROM range(3) t(i)", db)
    assert "LINE 1: SELECT CAST" in str(err.value)


def test_unsupported_database_url(db: Path) -> None:
    with pytest.raises(AudienceError) as err:
        prepare_audience("SELECT 1", db, database_url="mysql://user@localhost/db")
    assert str(err.value) == "unsupported database URL scheme 'mysql://' (supported: postgresql://, postgres://)"


def test_database_url_needs_a_query(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path / "people.csv", PEOPLE_CSV)
    with pytest.raises(AudienceError, match="must be a SQL query"):
        prepare_audience(str(path), db, database_url="postgresql://u@127.0.0.1:1/db")


def test_failure_leaves_previous_tables(tmp_path: Path, db: Path) -> None:
    prepare_audience(str(write(tmp_path / "people.csv", PEOPLE_CSV)), db)
    before = audience(db)
    with pytest.raises(AudienceError):
        prepare_audience("SELECT * FROM no_such_table", db)
    with pytest.raises(AudienceError):
        prepare_audience(str(write(tmp_path / "bad.csv", 'email\n"unterminated\n')), db)
    assert audience(db) == before


# --- CSV robustness -------------------------------------------------------------------------------


def test_csv_quoting_commas_quotes_newlines_and_leading_zeros(tmp_path: Path, db: Path) -> None:
    content = (
        "email,first_name,last_name,phone\n"
        'ann@example.com,"Ann, Jr.","O""Neil ""the great""",007\n'
        'bob@example.com,"Bob\nsecond line","Multi\r\nline",+44 020 7946 0000\n'
        "bad address,after,multiline,0\n"
    )
    prepare_audience(str(write(tmp_path / "people.csv", content)), db)
    assert audience(db) == [
        (1, "ann@example.com", "Ann, Jr.", 'O"Neil "the great"', "007", []),
        (2, "bob@example.com", "Bob\nsecond line", "Multi\r\nline", "+44 020 7946 0000", []),
    ]
    # source_row counts records, not physical lines.
    assert rejected(db)[0][0] == 3


def test_csv_with_bom_crlf_and_semicolons(tmp_path: Path, db: Path) -> None:
    content = "\ufeffEmail;First_Name;tags\r\nann@example.com;Ann;a,b\r\nbob@example.com;Bob;\r\n"
    summary = prepare_audience(str(write(tmp_path / "excel.csv", content)), db)
    assert summary.columns == ["Email", "First_Name", "tags"]
    assert audience(db) == [
        (1, "ann@example.com", "Ann", None, None, ["a", "b"]),
        (2, "bob@example.com", "Bob", None, None, []),
    ]


def test_csv_one_megabyte_field(tmp_path: Path, db: Path) -> None:
    big = "x" * 1_000_000
    content = f'email,last_name\nann@example.com,"{big}"\nbob@example.com,short\n'
    summary = prepare_audience(str(write(tmp_path / "big.csv", content)), db)
    assert summary.valid == 2
    assert fetch(db, "SELECT source_row, strlen(last_name) FROM audience ORDER BY 1") == [(1, 1_000_000), (2, 5)]


def test_csv_broken_quoting_names_the_line(tmp_path: Path, db: Path) -> None:
    content = 'email,first_name\nann@example.com,Ann\n"bob@example.com,Bob\ncid@example.com,Cid\n'
    path = write(tmp_path / "broken.csv", content)
    with pytest.raises(AudienceError) as err:
        prepare_audience(str(path), db)
    assert str(err.value) == f"{path} line 3: Value with unterminated quote found."


def test_csv_wrong_field_count_names_each_line(tmp_path: Path, db: Path) -> None:
    content = "email,first_name\nann@example.com,Ann\nbob@example.com,Bob,extra\ncid@example.com\n"
    path = write(tmp_path / "ragged.csv", content)
    with pytest.raises(AudienceError) as err:
        prepare_audience(str(path), db)
    message = str(err.value)
    assert message.startswith(f"{path} line 3: Expected Number of Columns: 2 Found: 3")
    assert message.endswith("(2 unreadable records in all)")


def test_csv_non_utf8_names_the_line(tmp_path: Path, db: Path) -> None:
    content = "email,first_name\nann@example.com,Ann\nbob@example.com,Ren\xe9\n".encode("latin-1")
    path = write(tmp_path / "latin1.csv", content)
    with pytest.raises(AudienceError) as err:
        prepare_audience(str(path), db)
    assert str(err.value) == f"{path} line 3: not valid UTF-8; save the file as UTF-8 and try again."


def test_csv_non_utf8_header(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path / "latin1.csv", "email,pr\xe9nom\nann@example.com,Ann\n".encode("latin-1"))
    with pytest.raises(AudienceError, match=r"line 1: the header is not valid UTF-8"):
        prepare_audience(str(path), db)


def test_empty_file(tmp_path: Path, db: Path) -> None:
    with pytest.raises(AudienceError, match="the audience file is empty"):
        prepare_audience(str(write(tmp_path / "empty.csv", "")), db)


def test_broken_json_is_an_audience_error(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"email": "a@example.com"}\n{"email": \n')
    with pytest.raises(AudienceError) as err:
        prepare_audience(str(path), db)
    assert "\n" not in str(err.value)


def test_source_row_follows_file_order_in_a_large_csv(tmp_path: Path, db: Path) -> None:
    # Large enough for DuckDB to read in parallel and to span several row groups.
    n = 300_000
    lines = ["email"] + [f"user{i}@example.com" if i % 1000 else f"broken{i}" for i in range(1, n + 1)]
    path = write(tmp_path / "large.csv", "\n".join(lines) + "\n")
    summary = prepare_audience(str(path), db)
    assert (summary.rows, summary.invalid) == (n, n // 1000)
    mismatches = fetch(
        db,
        "SELECT count(*) FROM audience WHERE email <> 'user' || source_row || '@example.com'",
    )
    assert mismatches == [(0,)]
    assert fetch(db, "SELECT count(*) FROM rejected WHERE email <> 'broken' || source_row") == [(0,)]
    physical = fetch(db, "SELECT source_row FROM audience")
    assert [r[0] for r in physical] == sorted(r[0] for r in physical)
