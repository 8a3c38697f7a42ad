"""Which source columns feed the audience, and the SQL that normalises them.

Only email is required; first_name, last_name, phone and tags are optional and every other column
is ignored. Names match case-insensitively because spreadsheets and SQL disagree on case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ac_sync_engine.errors import AudienceError
from ac_sync_engine.sql import quote_ident

TEXT_FIELDS = ("first_name", "last_name", "phone")
FIELDS = ("email", *TEXT_FIELDS, "tags")
# Bump when the canonical form changes, so old hashes can never match new ones by accident.
HASH_VERSION = "v1"


@dataclass(frozen=True)
class Column:
    name: str  # as the source spells it, for messages and the summary
    type: str  # DuckDB type name as DESCRIBE reports it
    sql_name: str | None = None  # identifier in the staged relation, when it differs from name

    @property
    def ident(self) -> str:
        return quote_ident(self.sql_name or self.name)

    @property
    def is_list(self) -> bool:
        return self.type.endswith("]")

    @property
    def is_json(self) -> bool:
        return self.type == "JSON"


def pick_columns(columns: Sequence[Column]) -> dict[str, Column]:
    """Map each audience field to its source column; raise if email is missing or a name is ambiguous."""
    found: dict[str, list[Column]] = {}
    for col in columns:
        key = col.name.strip().lower()
        if key in FIELDS:
            found.setdefault(key, []).append(col)
    for field, cols in found.items():
        if len(cols) > 1:
            names = ", ".join(c.name for c in cols)
            raise AudienceError(f"the audience has {len(cols)} columns named '{field}' ({names}); keep one")
    if "email" not in found:
        listed = ", ".join(c.name for c in columns) or "none"
        raise AudienceError(f"the audience has no 'email' column (columns found: {listed})")
    return {field: cols[0] for field, cols in found.items()}


def text_sql(col: Column | None) -> str:
    """A VARCHAR expression for a scalar source column, whatever its type."""
    if col is None:
        return "NULL::VARCHAR"
    ident = col.ident
    if col.type == "VARCHAR":
        return ident
    if col.is_json:
        # ->> unwraps JSON strings; numbers and objects come back as their JSON text.
        return f"({ident} ->> '$')"
    return f"CAST({ident} AS VARCHAR)"


# A tag is a run without separators that starts and ends with a non-space: extracting these
# splits, trims and drops empty tags in one regex pass, much cheaper than list lambdas per row.
_TAG_TOKEN = r"[^,;\s](?:[^,;]*[^,;\s])?"


def tags_sql(col: Column | None) -> str:
    """A VARCHAR[] of trimmed, non-empty tags: list columns as they are, text split on , and ;.

    Pass the result (as a column, so it is computed once) through tag_sort_sql and tag_set_sql.
    """
    if col is None:
        return "[]::VARCHAR[]"
    ident = col.ident
    if col.is_list:
        return _tidy_list(f"CAST({ident} AS VARCHAR[])")
    if col.is_json:
        as_list = _tidy_list(f"from_json({ident}, '[\"VARCHAR\"]')")
        as_text = _split_text(f"({ident} ->> '$')")
        return f"CASE WHEN json_type({ident}) = 'ARRAY' THEN {as_list} ELSE {as_text} END"
    return _split_text(text_sql(col))


def _split_text(expr: str) -> str:
    return f"regexp_extract_all({expr}, '{_TAG_TOKEN}')"


def _tidy_list(expr: str) -> str:
    return f"list_filter(list_transform({expr}, lambda t: trim(t)), lambda t: t <> '')"


def tag_sort_sql(column: str) -> str:
    """The tag list sorted, only where tag_set_sql needs it (three or more tags); pass it as a column."""
    return f"CASE WHEN len({column}) > 2 THEN list_sort({column}) END"


def tag_set_sql(column: str, sorted_column: str) -> str:
    """Tags as a set: ActiveCampaign tags have no order, so the same tags reordered must hash the same.

    `sorted_column` is tag_sort_sql(column), computed beforehand. Most contacts have at most two
    tags, which need no sort; longer lists drop repeats by comparing neighbours in the sorted list,
    which costs far less than list_distinct's hashing.
    """
    pair = (
        f"CASE WHEN {column}[1] < {column}[2] THEN {column}"
        f" WHEN {column}[1] > {column}[2] THEN [{column}[2], {column}[1]] ELSE [{column}[1]] END"
    )
    longer = f"list_filter({sorted_column}, lambda t, i: i = 1 OR t <> {sorted_column}[i - 1])"
    return (
        f"coalesce(CASE WHEN len({column}) < 2 THEN {column} WHEN len({column}) = 2 THEN {pair}"
        f" ELSE {longer} END, []::VARCHAR[])"
    )


def clean_text_sql(expr: str) -> str:
    # Surrounding spaces and empty strings carry no information for a contact field.
    return f"nullif(trim({expr}), '')"


def _enc_sql(expr: str) -> str:
    # Length-prefixed so that no two different value tuples share a serialisation.
    return f"if({expr} IS NULL, 'N', concat('S', strlen({expr}), ':', {expr}))"


def _tags_enc_sql(tags: str) -> str:
    # One concat per row for the usual zero to two tags; a lambda over the list only for longer ones.
    one = f"strlen({tags}[1]), ':', {tags}[1]"
    two = f"{one}, strlen({tags}[2]), ':', {tags}[2]"
    longer = f"array_to_string(list_transform({tags}, lambda t: concat(strlen(t), ':', t)), '')"
    return (
        f"CASE len({tags}) WHEN 0 THEN 'L0:' WHEN 1 THEN concat('L1:', {one}) WHEN 2 THEN concat('L2:', {two})"
        f" ELSE concat('L', len({tags}), ':', {longer}) END"
    )


def fields_hash_sql(first: str, last: str, phone: str, tags: str) -> str:
    """md5 over a hand-rolled canonical form, so the hash does not depend on DuckDB's formatting.

    `tags` must not be NULL (tag_set_sql never is). Built with single concat() calls: chains of ||
    materialise every intermediate string, which made this the costliest expression of the pipeline.
    """
    parts = ", ".join([f"'{HASH_VERSION}'", _enc_sql(first), _enc_sql(last), _enc_sql(phone), _tags_enc_sql(tags)])
    return f"md5(concat({parts}))"


def fields_hash(first_name: str | None, last_name: str | None, phone: str | None, tags: Sequence[str]) -> str:
    """The same hash as fields_hash_sql, for normalised values (as stored in the audience table)."""

    def enc(value: str | None) -> str:
        return "N" if value is None else f"S{len(value.encode())}:{value}"

    tag_part = f"L{len(tags)}:" + "".join(f"{len(t.encode())}:{t}" for t in tags)
    canonical = HASH_VERSION + enc(first_name) + enc(last_name) + enc(phone) + tag_part
    return hashlib.md5(canonical.encode()).hexdigest()
