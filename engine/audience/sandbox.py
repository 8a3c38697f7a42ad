"""Where a DuckDB audience query runs: an instance of its own that loads and installs no extension, whose settings
are locked before the query starts, and that reads files only under the folders a deployment names.

The statement check (statement.py) already refuses anything but one read; this is the second wall, for what a
read can still reach: `read_text('/etc/passwd')`, a URL in FROM that would autoload `httpfs`, a `SET` hidden
in no statement at all. The query's rows land in a private file of their own, which the audience database
then copies, so the tool's own database never runs the user's SQL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from ac_sync.engine.errors import AudienceError
from ac_sync.engine.settings import SyncSettings
from ac_sync.engine.sql import sql_literal

from .statement import subquery

SANDBOX_MEMORY_LIMIT = "384MB"
FOLDERS_SETTING = "AC_SYNC_QUERY_FOLDERS"
_DENIED_FILE = re.compile(r'Cannot access (?:file|directory) "([^"]*)"')
# DuckDB's words when a query needs an extension it may not load (followed by advice to INSTALL and LOAD it,
# which the audience query may not do).
_EXTENSION = re.compile(r"requires the extension (\w+)|exists in the (\w+) extension|Loading external extensions")


@dataclass(frozen=True)
class QueryPolicy:
    """What the audience query may reach. `folders` empty: any file this process can read (DuckDB's default);
    else only files under them (and no URL). On PostgreSQL: `timeout_s` per statement, and `role_check` —
    "refuse" a role that may open connections of its own (dblink) or is a superuser, or only "warn"."""

    folders: tuple[str, ...] = ()
    timeout_s: float = 3600.0
    role_check: Literal["refuse", "warn"] = "refuse"

    @classmethod
    def of(cls, setting: str | None, **options: Any) -> QueryPolicy:
        """From the folders setting's text: folders separated by the platform's path separator (as in PATH)."""
        parts = [p.strip() for p in (setting or "").split(os.pathsep) if p.strip()]
        return cls(tuple(str(Path(p).expanduser().resolve()) for p in parts), **options)

    @classmethod
    def from_settings(cls, settings: SyncSettings) -> QueryPolicy:
        return cls.of(settings.query_folders, timeout_s=settings.query_timeout_s, role_check=settings.query_role_check)


ANY_FILE = QueryPolicy()  # no folders named: DuckDB's default file access, still without extensions


def run_into(
    con: duckdb.DuckDBPyConnection, body: str, table: str, policy: QueryPolicy, *, near: Path | None = None
) -> None:
    """Run the checked query `body` in a locked sandbox and copy its rows into `table` of `con` (raises the
    sandbox's duckdb.Error: see refusal()).

    `near`: the folder for the rows' private file (the audience database's, so that a large result spills to the
    disk the caller chose); the system's temporary folder otherwise."""
    with _private_folder(near) as folder:
        rows_file = folder / "rows.duckdb"
        sandbox = _locked(rows_file, folder / "spill", policy)
        try:
            sandbox.execute(f"CREATE TABLE q.rows AS SELECT * FROM {subquery(body, 'audience_query')}")
        finally:
            sandbox.close()
        alias = f"ac_sync_query_{uuid.uuid4().hex[:12]}"
        con.execute(f"ATTACH {sql_literal(str(rows_file))} AS {alias} (READ_ONLY)")
        try:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM {alias}.rows")
        finally:
            con.execute(f"DETACH {alias}")


def bind(body: str, policy: QueryPolicy) -> list[tuple[str, str]]:
    """The checked query's columns (name, type) as the sandbox binds it, without running it: a file it may not
    read, or an extension it needs, is refused here already (raises duckdb.Error)."""
    with _private_folder(None) as folder:
        sandbox = _locked(folder / "rows.duckdb", folder / "spill", policy)
        try:
            rows = sandbox.execute(f"DESCRIBE SELECT * FROM {subquery(body, 'audience_query')}").fetchall()
        finally:
            sandbox.close()
    return [(str(r[0]), str(r[1])) for r in rows]


def _locked(rows_file: Path, spill: Path, policy: QueryPolicy) -> duckdb.DuckDBPyConnection:
    # Extension loading is refused at open time: a URL in FROM does not bring httpfs in, nor LOAD anything.
    sandbox = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
        }
    )
    try:
        sandbox.execute(f"SET memory_limit = '{SANDBOX_MEMORY_LIMIT}'")
        sandbox.execute("SET preserve_insertion_order = true")  # source_row is the query's row order
        sandbox.execute(f"SET temp_directory = {sql_literal(str(spill))}")
        if policy.folders:
            listed = ", ".join(sql_literal(f.rstrip("/") + "/") for f in policy.folders)
            sandbox.execute(f"SET allowed_directories = [{listed}]")
        sandbox.execute(f"ATTACH {sql_literal(str(rows_file))} AS q")
        if policy.folders:
            # From here on only the named folders (and the rows file, already open) are reachable.
            sandbox.execute("SET enable_external_access = false")
        sandbox.execute("SET lock_configuration = true")
    except BaseException:
        sandbox.close()
        raise
    return sandbox


def refusal(exc: duckdb.Error, policy: QueryPolicy) -> AudienceError | None:
    """The sandbox's refusal as one line that says what the query tried and what the setting allows; None for
    any other failure of the query."""
    message = str(exc)
    denied = _DENIED_FILE.search(message)
    if denied and policy.folders:
        folders = ", ".join(policy.folders)
        return AudienceError(
            f"the audience query may read only files under {folders} ({FOLDERS_SETTING}), not {denied.group(1)};"
            " nothing was sent"
        )
    needs = _EXTENSION.search(message)
    if needs:
        name = needs.group(1) or needs.group(2)
        what = f"DuckDB's {name} extension" if name else "a DuckDB extension"
        return AudienceError(
            f"the audience query needs {what}, which the audience query may not load (a URL or a database in"
            " FROM): export the rows to a file, or use --database for a warehouse; nothing was sent"
        )
    return None


@contextlib.contextmanager
def _private_folder(near: Path | None) -> Iterator[Path]:
    # mkdtemp makes the folder 0700: the query's rows are personal data.
    folder = Path(tempfile.mkdtemp(prefix="ac-sync-query-", dir=near))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
