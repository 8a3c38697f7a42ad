"""Opening the on-disk DuckDB database that holds the prepared audience."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb

from .errors import AudienceError, one_line
from .sql import sql_literal

# A 10 M-row audience must not need 10 M rows of RAM: DuckDB spills sorts, joins and tables to the
# temp directory once it reaches this limit, so peak memory stays flat as the audience grows.
MEMORY_LIMIT = "512MB"


def temp_dir_for(db_path: Path) -> Path:
    # Next to the database so spilling uses the same disk the caller chose for the audience.
    return db_path.with_name(db_path.name + ".tmp")


def connect_db(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the audience database with bounded memory.

    DuckDB shares one instance per file within a process and refuses a second connection whose
    open-time configuration differs, so the limits are applied with SET after a plain connect:
    callers may then hold their own `duckdb.connect(path)` while this module works on the file.
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise AudienceError(f"cannot open the audience database {path}: {one_line(exc)}") from None
    try:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        # source_row relies on DuckDB keeping insertion order (its default; make sure).
        con.execute("SET preserve_insertion_order = true")
        with contextlib.suppress(duckdb.Error):
            # Refused once the instance has spilled elsewhere; its directory then stays in use.
            con.execute(f"SET temp_directory = {sql_literal(str(temp_dir_for(path)))}")
    except BaseException:
        con.close()
        raise
    return con
