"""SQL that turns one audience column into the text its ActiveCampaign field takes, by the field's type.

A conversion answers NULL for an empty cell and for a value that does not fit; `bad_sql` tells the two apart,
so that a value that does not fit goes to the rejected-rows log (with its row, column and reason) while the
contact is still synced with its other fields. What ActiveCampaign stores, per type:

- text, textarea, hidden: the text; numbers in a canonical form (no trailing zeros), dates as ISO 8601;
- date: `YYYY-MM-DD`, from DATE and TIMESTAMP columns and ISO text;
- datetime: ISO 8601 with an offset, in UTC; a value without a zone (a naive TIMESTAMP, text without an
  offset) is taken as UTC, and the plan says so;
- dropdown, radio: the option's own value, matched case-insensitively;
- listbox, checkbox: `||a||b||` from a list column or text split on `,` and `;`, each item an option.

The conversions run in layers of one SELECT (normalise.rows_select), each step computed once per row: `base_sql`
reads the cell (its trimmed text, its typed value, or its items), `mapped_sql` matches a list's items to the
options, `value_sql` makes the value, `bad_sql` and `naive_sql` look at both. They name their inputs by the
columns of the layer below (`base`, `mapped`).
"""

from __future__ import annotations

from ac_sync.engine.sql import sql_literal

from .fields import Column, clean_text_sql, tags_sql, text_sql
from .mapping import CHOICE_TYPES, MULTI_TYPES, AccountField

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "REAL")
_ZONED_TEXT = r".*(?:Z|[+-]\d{2}(?::?\d{2})?)"
_OPTIONS_SHOWN = 10
_ISO_SECONDS = "'%Y-%m-%dT%H:%M:%S'"


def _base_type(col: Column) -> str:
    return col.type.split("(", 1)[0].upper()


def _is_numeric(col: Column) -> bool:
    base = _base_type(col)
    return base in _NUMERIC or base.startswith("U") and base[1:] in _NUMERIC or base == "DECIMAL"


def _is_timestamp(col: Column) -> bool:
    return _base_type(col).startswith("TIMESTAMP")


def _is_zoned(col: Column) -> bool:
    return "WITH TIME ZONE" in col.type.upper() or _base_type(col) == "TIMESTAMPTZ"


def _typed(col: Column, field: AccountField) -> bool:
    """Whether a date or date-time field reads the column's own DATE/TIMESTAMP value rather than text."""
    return field.kind in ("date", "datetime") and (_base_type(col) == "DATE" or _is_timestamp(col))


def _is_list(col: Column, field: AccountField) -> bool:
    return field.kind in MULTI_TYPES and (col.is_list or col.is_json or _base_type(col) == "VARCHAR")


def canonical_number_sql(expr: str) -> str:
    """A number's text without trailing fractional zeros: 1234.50 -> 1234.5, 12.0 -> 12."""
    return f"regexp_replace(regexp_replace(CAST({expr} AS VARCHAR), '(\\.\\d*?)0+$', '\\1'), '\\.$', '')"


def cell_text_sql(col: Column) -> str:
    """The cell as trimmed text, NULL when empty: what text fields take, and what other types are parsed from."""
    if _is_numeric(col):
        return canonical_number_sql(col.ident)
    if _base_type(col) == "DATE":
        return f"strftime({col.ident}, '%Y-%m-%d')"
    if _is_timestamp(col):
        return _iso_utc(col.ident, zoned=_is_zoned(col))
    if col.is_list:
        return f"nullif(array_to_string({tags_sql(col)}, ', '), '')"
    return clean_text_sql(text_sql(col))


def _iso_utc(expr: str, *, zoned: bool) -> str:
    moment = f"timezone('UTC', {expr})" if zoned else expr
    return f"(strftime({moment}, {_ISO_SECONDS}) || '+00:00')"


def base_sql(col: Column, field: AccountField) -> str:
    """The cell as the conversion reads it: the typed value, the list of items, or the trimmed text."""
    if _typed(col, field):
        return col.ident
    if _is_list(col, field):
        return tags_sql(col)
    if field.kind in MULTI_TYPES:
        return f"[{cell_text_sql(col)}]"
    return cell_text_sql(col)


def mapped_sql(base: str, col: Column, field: AccountField) -> str | None:
    """A list field's items as the options' own values (NULL for an item that is no option); None otherwise."""
    if field.kind not in MULTI_TYPES:
        return None
    return f"list_transform({base}, lambda i: {_options_map(field)}[lower(i)])"


def value_sql(base: str, mapped: str | None, col: Column, field: AccountField) -> str:
    """The value to send for `field`: VARCHAR, NULL when empty or when it does not fit."""
    kind = field.kind
    if kind == "date":
        if _typed(col, field):
            moment = f"timezone('UTC', {base})" if _is_zoned(col) else base
            return f"strftime({moment}, '%Y-%m-%d')"
        return f"CAST(try_cast({base} AS DATE) AS VARCHAR)"
    if kind == "datetime":
        if _base_type(col) == "DATE":
            return f"(strftime({base}, '%Y-%m-%d') || 'T00:00:00+00:00')"
        if _typed(col, field):
            return _iso_utc(base, zoned=_is_zoned(col))
        return _iso_utc(f"try_cast({base} AS TIMESTAMPTZ)", zoned=True)
    if kind in CHOICE_TYPES:
        return f"{_options_map(field)}[lower({base})]"
    if kind in MULTI_TYPES:
        assert mapped is not None
        # Sorting and de-duplicating a list is the costly part: most cells hold one or two items.
        one = f"concat('||', {mapped}[1], '||')"
        a, b = f"{mapped}[1]", f"{mapped}[2]"
        two = f"CASE WHEN {a} = {b} THEN {one} ELSE concat('||', least({a}, {b}), '||', greatest({a}, {b}), '||') END"
        more = f"'||' || array_to_string(list_sort(list_distinct({mapped})), '||') || '||'"
        return (
            f"CASE WHEN len({mapped}) = 0 OR list_aggregate({mapped}, 'count') < len({mapped}) THEN NULL"
            f" WHEN len({mapped}) = 1 THEN {one} WHEN len({mapped}) = 2 THEN {two} ELSE {more} END"
        )
    return base


def bad_sql(base: str, value: str, col: Column, field: AccountField) -> str | None:
    """The cell's text where it holds something that did not fit (NULL where it fitted or was empty); None when
    nothing can fail to fit (text, and typed date columns)."""
    if field.kind in ("text", "textarea", "hidden") or _typed(col, field):
        return None
    if field.kind in MULTI_TYPES:
        return f"CASE WHEN len({base}) > 0 AND {value} IS NULL THEN array_to_string({base}, ', ') END"
    return f"CASE WHEN {base} IS NOT NULL AND {value} IS NULL THEN {base} END"


def naive_sql(base: str, col: Column, field: AccountField) -> str | None:
    """True for a datetime taken as UTC because it carried no zone; None when that cannot happen."""
    if field.kind != "datetime" or _base_type(col) == "DATE" or _is_zoned(col):
        return None
    if _is_timestamp(col):
        return f"{base} IS NOT NULL"
    return f"({base} IS NOT NULL AND NOT regexp_full_match({base}, {sql_literal(_ZONED_TEXT)}))"


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
    """The field's options by their lower case, in parentheses: `MAP {}::MAP(VARCHAR, VARCHAR)[x]` would parse
    as an array type (a field retyped to a dropdown with no options yet)."""
    if not field.options:
        return "(MAP {}::MAP(VARCHAR, VARCHAR))"
    # The first option wins when two differ only by case.
    seen: dict[str, str] = {}
    for option in field.options:
        seen.setdefault(option.lower(), option)
    pairs = ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in seen.items())
    return f"(MAP {{{pairs}}})"


def _options_text(field: AccountField) -> str:
    if not field.options:
        return " (it has no options)"
    shown = ", ".join(field.options[:_OPTIONS_SHOWN])
    more = f", … {len(field.options) - _OPTIONS_SHOWN} more" if len(field.options) > _OPTIONS_SHOWN else ""
    return f" (options: {shown}{more})"
