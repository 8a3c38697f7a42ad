"""SQL that turns one audience column into the text its ActiveCampaign field takes, by the field's type.

Each conversion answers NULL for an empty cell and for a value that does not fit; `bad_value_sql` tells the two
apart, so that a value that does not fit goes to the rejected-rows log (with its row, column and reason) while
the contact is still synced with its other fields. What ActiveCampaign stores, per type:

- text, textarea, hidden: the text; numbers in a canonical form (no trailing zeros), dates as ISO 8601;
- date: `YYYY-MM-DD`, from DATE and TIMESTAMP columns and ISO text;
- datetime: ISO 8601 with an offset, in UTC; a value without a zone (a naive TIMESTAMP, text without an
  offset) is taken as UTC, and the plan says so;
- dropdown, radio: the option's own value, matched case-insensitively;
- listbox, checkbox: `||a||b||` from a list column or text split on `,` and `;`, each item an option.
"""

from __future__ import annotations

from ac_sync_engine.sql import sql_literal

from .fields import Column, clean_text_sql, tags_sql, text_sql
from .mapping import CHOICE_TYPES, MULTI_TYPES, AccountField

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "REAL")
ISO_DATE_TEXT = r"\d{4}-\d{2}-\d{2}(?:[T ].*)?"
ISO_DATETIME_TEXT = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?"
_ZONED_TEXT = r".*(?:Z|[+-]\d{2}(?::?\d{2})?)"
_OPTIONS_SHOWN = 10


def _base_type(col: Column) -> str:
    return col.type.split("(", 1)[0].upper()


def _is_numeric(col: Column) -> bool:
    base = _base_type(col)
    return base in _NUMERIC or base.startswith("U") and base[1:] in _NUMERIC or base == "DECIMAL"


def canonical_number_sql(expr: str) -> str:
    """A number's text without trailing fractional zeros: 1234.50 -> 1234.5, 12.0 -> 12."""
    return f"regexp_replace(regexp_replace(CAST({expr} AS VARCHAR), '(\\.\\d*?)0+$', '\\1'), '\\.$', '')"


def cell_text_sql(col: Column) -> str:
    """The cell as trimmed text, NULL when empty: what text fields take, and what other types are parsed from."""
    if _is_numeric(col):
        return canonical_number_sql(col.ident)
    base = _base_type(col)
    if base == "DATE":
        return f"strftime({col.ident}, '%Y-%m-%d')"
    if base.startswith("TIMESTAMP"):
        return _datetime_from_timestamp(col)
    if col.is_list:
        return f"nullif(array_to_string({tags_sql(col)}, ', '), '')"
    return clean_text_sql(text_sql(col))


def _datetime_from_timestamp(col: Column) -> str:
    zoned = "WITH TIME ZONE" in col.type.upper() or _base_type(col) == "TIMESTAMPTZ"
    expr = f"timezone('UTC', {col.ident})" if zoned else col.ident
    return f"(strftime({expr}, '%Y-%m-%dT%H:%M:%S') || '+00:00')"


def value_sql(col: Column, field: AccountField) -> str:
    """The value to send for `field` from column `col`: VARCHAR, NULL when empty or when it does not fit."""
    kind = field.kind
    base = _base_type(col)
    if kind == "date":
        if base == "DATE":
            return f"strftime({col.ident}, '%Y-%m-%d')"
        if base.startswith("TIMESTAMP"):
            zoned = "WITH TIME ZONE" in col.type.upper() or base == "TIMESTAMPTZ"
            expr = f"timezone('UTC', {col.ident})" if zoned else col.ident
            return f"strftime({expr}, '%Y-%m-%d')"
        text = cell_text_sql(col)
        return (
            f"CASE WHEN regexp_full_match({text}, {sql_literal(ISO_DATE_TEXT)})"
            f" THEN strftime(try_cast(substr({text}, 1, 10) AS DATE), '%Y-%m-%d') END"
        )
    if kind == "datetime":
        if base == "DATE":
            return f"(strftime({col.ident}, '%Y-%m-%d') || 'T00:00:00+00:00')"
        if base.startswith("TIMESTAMP"):
            return _datetime_from_timestamp(col)
        text = cell_text_sql(col)
        parsed = f"try_cast(replace({text}, ' ', 'T') AS TIMESTAMPTZ)"
        return (
            f"CASE WHEN regexp_full_match({text}, {sql_literal(ISO_DATETIME_TEXT)})"
            f" THEN strftime(timezone('UTC', {parsed}), '%Y-%m-%dT%H:%M:%S') || '+00:00' END"
        )
    if kind in CHOICE_TYPES:
        return f"{_options_map(field)}[lower({cell_text_sql(col)})]"
    if kind in MULTI_TYPES:
        items = tags_sql(col) if col.is_list or col.is_json or base == "VARCHAR" else f"[{cell_text_sql(col)}]"
        mapped = f"list_transform({items}, lambda i: {_options_map(field)}[lower(i)])"
        return (
            f"CASE WHEN len({items}) > 0 AND len(list_filter({mapped}, lambda m: m IS NULL)) = 0"
            f" THEN '||' || array_to_string(list_sort(list_distinct({mapped})), '||') || '||' END"
        )
    return cell_text_sql(col)


def present_sql(col: Column, field: AccountField) -> str:
    """Whether the cell holds anything at all (a value that does not fit is present; an empty cell is not)."""
    if field.kind in MULTI_TYPES:
        items = tags_sql(col) if col.is_list or col.is_json or _base_type(col) == "VARCHAR" else None
        if items is not None:
            return f"len({items}) > 0"
    return f"{cell_text_sql(col)} IS NOT NULL"


def naive_sql(col: Column, field: AccountField) -> str | None:
    """True for a datetime taken as UTC because it carried no zone; None when that cannot happen."""
    if field.kind != "datetime":
        return None
    base = _base_type(col)
    if base == "DATE" or "WITH TIME ZONE" in col.type.upper() or base == "TIMESTAMPTZ":
        return None
    if base.startswith("TIMESTAMP"):
        return f"{col.ident} IS NOT NULL"
    text = cell_text_sql(col)
    return f"({text} IS NOT NULL AND NOT regexp_full_match({text}, {sql_literal(_ZONED_TEXT)}))"


def reason_sql(value: str, field: AccountField) -> str:
    """Why `value` (the cell's text) was left out, as one line for the rejected-rows log."""
    label = f"{field.perstag} ({field.kind})"
    shown = f"left({value}, 100)"
    if field.kind == "date":
        why = f"is not a date: {label} takes YYYY-MM-DD"
    elif field.kind == "datetime":
        why = f"is not a date-time: {label} takes ISO 8601, e.g. 2024-03-05T10:00:00+00:00"
    elif field.kind in CHOICE_TYPES:
        why = f"is not an option of {label}{_options_text(field)}"
    elif field.kind in MULTI_TYPES:
        why = f"holds an item that is not an option of {label}{_options_text(field)}"
    else:
        why = f"does not fit {label}"
    return f"concat('''', {shown}, ''' ', {sql_literal(why)})"


def _options_map(field: AccountField) -> str:
    if not field.options:
        return "MAP {}::MAP(VARCHAR, VARCHAR)"
    # The first option wins when two differ only by case.
    seen: dict[str, str] = {}
    for option in field.options:
        seen.setdefault(option.lower(), option)
    pairs = ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in seen.items())
    return f"MAP {{{pairs}}}"


def _options_text(field: AccountField) -> str:
    if not field.options:
        return " (it has no options)"
    shown = ", ".join(field.options[:_OPTIONS_SHOWN])
    more = f", … {len(field.options) - _OPTIONS_SHOWN} more" if len(field.options) > _OPTIONS_SHOWN else ""
    return f" (options: {shown}{more})"
