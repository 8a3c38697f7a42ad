"""SQL text the engine builds for DuckDB: quoting (names and values come from user files) and dropping."""

from __future__ import annotations

import duckdb


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the table or view `name` in the main schema, whichever it is (or nothing)."""
    found = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    ).fetchone()
    if found is not None:
        con.execute(f"DROP {'VIEW' if found[0] == 'VIEW' else 'TABLE'} main.{name}")
