"""The one SELECT that turns source rows into audience rows: mapped values, the email's verdict, the hash.

Every later step (de-duplication, the rejected log, the published table) works from its output, so the
source is read once and each expression is computed once per row.
"""

from __future__ import annotations

from .emails import fast_email_sql, surely_invalid_sql
from .fields import (
    TEXT_FIELDS,
    Column,
    clean_text_sql,
    fields_hash_sql,
    tag_set_sql,
    tag_sort_sql,
    tags_sql,
    text_sql,
)
from .mapping import ColumnMap, ColumnMapping
from .values import bad_sql, base_sql, mapped_sql, naive_sql, value_sql

# The email's class, the `cls` column.
VALID = 0  # accepted by the SQL fast path (or, after the Python pass, by email-validator)
REJECTED = 1  # surely invalid (SQL), or missing; the reason text is email-validator's, asked later
UNDECIDED = 2  # email-validator decides, before the audience is published

# Helper columns of the staged rows, dropped once the audience is published.
HELPER_COLUMNS = ("raw", "cls")


def value_column(field_id: int) -> str:
    """The audience table's column holding a custom field's value."""
    return f"f{field_id}"


def bad_column(field_id: int) -> str:
    """The staged column holding a cell whose value did not fit its field (NULL when it did, or was empty)."""
    return f"bad_f{field_id}"


NAIVE_COLUMN = "naive_datetimes"


def fallible(mapping: ColumnMapping) -> list[ColumnMap]:
    """The custom maps whose cells can hold a value that does not fit (they get a bad_ column)."""
    return [m for m in mapping.custom if bad_sql("b", "v", m.column, m.target.field) is not None]  # type: ignore[arg-type]


def _naive_maps(mapping: ColumnMapping) -> list[ColumnMap]:
    return [m for m in mapping.custom if naive_sql("b", m.column, m.target.field) is not None]  # type: ignore[arg-type]


def staged_columns(mapping: ColumnMapping) -> list[str]:
    """What rows_select yields, in order."""
    custom = [value_column(m.target.field.id) for m in mapping.custom]  # type: ignore[union-attr]
    bad = [bad_column(m.target.field.id) for m in fallible(mapping)]  # type: ignore[union-attr]
    naive = [NAIVE_COLUMN] if _naive_maps(mapping) else []
    return ["source_row", "email", *TEXT_FIELDS, "tags", *custom, "fields_hash", *HELPER_COLUMNS, *bad, *naive]


def _email_class_sql(column: str) -> str:
    """The email's class (VALID, REJECTED or UNDECIDED) from its trimmed text `column`.

    The surely-invalid test sits inside the CASE so that it only runs for the few rows the fast path did
    not accept.
    """
    return f"""CASE WHEN coalesce({fast_email_sql(column)}, false) THEN {VALID}
                        WHEN {surely_invalid_sql(column)} THEN {REJECTED}
                        ELSE {UNDECIDED} END::UTINYINT"""


def rows_select(mapping: ColumnMapping, relation: str, *, limit: int | None = None) -> str:
    """SELECT yielding staged_columns(mapping) for every source row, in source order.

    source_row is left NULL: numbering rows in the query (row_number() OVER ()) would make DuckDB run the
    whole pipeline on one thread, so the caller numbers them from the table's rowid instead. `email` is set
    for valid rows only; `raw` keeps the source's value where the rejected log may need it (rows not valid,
    or whose email changed when normalised). Each custom value is computed in layers (values.py), each
    step once per row.
    """
    email = mapping.standard("email")
    assert email is not None
    reads = [f"{text_sql(email)} AS email_raw"]
    reads += [f"{_standard_text(mapping.standard(f))} AS {f}" for f in TEXT_FIELDS]
    reads.append(f"{tags_sql(mapping.standard('tags'))} AS tag_list")
    mapped, made, checked = [], [], []
    custom: dict[str, str] = {}
    for i, m in enumerate(mapping.custom):
        fld = m.target.field
        assert fld is not None
        base, name = f"base{i}", value_column(fld.id)
        custom[m.target.key] = name
        reads.append(f"{base_sql(m.column, fld)} AS {base}")
        listed = mapped_sql(base, m.column, fld)
        if listed is not None:
            mapped.append(f"{listed} AS mapped{i}")
        made.append(f"{value_sql(base, f'mapped{i}' if listed else None, m.column, fld)} AS {name}")
        bad = bad_sql(base, name, m.column, fld)
        if bad is not None:
            checked.append(f"{bad} AS {bad_column(fld.id)}")
    naive = [p for i, m in enumerate(mapping.custom) if (p := naive_sql(f"base{i}", m.column, m.target.field))]  # type: ignore[arg-type]
    if naive:
        checked.append(f"({' OR '.join(f'coalesce({p}, false)' for p in naive)}) AS {NAIVE_COLUMN}")
    source = f"SELECT {', '.join(reads)} FROM {relation}"
    if limit is not None:
        source += f" LIMIT {int(limit)}"
    for layer in (mapped, made, checked):
        if layer:
            source = f"SELECT *, {', '.join(layer)} FROM ({source})"
    hashed = {**{f: f for f in TEXT_FIELDS}, **custom}
    extra = [*custom.values(), "fields_hash", "raw", "cls"]
    extra += [bad_column(m.target.field.id) for m in fallible(mapping)]  # type: ignore[union-attr]
    if naive:
        extra.append(NAIVE_COLUMN)
    # Nested selects: each layer's columns exist once, and our aliases can never be confused with
    # same-named source columns.
    return f"""
        SELECT NULL::BIGINT AS source_row,
               CASE WHEN cls = {VALID} THEN email_lower END AS email,
               {", ".join(TEXT_FIELDS)}, tags, {", ".join(extra)}
        FROM (
            SELECT *, {fields_hash_sql(hashed, "tags")} AS fields_hash,
                   CASE WHEN cls <> {VALID} OR email_raw IS DISTINCT FROM email_lower THEN email_raw END AS raw
            FROM (
                SELECT *, {_email_class_sql("email_trim")} AS cls, {tag_set_sql("tag_list", "tag_sorted")} AS tags
                FROM (
                    SELECT *, lower(email_trim) AS email_lower, {tag_sort_sql("tag_list")} AS tag_sorted
                    FROM (SELECT *, trim(email_raw) AS email_trim FROM ({source}))
                )
            )
        )"""


def _standard_text(col: Column | None) -> str:
    return "NULL::VARCHAR" if col is None else clean_text_sql(text_sql(col))


def email_select(email: Column, relation: str) -> str:
    """SELECT yielding (email, raw, cls) alone, as rows_select computes them: for counting, not storing."""
    return f"""
        SELECT CASE WHEN cls = {VALID} THEN lower(email_trim) END AS email,
               CASE WHEN cls <> {VALID} THEN email_raw END AS raw,
               cls
        FROM (
            SELECT *, {_email_class_sql("email_trim")} AS cls
            FROM (SELECT email_raw, trim(email_raw) AS email_trim
                  FROM (SELECT {text_sql(email)} AS email_raw FROM {relation}))
        )"""
