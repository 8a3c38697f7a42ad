"""The SQL that normalises audience columns (text, tag lists) and the change hash over what is sent.

Which column feeds which field is `mapping`'s business; what a custom field's value becomes is `values`'.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ac_sync.engine.sql import quote_ident

TEXT_FIELDS = ("first_name", "last_name", "phone")
# Bump when the canonical form changes, so old hashes can never match new ones by accident; the sync state
# keeps what it sent, so a new form migrates it instead of re-sending everyone (upload.planner).
HASH_VERSION = "v2"
LEGACY_HASH_VERSION = "v1"


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


def legacy_fields_hash_sql(first: str, last: str, phone: str, tags: str) -> str:
    """The v1 hash (names, phone, exact tag set): only to recognise what a v1 sync state says was sent."""
    parts = ", ".join(
        [f"'{LEGACY_HASH_VERSION}'", _enc_sql(first), _enc_sql(last), _enc_sql(phone), _tags_enc_sql(tags)]
    )
    return f"md5(concat({parts}))"


def legacy_fields_hash(first_name: str | None, last_name: str | None, phone: str | None, tags: Sequence[str]) -> str:
    """The same hash as legacy_fields_hash_sql, for normalised values."""

    def enc(value: str | None) -> str:
        return "N" if value is None else f"S{len(value.encode())}:{value}"

    tag_part = f"L{len(tags)}:" + "".join(f"{len(t.encode())}:{t}" for t in tags)
    canonical = LEGACY_HASH_VERSION + enc(first_name) + enc(last_name) + enc(phone) + tag_part
    return hashlib.md5(canonical.encode()).hexdigest()


def _keyed_sql(key: str, expr: str) -> str:
    # An empty value adds nothing: mapping a new column changes the hash only of contacts that have a value.
    return f"if({expr} IS NULL, '', concat('K{key}:', strlen({expr}), ':', {expr}))"


def _tags_key_enc_sql(tags: str) -> str:
    """The tags as ActiveCampaign compares them (lower-cased, a sorted set), encoded for the hash; `tags` is a
    VARCHAR[] column. Most contacts have at most two tags: those need no lambda and no sort."""
    l1, l2 = f"lower({tags}[1])", f"lower({tags}[2])"
    one = f"concat('Ktags:1:', strlen({l1}), ':', {l1})"
    lo, hi = f"least({l1}, {l2})", f"greatest({l1}, {l2})"
    two = f"concat('Ktags:2:', strlen({lo}), ':', {lo}, strlen({hi}), ':', {hi})"
    key = f"list_sort(list_distinct(list_transform({tags}, lambda t: lower(t))))"
    more = (
        f"concat('Ktags:', len({key}), ':',"
        f" array_to_string(list_transform({key}, lambda t: concat(strlen(t), ':', t)), ''))"
    )
    return (
        f"CASE len({tags}) WHEN 0 THEN '' WHEN 1 THEN {one}"
        f" WHEN 2 THEN CASE WHEN {l1} = {l2} THEN {one} ELSE {two} END ELSE {more} END"
    )


def fields_hash_sql(values: Mapping[str, str], tags: str) -> str:
    """md5 over a hand-rolled canonical form of the values sent (`key -> SQL expression`) and the tags.

    Keys are the targets' stable names (first_name, f12, ...), taken in sorted order; `tags` is a VARCHAR[]
    column. Built with single concat() calls: chains of || materialise every intermediate string.
    """
    parts = [f"'{HASH_VERSION}'", *(_keyed_sql(k, values[k]) for k in sorted(values)), _tags_key_enc_sql(tags)]
    return f"md5(concat({', '.join(parts)}))"


def fields_hash(values: Mapping[str, str | None], tags: Sequence[str] = ()) -> str:
    """The same hash as fields_hash_sql, for normalised values."""
    canonical = HASH_VERSION
    for key in sorted(values):
        value = values[key]
        if value is not None:
            canonical += f"K{key}:{len(value.encode())}:{value}"
    if tags:
        lowered = sorted({t.lower() for t in tags})
        canonical += f"Ktags:{len(lowered)}:" + "".join(f"{len(t.encode())}:{t}" for t in lowered)
    return hashlib.md5(canonical.encode()).hexdigest()
