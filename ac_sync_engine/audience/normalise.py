"""The one SELECT that turns source rows into audience rows: normalised fields, the email's verdict, the hash.

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
    pick_columns,
    tag_set_sql,
    tag_sort_sql,
    tags_sql,
    text_sql,
)

# The email's class, the `cls` column.
VALID = 0  # accepted by the SQL fast path (or, after the Python pass, by email-validator)
REJECTED = 1  # surely invalid (SQL), or missing; the reason text is email-validator's, asked later
UNDECIDED = 2  # email-validator decides, before the audience is published

OUTPUT_COLUMNS = ("source_row", "email", *TEXT_FIELDS, "tags", "fields_hash", "raw", "cls")


def _email_class_sql(column: str) -> str:
    """The email's class (VALID, REJECTED or UNDECIDED) from its trimmed text `column`.

    The surely-invalid test sits inside the CASE so that it only runs for the few rows the fast path did
    not accept.
    """
    return f"""CASE WHEN coalesce({fast_email_sql(column)}, false) THEN {VALID}
                        WHEN {surely_invalid_sql(column)} THEN {REJECTED}
                        ELSE {UNDECIDED} END::UTINYINT"""


def rows_select(columns: list[Column], relation: str, *, limit: int | None = None) -> str:
    """SELECT yielding OUTPUT_COLUMNS for every source row, in source order.

    source_row is left NULL: numbering rows in the query (row_number() OVER ()) would make DuckDB run the
    whole pipeline on one thread, so the caller numbers them from the table's rowid instead. `email` is set
    for valid rows only; `raw` keeps the source's value where the rejected log may need it (rows not valid,
    or whose email changed when normalised).
    """
    picked = pick_columns(columns)
    inner = [f"{text_sql(picked['email'])} AS email_raw"]
    inner += [f"{clean_text_sql(text_sql(picked.get(f)))} AS {f}" for f in TEXT_FIELDS]
    inner.append(f"{tags_sql(picked.get('tags'))} AS tag_list")
    source = f"SELECT {', '.join(inner)} FROM {relation}"
    if limit is not None:
        source += f" LIMIT {int(limit)}"
    # Nested selects: each layer's columns exist once, and our aliases can never be confused with
    # same-named source columns.
    return f"""
        SELECT NULL::BIGINT AS source_row,
               CASE WHEN cls = {VALID} THEN email_lower END AS email,
               {", ".join(TEXT_FIELDS)},
               tags,
               {fields_hash_sql(*TEXT_FIELDS, "tags")} AS fields_hash,
               CASE WHEN cls <> {VALID} OR email_raw IS DISTINCT FROM email_lower THEN email_raw END AS raw,
               cls
        FROM (
            SELECT *, {_email_class_sql("email_trim")} AS cls, {tag_set_sql("tag_list", "tag_sorted")} AS tags
            FROM (
                SELECT *, lower(email_trim) AS email_lower, {tag_sort_sql("tag_list")} AS tag_sorted
                FROM (SELECT *, trim(email_raw) AS email_trim FROM ({source}))
            )
        )"""


def email_select(columns: list[Column], relation: str) -> str:
    """SELECT yielding (email, raw, cls) alone, as rows_select computes them: for counting, not storing."""
    picked = pick_columns(columns)
    return f"""
        SELECT CASE WHEN cls = {VALID} THEN lower(email_trim) END AS email,
               CASE WHEN cls <> {VALID} THEN email_raw END AS raw,
               cls
        FROM (
            SELECT *, {_email_class_sql("email_trim")} AS cls
            FROM (SELECT email_raw, trim(email_raw) AS email_trim
                  FROM (SELECT {text_sql(picked["email"])} AS email_raw FROM {relation}))
        )"""
