"""`ac-sync rejected`: the private rejected-rows files of the state's lists, listed, one printed, or a masked
row of a Prefect artifact found by its digest."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ac_sync.engine.privacy import is_digest
from ac_sync.engine.rejected_files import files_of, find_digest, list_folder


def list_files(root: Path, list_name: str | None, console: Console, as_json: bool) -> int:
    found = [f for f in files_of(root) if list_name is None or f.list_folder == list_folder(list_name)]
    rows = [
        {
            "list": f.list_folder,
            "file": str(f.path),
            "written": datetime.fromtimestamp(f.modified, UTC).isoformat(timespec="seconds"),
            "rows": _count(f.path),
        }
        for f in found
    ]
    if as_json:
        sys.stdout.write(json.dumps({"root": str(root), "files": rows}) + "\n")
        return 0
    if not rows:
        console.print(f"No rejected-rows files under {escape(str(root))}")
        return 0
    table = Table("list", "written (UTC)", "rows", "file", title=f"Rejected rows under {escape(str(root))}")
    for row in rows:
        table.add_row(escape(row["list"]), row["written"], str(row["rows"]), escape(row["file"]))
    console.print(table)
    return 0


def find(root: Path, digest: str, console: Console, as_json: bool) -> int:
    if not is_digest(digest):
        console.print(f"[red]error:[/] {escape(digest)!r} is not a digest (the hex beside a masked email)")
        return 2
    hits = [{"file": str(path), **row} for path, row in find_digest(root, digest)]
    if as_json:
        sys.stdout.write(json.dumps({"digest": digest, "rows": hits}) + "\n")
    elif not hits:
        console.print(f"No rejected row with digest {escape(digest)} under {escape(str(root))}")
    for hit in [] if as_json else hits:
        console.print(
            f"{escape(hit['file'])}: row {escape(hit.get('row') or '')}, {escape(hit.get('email') or '')}"
            f" — {escape(hit.get('reason') or '')}",
            soft_wrap=True,
        )
    return 0 if hits else 1


def show(path: Path, console: Console) -> int:
    if not path.is_file():
        console.print(f"[red]error:[/] no file {escape(str(path))}")
        return 2
    sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0


def _count(path: Path) -> int:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
