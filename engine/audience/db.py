"""Opening the on-disk DuckDB database that holds the prepared audience."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb

from ac_sync.engine.errors import AudienceError, one_line
from ac_sync.engine.sql import sql_literal

# A 10 M-row audience must not need 10 M rows of RAM: DuckDB spills sorts, joins and tables to the
# temp directory once it reaches this limit, so peak memory stays flat as the audience grows. Measured
# with bench/resync_prep.py: at 512MB a 10 M-row re-sync peaked at 658 MB RSS, at 256MB at 377 MB (1 M
# rows: 286 MB), and took 4 % longer.
MEMORY_LIMIT = "384MB"


def temp_dir_for(db_path: Path) -> Path:
    # Next to the database so spilling uses the same disk the caller chose for the audience.
    return db_path.with_name(db_path.name + ".tmp")


def bound_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the audience database's memory limit and spill directory to the instance behind `con`.

    For connections opened with a plain duckdb.connect(path): DuckDB's default limit is 80 % of RAM, so a
    10 M-row plan would take gigabytes instead of spilling. The settings are the instance's, so they
    last as long as some connection to the file is open.
    """
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if row and row[0]:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"SET temp_directory = {sql_literal(str(temp_dir_for(Path(row[0]))))}")
    with contextlib.suppress(duckdb.Error):
        con.execute("SET disabled_compression_methods = 'dict_fsst'")


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
            # DuckDB 2.0's default string compression (dict_fsst) cost more CPU than everything else in
            # preparing a 10 M-row audience; this file lives for one run, so space is the cheaper trade
            # (about twice the size). Older versions, which lack the method, keep their defaults.
            con.execute("SET disabled_compression_methods = 'dict_fsst'")
        with contextlib.suppress(duckdb.Error):
            # Refused once the instance has spilled elsewhere; its directory then stays in use.
            con.execute(f"SET temp_directory = {sql_literal(str(temp_dir_for(path)))}")
    except BaseException:
        con.close()
        raise
    return con
