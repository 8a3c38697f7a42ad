"""The Python tier of email validation: email-validator over rows that SQL did not decide (or for reasons)."""

from __future__ import annotations

import duckdb

from .emails import DomainVerdicts

CHECK_CHUNK_ROWS = 50_000
# Repeated bad values ("n/a", "-", blanks) are common; remembering verdicts skips re-validating them.
VERDICT_CACHE_MAX = 100_000

CHECKED_COLUMNS = "row_id BIGINT, raw VARCHAR, email VARCHAR, reason VARCHAR"


def check_rows(con: duckdb.DuckDBPyConnection, select_sql: str, target: str) -> int:
    """Append check_email's verdict on each (row_id, raw) row of `select_sql` to the table `target`.

    `target` must have CHECKED_COLUMNS. Rows stream in chunks, so memory is one chunk whatever the
    count. Answers the number of rows checked.
    """
    # Reading through a second connection lets the appender write on the first meanwhile.
    reader = con.cursor()
    count = 0
    try:
        result = reader.execute(select_sql)
        cache: dict[str | None, tuple[str | None, str | None]] = {}
        domains = DomainVerdicts()
        with con.appender(target) as appender:
            while chunk := result.fetchmany(CHECK_CHUNK_ROWS):
                verdicts = []
                for row_id, raw in chunk:
                    verdict = cache.get(raw)
                    if verdict is None:
                        verdict = cache[raw] = domains.check(raw)
                    verdicts.append((row_id, raw, *verdict))
                appender.append_rows(verdicts)
                appender.flush()
                count += len(chunk)
                if len(cache) > VERDICT_CACHE_MAX:
                    cache.clear()
    finally:
        reader.close()
    return count
