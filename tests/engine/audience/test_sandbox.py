"""Every known way out of an audience query that only reads: a file it should not see, a URL, an extension,
the tool's own tables. The statement check (test_read_only.py) refuses writes; the sandbox refuses the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ac_sync.engine.audience import AudienceError, count_audience
from ac_sync.engine.audience.sandbox import QueryPolicy

OUTSIDE = "SELECT content AS email FROM read_text('{secret}')"
WAYS_OUT = {
    "read_text": "SELECT content AS email FROM read_text('{secret}')",
    "read_csv": "SELECT * FROM read_csv('{secret}', header = false, columns = {{'email': 'VARCHAR'}})",
    "read_blob": "SELECT content::VARCHAR AS email FROM read_blob('{secret}')",
    "a path that climbs out": "SELECT content AS email FROM read_text('{allowed}/../secret.txt')",
    "a glob": "SELECT file AS email FROM glob('{outside}/*')",
    "a neighbour with the same prefix": "SELECT content AS email FROM read_text('{allowed}x/secret.txt')",
    "a symlink inside pointing out": "SELECT content AS email FROM read_text('{allowed}/link.txt')",
}
ALWAYS_REFUSED = {
    "a URL (httpfs autoload)": ("SELECT * FROM 'https://example.com/people.csv'", "httpfs extension"),
    "an s3 URL": ("SELECT * FROM 's3://bucket/people.parquet'", "httpfs extension"),
    "an extension's function": ("SELECT * FROM read_xlsx('people.xlsx')", "excel extension"),
    "another database's scanner": ("SELECT * FROM sqlite_scan('x.db', 't')", "sqlite_scanner extension"),
    "the tool's own tables": ("SELECT email FROM main.rejected", "does not exist"),
}


@pytest.fixture
def place(tmp_path: Path) -> dict[str, str]:
    allowed, outside = tmp_path / "exports", tmp_path / "private"
    allowed.mkdir()
    outside.mkdir()
    (tmp_path / "exportsx").mkdir()
    for folder in (outside, tmp_path, tmp_path / "exportsx"):
        (folder / "secret.txt").write_text("secret@example.com")
    (allowed / "link.txt").symlink_to(outside / "secret.txt")
    (allowed / "people.csv").write_text("email\na@example.com\nb@example.com\n")
    return {"allowed": str(allowed), "outside": str(outside), "secret": str(outside / "secret.txt")}


@pytest.mark.parametrize("query", WAYS_OUT.values(), ids=WAYS_OUT.keys())
def test_a_query_limited_to_named_folders_reads_nothing_else(tmp_path: Path, place: dict[str, str], query: str) -> None:
    with pytest.raises(AudienceError) as err:
        count_audience(
            query.format(**place), tmp_path / "w" / "audience.duckdb", policy=QueryPolicy.of(place["allowed"])
        )
    message = str(err.value)
    assert "may read only files under" in message and "AC_SYNC_QUERY_FOLDERS" in message, message
    assert "secret@example.com" not in message


def test_the_named_folders_are_read_relative_and_absolute(
    tmp_path: Path, place: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    policy = QueryPolicy.of("exports")
    for query in (f"SELECT * FROM '{place['allowed']}/people.csv'", "SELECT * FROM 'exports/*.csv'"):
        summary = count_audience(query, tmp_path / "w" / "audience.duckdb", policy=policy)
        assert summary.valid == 2


def test_without_named_folders_a_file_is_readable_as_documented(tmp_path: Path, place: dict[str, str]) -> None:
    summary = count_audience(OUTSIDE.format(**place), tmp_path / "w" / "audience.duckdb")
    assert summary.valid == 1


@pytest.mark.parametrize("policy", [QueryPolicy(), None], ids=["any-file", "named-folders"])
@pytest.mark.parametrize(("query", "needle"), ALWAYS_REFUSED.values(), ids=ALWAYS_REFUSED.keys())
def test_no_extension_is_loaded_and_the_tools_tables_are_out_of_reach(
    tmp_path: Path, place: dict[str, str], query: str, needle: str, policy: QueryPolicy | None
) -> None:
    chosen = policy if policy is not None else QueryPolicy.of(place["allowed"])
    with pytest.raises(AudienceError) as err:
        count_audience(query, tmp_path / "w" / "audience.duckdb", policy=chosen)
    message = str(err.value)
    assert needle in message or "may read only files under" in message, message
    assert "INSTALL" not in message  # DuckDB's advice to install it is not the tool's


def test_the_query_leaves_no_file_of_its_own(tmp_path: Path, place: dict[str, str]) -> None:
    work = tmp_path / "w"
    count_audience(f"SELECT * FROM '{place['allowed']}/people.csv'", work / "audience.duckdb")
    assert not [p.name for p in work.iterdir() if p.name.startswith("ac-sync-query-")]
