"""Optional fields: tags parsing, name cleaning, and fields_hash stability and change detection."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import pytest

from ac_sync.engine.audience import connect_db, fields_hash, prepare_audience
from ac_sync.engine.audience.fields import legacy_fields_hash

HEADER = ["email", "first_name", "last_name", "phone", "tags"]


def prepare_rows(tmp_path: Path, rows: list[list[str]], name: str = "people") -> Path:
    path = tmp_path / f"{name}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    db = tmp_path / f"{name}.duckdb"
    prepare_audience(str(path), db)
    return db


def fetch(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect_db(db) as con:
        return con.execute(sql).fetchall()


def hashes(db: Path) -> dict[str, str]:
    return dict(fetch(db, "SELECT email, fields_hash FROM audience"))


@pytest.mark.parametrize(
    ("raw", "tags"),
    [
        ("vip", ["vip"]),
        ("vip; newsletter", ["newsletter", "vip"]),
        ("a,b , c", ["a", "b", "c"]),
        ("b;a;b", ["a", "b"]),
        (" , ; ,", []),
        ("", []),
        ("two words, x", ["two words", "x"]),
        ("émoji 🎉;Ünïcode", ["Ünïcode", "émoji 🎉"]),
    ],
)
def test_tags_from_text(tmp_path: Path, raw: str, tags: list[str]) -> None:
    db = prepare_rows(tmp_path, [["a@example.com", "", "", "", raw]])
    assert fetch(db, "SELECT tags FROM audience") == [(tags,)]


def test_tags_from_sql_list_and_text(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    prepare_audience(
        "SELECT * FROM (VALUES ('a@example.com', [' x ', '', NULL, 'x', 'b']), ('b@example.com', NULL)) t(email, tags)",
        db,
    )
    assert fetch(db, "SELECT email, tags FROM audience ORDER BY source_row") == [
        ("a@example.com", ["b", "x"]),
        ("b@example.com", []),
    ]
    prepare_audience("SELECT 'a@example.com' AS email, 42 AS tags", db)
    assert fetch(db, "SELECT tags FROM audience") == [(["42"],)]


def test_without_optional_columns(tmp_path: Path) -> None:
    path = tmp_path / "only.csv"
    path.write_text("email\na@example.com\n")
    db = tmp_path / "db.duckdb"
    prepare_audience(str(path), db)
    assert fetch(db, "SELECT first_name, last_name, phone, tags, fields_hash FROM audience") == [
        (None, None, None, [], fields_hash({}))
    ]


def test_names_are_trimmed_and_blank_is_null(tmp_path: Path) -> None:
    db = prepare_rows(tmp_path, [["a@example.com", "  Ann  ", "   ", " 0123 ", ""]])
    assert fetch(db, "SELECT first_name, last_name, phone FROM audience") == [("Ann", None, "0123")]


def test_fields_hash_is_pinned() -> None:
    # Literal values: a change to the canonical form must be deliberate (bump HASH_VERSION).
    assert fields_hash({}) == hashlib.md5(b"v2").hexdigest()
    canonical = b"v2Kfirst_name:3:AnnKlast_name:3:LeeKphone:4:0123Ktags:2:1:a3:vip"
    values = {"first_name": "Ann", "last_name": "Lee", "phone": "0123"}
    assert fields_hash(values, ["VIP", "a"]) == hashlib.md5(canonical).hexdigest()
    # An empty value adds nothing: mapping a column whose cell is empty leaves the hash as it was.
    assert fields_hash({**values, "f7": None}, ["a", "vip"]) == fields_hash(values, ["vip", "A"])
    # The v1 form stays, to recognise what a v1 sync state says was sent.
    assert legacy_fields_hash("Ann", "Lee", "0123", ["a", "vip"]) == "dcdb8735713a3811390bf825a6d2e844"


def _standard(first: str | None, last: str | None, phone: str | None) -> dict[str, str | None]:
    return {"first_name": first, "last_name": last, "phone": phone}


def test_sql_hash_matches_python_twin(tmp_path: Path) -> None:
    rows = [
        ["a@example.com", "Ann", "Lee", "0123", "vip;a"],
        ["b@example.com", "", "", "", ""],
        ["c@example.com", "Zoë", 'O"Neil, Jr.\nline', "+1 (555) 010", "ünï;x y"],
        ["d@example.com", "ab", "", "", ""],
        ["e@example.com", "a", "b", "", ""],
    ]
    db = prepare_rows(tmp_path, rows)
    stored = fetch(db, "SELECT first_name, last_name, phone, tags, fields_hash FROM audience ORDER BY source_row")
    for first, last, phone, tags, digest in stored:
        assert digest == fields_hash(_standard(first, last, phone), tags)
    # Length prefixes keep ("ab", NULL) and ("a", "b") apart.
    assert stored[3][4] != stored[4][4]


def test_fields_hash_stable_across_runs_and_detects_changes(tmp_path: Path) -> None:
    rows = [
        ["a@example.com", "Ann", "Lee", "0123", "vip; news"],
        ["b@example.com", "Bob", "Ray", "", ""],
        ["c@example.com", "Cid", "", "0456", "x"],
    ]
    first = hashes(prepare_rows(tmp_path, rows, "run1"))
    assert hashes(prepare_rows(tmp_path, rows, "run2")) == first

    cosmetic = [
        [" A@Example.com ", " Ann ", "Lee  ", "0123", "news ,vip"],  # same values once normalised
        rows[1],
        rows[2],
    ]
    assert hashes(prepare_rows(tmp_path, cosmetic, "run3")) == first

    changed = [rows[0], ["b@example.com", "Bob", "Roy", "", ""], ["c@example.com", "Cid", "", "0456", "x;y"]]
    after = hashes(prepare_rows(tmp_path, changed, "run4"))
    assert after["a@example.com"] == first["a@example.com"]
    assert after["b@example.com"] != first["b@example.com"]
    assert after["c@example.com"] != first["c@example.com"]
    # NULL and empty are the same (blank); the empty string and a value are not.
    blank = hashes(prepare_rows(tmp_path, [["c@example.com", "Cid", "", "0456", ""]], "run5"))
    assert blank["c@example.com"] != first["c@example.com"]


def test_tag_sets_of_every_length_match_python(tmp_path: Path) -> None:
    lists = [[], ["b"], ["b", "a"], ["a", "a"], ["c", "a", "b"], ["b", "a", "b", "a", "c"], ["x"] * 5, ["é", "e", "E"]]
    db = tmp_path / "db.duckdb"
    values = ", ".join(f"({i}, {lst!r}::VARCHAR[])" for i, lst in enumerate(lists))
    prepare_audience(f"SELECT 'u' || i || '@example.com' AS email, tags FROM (VALUES {values}) t(i, tags)", db)
    stored = fetch(db, "SELECT tags, fields_hash FROM audience ORDER BY source_row")
    assert [tags for tags, _ in stored] == [sorted(set(lst)) for lst in lists]
    assert [digest for _, digest in stored] == [fields_hash({}, lst) for lst in lists]
