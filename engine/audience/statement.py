"""What an audience query may be: one statement that only reads, as DuckDB's parser sees it before anything runs.

The query is run as a subquery, so the check cannot be left to the wrapping: `SELECT 1) ; COPY (...) TO 'x'
--` closes the parenthesis and starts a second statement. DuckDB's parser splits the text into statements and
types each; the one allowed is a SELECT (WITH ... SELECT, VALUES, FROM ..., and DESCRIBE/SHOW/SUMMARIZE, which
DuckDB parses as SELECTs). DuckDB also accepts INSERT, UPDATE and DELETE as WITH clauses of a SELECT and runs
them, so the statement's syntax tree (json_serialize_sql) is walked for any query node that is not a read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

from ac_sync.engine.errors import AudienceError, engine_message

# The query nodes of a statement that only reads; anything else ending in _NODE (INSERT_QUERY_NODE,
# UPDATE_QUERY_NODE, DELETE_QUERY_NODE, ...) writes. An allow-list, so that a node type a later DuckDB adds
# is refused until someone looks at it.
READING_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
NOTHING_RAN = "nothing was run"
# The lines of this tool's SQL before the user's query in a statement built by subquery().
LINES_BEFORE = 1


def read_only_query(con: duckdb.DuckDBPyConnection, query: str, *, foreign: bool = False) -> str:
    """`query` ready for subquery(): one statement that only reads, its final semicolons (and comments) cut off.

    Raises AudienceError, before anything has run, for no statement, several, one of another kind, or a
    data-modifying WITH clause. A query DuckDB cannot parse fails with DuckDB's own message, unless it is
    `foreign` (PostgreSQL's dialect, which DuckDB's parser does not wholly cover): the server decides then,
    where the query runs as one prepared statement in a read-only transaction (postgres.py).
    """
    try:
        statements = con.extract_statements(query)
    except duckdb.ParserException as exc:
        if foreign:
            return _without_terminators(query)
        raise AudienceError(f"the audience query failed: {engine_message(exc)}") from None
    if not statements:
        raise AudienceError("the audience SQL is empty: give a file or a SELECT query")
    if len(statements) > 1:
        kinds = ", then ".join(_keyword(s) for s in statements)
        raise AudienceError(
            f"the audience SQL must be one SELECT query, but it holds {len(statements)} statements ({kinds});"
            f" {NOTHING_RAN}"
        )
    (statement,) = statements
    if statement.type != duckdb.StatementType.SELECT:
        raise AudienceError(
            f"the audience SQL must be a SELECT query that only reads, not {_what(statement)}; {NOTHING_RAN}"
        )
    writer = _writing_node(con, query)
    if writer is not None:
        raise AudienceError(
            f"the audience SQL must only read, but it holds {writer} (a data-modifying WITH clause); {NOTHING_RAN}"
        )
    body = _without_terminators(query)
    # What is sent is the body inside SQL of this tool's: it must still be one SELECT there.
    try:
        wrapped = con.extract_statements(f"SELECT * FROM {subquery(body, 'audience_query')}")
    except duckdb.ParserException:
        wrapped = []
    if len(wrapped) != 1 or wrapped[0].type != duckdb.StatementType.SELECT:
        raise AudienceError(f"the audience SQL is no longer one SELECT inside a subquery; {NOTHING_RAN}")
    return body


def subquery(body: str, alias: str) -> str:
    """`body` as a FROM item, on lines of its own: a trailing `--` comment cannot swallow the parenthesis."""
    return f"(\n{body}\n) AS {alias}"


def query_message(exc: BaseException) -> str:
    """The engine's whole message about a query run through subquery(), LINE numbers counting the user's lines."""
    return engine_message(exc, lines_before=LINES_BEFORE)


def _keyword(statement: Any) -> str:
    """What a statement is, in the words the user wrote: its first keyword, else (WITH, a comment) its type."""
    words = statement.query.lstrip("( \t\r\n").split(None, 1)
    first = words[0].upper() if words else ""
    return first if first.isalpha() and first != "WITH" else statement.type.name


def _what(statement: Any) -> str:
    if statement.type == duckdb.StatementType.MULTI:
        # A PIVOT without its values first creates an ENUM type of them, then selects.
        return "a statement DuckDB runs as several (a PIVOT: name its values with ON column IN (...))"
    return f"{_a(_keyword(statement))} statement"


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'AEIOU' else 'a'} {word}"


def _writing_node(con: duckdb.DuckDBPyConnection, query: str) -> str | None:
    """'an INSERT', 'a DELETE', ... when the statement's syntax tree holds a query node that is not a read."""
    row = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    assert row is not None
    tree = json.loads(row[0])
    if tree.get("error"):
        # A SELECT whose syntax tree DuckDB cannot give cannot be checked, so it is not run.
        raise AudienceError(
            f"the audience SQL cannot be checked as a read ({tree.get('error_message')}); {NOTHING_RAN}"
        )
    for node in _dicts(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE") and kind not in READING_NODES:
            return _a(kind.removesuffix("_NODE").removesuffix("_QUERY").replace("_", " "))
    return None


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


def _without_terminators(query: str) -> str:
    """The query without its final semicolons and what follows them: inside parentheses they are syntax errors.

    DuckDB's tokenizer tells a semicolon from one inside a string or a comment; its positions are UTF-8 byte
    offsets.
    """
    data = query.encode()
    end = len(data)
    try:
        tokens = duckdb.tokenize(query)
    except duckdb.Error:
        return query.strip()
    for start, kind in reversed(tokens):
        if kind == duckdb.token_type.comment:
            continue
        if kind == duckdb.token_type.operator and data[start : start + 1] == b";":
            end = start
            continue
        break
    return data[:end].decode(errors="replace").strip()
