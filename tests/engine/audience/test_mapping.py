"""Which column goes where: spreadsheet spellings, perstags and titles, explicit choices, and the problems."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ac_sync.engine.audience import prepare_audience
from ac_sync.engine.audience.fields import Column
from ac_sync.engine.audience.mapping import (
    AccountField,
    ColumnChoice,
    choices_from_document,
    map_columns,
    mapping_from_json,
    mapping_to_json,
    parse_choices,
)
from ac_sync.engine.errors import AmbiguousField, AudienceError, ConfigError, UnknownField

FIELDS = [
    AccountField(1, "Company", "COMPANY"),
    AccountField(2, "Lifetime Value", "LTV"),
    AccountField(3, "Signup Date", "SIGNUP_DATE", "date"),
    AccountField(4, "Plan", "PLAN", "dropdown", ("Free", "Pro", "Team")),
    AccountField(5, "Interests", "INTERESTS", "listbox", ("news", "events", "offers")),
    AccountField(6, "Last Seen", "LAST_SEEN", "datetime"),
]


def cols(*names: str) -> list[Column]:
    return [Column(n, "VARCHAR") for n in names]


def test_spreadsheet_headers_find_the_standard_fields() -> None:
    headers = ["E-mail", "First Name", "Surname", "Mobile", "Tags"]
    mapping = map_columns(cols(*headers), FIELDS)
    assert mapping.as_summary() == {
        "E-mail": "email",
        "First Name": "first_name",
        "Surname": "last_name",
        "Mobile": "phone",
        "Tags": "tags",
    }
    for spelling in ("Email Address", "email_address", "EMAIL", "e_mail"):
        assert map_columns(cols(spelling), FIELDS).standard("email") is not None, spelling
    for spelling in ("FirstName", "first-name", "Given Name"):
        assert map_columns(cols("email", spelling), FIELDS).standard("first_name") is not None, spelling


def test_custom_fields_by_perstag_or_title_and_the_rest_reported() -> None:
    mapping = map_columns(cols("Email", "Company", "ltv", "signup-date", "Favourite Colour"), FIELDS)
    assert mapping.as_summary() == {"Email": "email", "Company": "COMPANY", "ltv": "LTV", "signup-date": "SIGNUP_DATE"}
    assert mapping.unmapped == ("Favourite Colour",)
    assert [m.target.field.id for m in mapping.custom] == [1, 2, 3]  # type: ignore[union-attr]


def test_explicit_choices_override_and_ignore() -> None:
    choices = parse_choices(["Notes=COMPANY", "Company=-", "Value=2"])
    mapping = map_columns(cols("email", "Company", "Notes", "Value"), FIELDS, choices)
    assert mapping.as_summary() == {"email": "email", "Notes": "COMPANY", "Value": "LTV"}
    assert mapping.ignored == ("Company",)
    assert mapping.sent_nowhere == ["Company"]


def test_two_fields_for_one_column_and_an_unknown_field_are_problems() -> None:
    twins = [*FIELDS, AccountField(9, "Plan", "PLAN_2024")]
    with pytest.raises(AmbiguousField) as ambiguous:
        map_columns(cols("email", "Plan"), twins)
    assert ambiguous.value.context["candidates"] == ["PLAN (id 4)", "PLAN_2024 (id 9)"]
    with pytest.raises(UnknownField) as unknown:
        map_columns(cols("email", "Notes"), FIELDS, {"Notes": ColumnChoice("NOTES")})
    assert unknown.value.context["column"] == "Notes" and unknown.value.context["wanted"] == "NOTES"


def test_mistakes_in_choices_are_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="does not have"):
        map_columns(cols("email"), FIELDS, {"Nope": ColumnChoice("COMPANY")})
    with pytest.raises(ConfigError, match="COLUMN=FIELD"):
        parse_choices(["oops"])
    with pytest.raises(AudienceError, match="2 columns for 'COMPANY'"):
        map_columns(cols("email", "Company", "Firm"), FIELDS, {"Firm": ColumnChoice("COMPANY")})
    with pytest.raises(ConfigError, match="clear_empty"):
        choices_from_document({"Company": {"field": "COMPANY", "clear_empty": "yes"}}, "m.yaml")


def test_a_mapping_file_sets_clear_empty_per_column() -> None:
    choices = choices_from_document({"Company": {"field": "COMPANY", "clear_empty": True}, "Value": "LTV"}, "m.yaml")
    mapping = map_columns(cols("email", "Company", "Value"), FIELDS, choices)
    assert mapping.clear_empty == ("f1",)
    assert mapping_from_json(mapping_to_json(mapping)) == mapping


def test_values_by_type_and_what_does_not_fit_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Email,Company,Lifetime Value,Signup Date,Plan,Interests,Last Seen\n"
        "a@example.com,Initech,12.50,2024-03-05,pro,news; Events,2024-03-05T10:00:00+02:00\n"
        'b@example.com,,7,05/03/2024,Gold,"news, nope",2024-03-05 10:00\n'
        "c@example.com,Hooli,,,,,\n"
    )
    columns = [Column(n, "VARCHAR", f"c{i}") for i, n in enumerate(path.read_text().splitlines()[0].split(","))]
    mapping = map_columns(columns, FIELDS)
    db = tmp_path / "db.duckdb"
    summary = prepare_audience(str(path), db, mapping=mapping)
    assert (summary.rejected_values, summary.naive_datetimes) == (3, 1)
    with duckdb.connect(str(db)) as con:
        rows = con.execute("SELECT email, f1, f2, f3, f4, f5, f6 FROM audience ORDER BY source_row").fetchall()
        rejected = con.execute(
            "SELECT source_row, column_name, value, reason FROM rejected ORDER BY source_row, column_name"
        ).fetchall()
    assert rows == [
        ("a@example.com", "Initech", "12.50", "2024-03-05", "Pro", "||events||news||", "2024-03-05T08:00:00+00:00"),
        ("b@example.com", None, "7", None, None, None, "2024-03-05T10:00:00+00:00"),
        ("c@example.com", "Hooli", None, None, None, None, None),
    ]
    assert [(r, c, v) for r, c, v, _ in rejected] == [
        (2, "Interests", "news, nope"),
        (2, "Plan", "Gold"),
        (2, "Signup Date", "05/03/2024"),
    ]
    assert "is not an option of PLAN (dropdown) (options: Free, Pro, Team)" in rejected[1][3]
    assert "takes YYYY-MM-DD" in rejected[2][3]


def test_parquet_lists_dates_and_decimals(tmp_path: Path) -> None:
    path = tmp_path / "export.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (SELECT 'a@example.com' AS email, 1234.50::DECIMAL(10, 2) AS ltv, DATE '2024-02-03' AS signup_date,
                       ['offers', 'NEWS'] AS interests, TIMESTAMP '2024-01-02 03:04:05' AS last_seen)
                TO '{path}' (FORMAT parquet)"""
        )
        columns = [Column(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]
    mapping = map_columns(columns, FIELDS)
    db = tmp_path / "db.duckdb"
    summary = prepare_audience(str(path), db, mapping=mapping)
    assert summary.naive_datetimes == 1
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT f2, f3, f5, f6 FROM audience").fetchall() == [
            ("1234.5", "2024-02-03", "||news||offers||", "2024-01-02T03:04:05+00:00")
        ]
