"""Reading an audience CSV strictly: every record is either loaded or reported by line.

DuckDB's dialect sniffer can be fooled by a broken file (it may decide the whole file is one column),
so the dialect is fixed here: RFC 4180 quoting, the header read by Python, and every column VARCHAR
so that phone numbers keep their leading zeros. Records DuckDB cannot parse are collected in a
rejects table and turned into one AudienceError that names the first bad line; what DuckDB's reader can miss
(a line over its limit, bad bytes in a column a count does not read) is checked on the bytes (check_lines).
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import duckdb

from ac_sync.engine.errors import AudienceError
from ac_sync.engine.sql import sql_literal

from .fields import Column

DELIMITERS = (",", ";", "\t", "|")
UTF8_BOM = b"\xef\xbb\xbf"
# Enough for a header line of any sensible width; the rest of the file is DuckDB's business.
HEADER_PROBE_BYTES = 1 << 20
# DuckDB's default (2 MB) is below what a pasted HTML signature or notes field can reach.
MAX_LINE_BYTES = 8 << 20
# DuckDB sizes its read buffers at 16 x max_line_size unless told: 128 MB blocks, outside the memory
# limit's reach for spilling, which a 10 M-row aggregate under a 512 MB limit could then not get.
BUFFER_BYTES = 2 * MAX_LINE_BYTES
# What a record that is not UTF-8 is told, read as a file or through SQL (source.py).
NOT_UTF8 = "not valid UTF-8; save the file as UTF-8 and try again."
REJECTS_TABLE = "audience_csv_rejects"
REJECTS_SCAN = "audience_csv_scans"


def read_header(path: Path) -> tuple[list[str], str]:
    """Column names and delimiter, taken from the first record of the file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(HEADER_PROBE_BYTES)
    except OSError as exc:
        raise AudienceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    if not head.strip():
        raise AudienceError(f"the audience file is empty (no header line): {path}")
    text = head.decode("utf-8", errors="replace")
    best: tuple[list[str], str] | None = None
    for delim in DELIMITERS:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"', strict=False)
        row = next(reader, [])
        # The delimiter that splits the header into the most fields wins; ties keep the comma.
        if best is None or len(row) > len(best[0]):
            best = (row, delim)
    assert best is not None
    names, delim = best
    if any("\ufffd" in name for name in names):
        raise AudienceError(f"{path} line 1: the header is not valid UTF-8; save the file as UTF-8")
    return names, delim


def csv_relation(path: Path, names: list[str], delim: str) -> tuple[str, list[Column]]:
    """A read_csv(...) call with a fixed dialect, and the columns it yields (named c0, c1, ...)."""
    columns = [Column(name=name, type="VARCHAR", sql_name=f"c{i}") for i, name in enumerate(names)]
    spec = "{" + ", ".join(f"'{c.sql_name}': 'VARCHAR'" for c in columns) + "}"
    relation = (
        f"read_csv({sql_literal(str(path))}, header=true, auto_detect=false, columns={spec},"
        f" delim={sql_literal(delim)}, quote='\"', escape='\"', strict_mode=true,"
        f" max_line_size={MAX_LINE_BYTES}, buffer_size={BUFFER_BYTES}, store_rejects=true,"
        f" rejects_table='{REJECTS_TABLE}', rejects_scan='{REJECTS_SCAN}')"
    )
    return relation, columns


def raise_for_rejects(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise one AudienceError describing the records DuckDB could not read, if there were any."""
    bad = con.execute(
        f"SELECT line, min(line_byte_position), min(error_type), min(error_message),"
        f" count(*) OVER () FROM {REJECTS_TABLE} GROUP BY line ORDER BY line LIMIT 1"
    ).fetchone()
    if bad is None:
        return
    _, byte_position, error_type, message, records = bad
    line = physical_line(path, byte_position)
    if error_type == "INVALID ENCODING":
        message = NOT_UTF8
    if error_type == "LINE SIZE OVER MAXIMUM":
        raise AudienceError(_too_long(path, byte_position))
    more = f" ({records} unreadable records in all)" if records > 1 else ""
    raise AudienceError(f"{path} line {line}: {message}{more}")


# Read this much at a time when checking the lines: at most half a line's limit, so a line past the limit spans
# at least one whole chunk without a newline.
CHECK_CHUNK = MAX_LINE_BYTES // 2
# A margin under DuckDB's limit: a line DuckDB would drop is always one this check names.
LONGEST_LINE = MAX_LINE_BYTES - 1024


def check_lines(path: Path) -> None:
    """Every line of the file is UTF-8 and under the line limit, or one AudienceError names the first that is not.

    DuckDB's parallel CSV reader leaves a line over `max_line_size` out without recording it as a reject (the
    row would vanish from the counts), and a count that reads the email column alone passes over bad bytes in
    the others (the run would fail later, after the list steps). One pass over the bytes, in C: a UTF-8
    decoder and a newline search per chunk.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line_start = 0, 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHECK_CHUNK):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise AudienceError(f"{path} line {physical_line(path, offset + exc.start)}: {NOT_UTF8}") from None
                first = chunk.find(b"\n")
                end = offset + (first if first != -1 else len(chunk))
                if end - line_start > LONGEST_LINE:
                    raise AudienceError(_too_long(path, line_start))
                if first != -1:
                    line_start = offset + chunk.rfind(b"\n") + 1
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise AudienceError(f"{path} line {physical_line(path, line_start)}: {NOT_UTF8}") from None
    except OSError as exc:
        raise AudienceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if offset - line_start > LONGEST_LINE:
        raise AudienceError(_too_long(path, line_start))


def _too_long(path: Path, line_start: int) -> str:
    return (
        f"{path} line {physical_line(path, line_start)}: the line is longer than {MAX_LINE_BYTES // (1 << 20)} MB,"
        " more than a contact's row can hold; shorten the value (or leave the column out) and try again"
    )


def physical_line(path: Path, byte_position: int) -> int:
    """1-based line number (as an editor shows it) of the byte offset DuckDB reports.

    DuckDB's own count is of records (a quoted multi-line value counts once), which is not what
    someone opening the file in an editor needs.
    """
    newlines = 0
    remaining = byte_position
    with path.open("rb") as fh:
        while remaining > 0:
            chunk = fh.read(min(remaining, 1 << 20))
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            remaining -= len(chunk)
    return newlines + 1
