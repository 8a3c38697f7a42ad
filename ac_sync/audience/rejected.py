"""The rejected rows, for a downloadable CSV and for a table in the UI."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from .read import iter_rows

REJECTED_QUERY = "SELECT source_row, email, reason FROM rejected ORDER BY source_row"


def write_rejected_csv(db_path: Path | str, out_path: Path | str) -> int:
    """Write `source_row,email,reason` (RFC 4180 quoting) to out_path; return the number of rows."""
    count = 0
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source_row", "email", "reason"])
        for row in iter_rows(db_path, REJECTED_QUERY):
            writer.writerow([row["source_row"], row["email"], row["reason"]])
            count += 1
    return count


def rejected_rows(db_path: Path | str, limit: int = 100) -> list[dict[str, Any]]:
    """The first `limit` rejected rows in source order, as dicts with source_row, email, reason."""
    return list(iter_rows(db_path, REJECTED_QUERY + " LIMIT ?", [limit]))
