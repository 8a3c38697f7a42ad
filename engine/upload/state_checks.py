"""The sync state's files checked as they are read: what a damaged one loses, and a delta's torn last line.

Every file of the state is written whole (beside, then moved into place; an object store's put is atomic), so
damage means something outside this tool: a disk, a copy, a hand. The one exception is a delta written in place
by a filesystem without an atomic move and cut off by a crash: its complete lines are kept and its torn last line
(the batch in flight) is dropped, which only makes the next run compare that contact again. Anything else stops
the run with one StateError naming the file, what it held, and the command that rebuilds the state from the
list's membership.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from typing import Any, BinaryIO

import duckdb

from ac_sync.engine.errors import StateError, one_line

STATUSES = ("subscribed", "unsubscribed", "opted_out")
# The columns of a snapshot (a snapshot written before the state kept what was sent has no `sent`).
SNAPSHOT_TYPES = {"email": "VARCHAR", "fields_hash": "VARCHAR", "status": "VARCHAR", "sent": "VARCHAR"}
PENDING_KEYS = ("email", "action", "fields_hash", "source_row")
PARQUET_MAGIC = b"PAR1"
_TAIL_CHUNK = 1 << 16


def rebuild_command(list_name: str | None, group_name: str | None) -> str:
    """The command that rebuilds a list's state from its membership (names shell-quoted; NAME when unknown)."""
    names = [shlex.quote(n) if n else "NAME" for n in (list_name, group_name)]
    return f"ac-sync verify --list {names[0]} --group {names[1]} --rebuild-state"


def damaged(path: str, why: str, lost: str, command: str) -> StateError:
    """One line: the file, what is wrong with it, what is lost with it, and how to rebuild the state."""
    return StateError(
        f"the sync state file {path} {why}: {lost}. Rebuild the state from the list's membership: {command}"
    )


def parse_meta(data: bytes) -> dict[str, Any]:
    """meta.json's object; raises ValueError saying what it is instead."""
    value = _json(data)
    if not isinstance(value, dict):
        raise ValueError(f"is JSON {_kind(value)}, not an object")
    return value


def parse_pending(data: bytes) -> list[dict[str, Any]]:
    """A pending batch's rows; raises ValueError saying what the file is instead."""
    value = _json(data)
    if not isinstance(value, list):
        raise ValueError(f"is JSON {_kind(value)}, not a list of contacts")
    for i, row in enumerate(value, start=1):
        if not isinstance(row, dict):
            raise ValueError(f"has {_kind(row)} as its contact {i}, not an object")
        missing = [k for k in PENDING_KEYS if k not in row]
        if missing or not isinstance(row["email"], str):
            raise ValueError(f"has a contact {i} without {', '.join(missing) or 'a text email'}")
    return value


def delta_line_problem(line: bytes) -> str | None:
    """What is wrong with one line of a delta, or None for a state row."""
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "is not JSON"
    if not isinstance(row, dict):
        return f"is JSON {_kind(row)}, not a state row"
    if not isinstance(row.get("email"), str):
        return "has no email"
    if row.get("status") not in STATUSES:
        return f"has the status {row.get('status')!r}, not one of {', '.join(STATUSES)}"
    for key in ("fields_hash", "sent"):
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"has a {key} that is {_kind(row[key])}, not text"
    return None


def first_bad_line(local: str) -> tuple[int, int, str] | None:
    """(line number, lines in all, what is wrong) of a delta file's first line that is no state row."""
    found = None
    count = 0
    with open(local, "rb") as fh:
        for count, line in enumerate(fh, start=1):  # noqa: B007 - `count` is the number of lines after the loop
            if found is None and line.strip():
                problem = delta_line_problem(line)
                if problem:
                    found = (count, problem)
    return (found[0], count, found[1]) if found else None


def count_lines(fh: BinaryIO) -> int:
    """Newlines in an open binary file, read a megabyte at a time."""
    return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def delta_lost(rows: int) -> str:
    return f"the {rows:,} rows of the confirmed batch it records cannot be read"


@dataclass(frozen=True)
class TornTail:
    """A delta file whose last line was cut off mid-write: `keep` bytes hold its `complete` lines."""

    keep: int
    complete: int


def torn_tail(local: str) -> TornTail | None | str:
    """Look at the end of a delta file: None when it ends in a whole line, a TornTail when its last line was cut
    off mid-write, or a string saying why its last line is neither."""
    size = os.path.getsize(local)
    if size == 0:
        return TornTail(0, 0)  # created, and cut off before its first byte
    with open(local, "rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return None
        start = _last_line_start(fh, size)
        fh.seek(start)
        tail = fh.read()
    if delta_line_problem(tail) is None:
        return None  # a whole row without its newline: DuckDB reads it as it is
    # Every row the writers put down starts with `{`: a tail that does not is not a cut-off row.
    if not tail.lstrip().startswith(b"{"):
        return "ends in a line that is neither a state row nor the start of one"
    if not start:
        return TornTail(0, 0)
    with open(local, "rb") as fh:
        return TornTail(start, count_lines(fh))


def _last_line_start(fh: Any, size: int) -> int:
    """Offset of the first byte after the last newline (0 when the file has none)."""
    end = size
    while end > 0:
        begin = max(0, end - _TAIL_CHUNK)
        fh.seek(begin)
        chunk = fh.read(end - begin)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return begin + cut + 1
        end = begin
    return 0


def describe_snapshot(con: duckdb.DuckDBPyConnection, local: str) -> tuple[bool, int]:
    """(whether it has a `sent` column, its rows) of a snapshot; raises ValueError saying why it is no snapshot."""
    with open(local, "rb") as fh:
        head = fh.read(4)
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    problem = parquet_problem(head, tail, size)
    if problem:
        raise ValueError(problem)
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [local]).fetchall()
        rows = con.execute("SELECT count(*) FROM read_parquet(?)", [local]).fetchone()
    except duckdb.Error as exc:
        raise ValueError(f"is not a readable Parquet file ({one_line(exc).replace(local, 'it')})") from None
    types = {str(r[0]): str(r[1]) for r in described}
    wrong = [
        f"{name} {types.get(name, 'missing')}"
        for name, kind in SNAPSHOT_TYPES.items()
        if types.get(name, kind if name == "sent" else "missing") != kind
    ]
    if wrong:
        raise ValueError(f"is a Parquet file but no state snapshot ({', '.join(wrong)}; each should be VARCHAR)")
    return "sent" in types, int(rows[0]) if rows else 0


def parquet_problem(head: bytes, tail: bytes, size: int) -> str | None:
    """What a file's first and last bytes say is wrong with it as a Parquet file, or None."""
    if size == 0:
        return "is empty"
    if size < 12 or head != PARQUET_MAGIC:
        return f"is not a Parquet file ({size:,} bytes)"
    if tail != PARQUET_MAGIC:
        return f"is cut off ({size:,} bytes, with no Parquet footer)"
    return None


def _json(data: bytes) -> Any:
    if not data.strip():
        raise ValueError("is empty")
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        cut = " (cut off?)" if exc.pos >= len(data.rstrip()) else ""
        raise ValueError(f"is not JSON{cut}: {exc.msg} at byte {exc.pos:,}") from None
    except UnicodeDecodeError:
        raise ValueError("is not JSON: not UTF-8 text") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(type(value), "a number")
