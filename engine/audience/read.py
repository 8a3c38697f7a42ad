"""Streaming rows back out of the audience database in bounded memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from ac_sync.engine.errors import AudienceError

from .db import connect_db

AUDIENCE_QUERY = (
    "SELECT email, first_name, last_name, phone, tags, fields_hash, source_row FROM audience ORDER BY source_row"
)
FETCH_ROWS = 10_000

Params = Sequence[Any] | dict[str, Any] | None


@contextmanager
def _cursor(con_or_path: duckdb.DuckDBPyConnection | Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    if isinstance(con_or_path, duckdb.DuckDBPyConnection):
        # A cursor of its own, so the caller can keep using its connection while we stream.
        cursor = con_or_path.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    else:
        if not Path(con_or_path).exists():
            # connect_db would silently create an empty database.
            raise AudienceError(f"no prepared audience at {con_or_path}")
        con = connect_db(con_or_path)
        try:
            yield con
        finally:
            con.close()


def iter_rows(
    con_or_path: duckdb.DuckDBPyConnection | Path | str,
    sql: str = AUDIENCE_QUERY,
    params: Params = None,
    chunk: int = FETCH_ROWS,
) -> Iterator[dict[str, Any]]:
    """Yield each result row of `sql` as a dict (column name -> value), fetching `chunk` rows at a time."""
    with _cursor(con_or_path) as cur:
        result = cur.execute(sql, params) if params is not None else cur.execute(sql)
        names = [d[0] for d in result.description or []]
        while rows := result.fetchmany(chunk):
            for row in rows:
                yield dict(zip(names, row, strict=True))


def iter_batches(
    db_path: duckdb.DuckDBPyConnection | Path | str,
    query: str = AUDIENCE_QUERY,
    params: Params = None,
    size: int = 250,
) -> Iterator[list[dict[str, Any]]]:
    """Yield lists of at most `size` row dicts (ActiveCampaign's bulk import takes up to 250 contacts)."""
    batch: list[dict[str, Any]] = []
    for row in iter_rows(db_path, query, params, chunk=max(size, FETCH_ROWS)):
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
