"""`ac-sync rejected`: the private rejected-rows files of the state's lists, listed, one printed, or a masked
row of a Prefect artifact found by its digest."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime

from fsspec import AbstractFileSystem
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ac_sync.engine.privacy import is_digest
from ac_sync.engine.rejected_files import files_of, find_digest, list_folder
from ac_sync.engine.upload.stores import shown


def list_files(fs: AbstractFileSystem, root: str, list_name: str | None, console: Console, as_json: bool) -> int:
    found = [f for f in files_of(fs, root) if list_name is None or f.list_folder == list_folder(list_name)]
    rows = [
        {
            "list": f.list_folder,
            "file": shown(fs, f.path),
            "written": datetime.fromtimestamp(f.modified, UTC).isoformat(timespec="seconds"),
            "rows": _count(fs, f.path),
        }
        for f in found
    ]
    if as_json:
        sys.stdout.write(json.dumps({"root": shown(fs, root), "files": rows}) + "\n")
        return 0
    if not rows:
        console.print(f"No rejected-rows files under {escape(shown(fs, root))}")
        return 0
    table = Table("list", "written (UTC)", "rows", "file", title=f"Rejected rows under {escape(shown(fs, root))}")
    for row in rows:
        table.add_row(escape(row["list"]), row["written"], str(row["rows"]), escape(row["file"]))
    console.print(table)
    return 0


def find(fs: AbstractFileSystem, root: str, digest: str, console: Console, as_json: bool) -> int:
    if not is_digest(digest):
        console.print(f"[red]error:[/] {escape(digest)!r} is not a digest (the hex beside a masked email)")
        return 2
    hits = [{"file": shown(fs, path), **row} for path, row in find_digest(fs, root, digest)]
    if as_json:
        sys.stdout.write(json.dumps({"digest": digest, "rows": hits}) + "\n")
    elif not hits:
        console.print(f"No rejected row with digest {escape(digest)} under {escape(shown(fs, root))}")
    for hit in [] if as_json else hits:
        console.print(
            f"{escape(hit['file'])}: row {escape(hit.get('row') or '')}, {escape(hit.get('email') or '')}"
            f" — {escape(hit.get('reason') or '')}",
            soft_wrap=True,
        )
    return 0 if hits else 1


def show(fs: AbstractFileSystem, path: str, console: Console) -> int:
    if not fs.isfile(path):
        console.print(f"[red]error:[/] no file {escape(shown(fs, path))}")
        return 2
    with fs.open(path, "rt", encoding="utf-8") as fh:
        sys.stdout.write(fh.read())
    return 0


def _count(fs: AbstractFileSystem, path: str) -> int:
    csv.field_size_limit(sys.maxsize)
    with fs.open(path, "rt", newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
