"""The private rejected-rows files of the lists: kept on purpose (by age and by number of runs), listed, and
searched by the digest a Prefect artifact shows for a masked row."""

from __future__ import annotations

import csv
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DAY_S = 86_400.0


@dataclass(frozen=True)
class RejectedFile:
    path: Path
    list_folder: str
    modified: float  # epoch seconds


def state_folder(state: str) -> str:
    """The local folder that {state} names in a rejected-rows path: the state's own, or .ac-sync for a state on
    an object store (the rejected rows are a file the operator opens)."""
    local = state if "://" not in state or state.startswith("file://") else ".ac-sync"
    return local.removeprefix("file://").rstrip("/") or "."


def list_folder(list_name: str) -> str:
    """A list's name as the name of its folder of rejected-rows files."""
    return re.sub(r"[^\w .-]+", "_", list_name).strip() or "list"


def rejected_root(state: str) -> Path:
    """Where a state location's rejected-rows files are by default ({state}/rejected)."""
    return Path(state_folder(state)) / "rejected"


def files_of(root: Path) -> list[RejectedFile]:
    """Every rejected-rows file under `root` (a folder per list), newest first."""
    if not root.is_dir():
        return []
    found = [
        RejectedFile(path, path.parent.name if path.parent != root else "", path.stat().st_mtime)
        for path in root.rglob("*.csv")
        if path.is_file()
    ]
    return sorted(found, key=lambda f: (f.modified, f.path.name), reverse=True)


def prune(folder: Path, keep_days: int, keep_runs: int, now: float | None = None) -> list[Path]:
    """Remove the rejected-rows files in `folder` (one list's) beyond its newest `keep_runs`, or older than
    `keep_days` days (0: no age limit); answer what was removed."""
    now = time.time() if now is None else now
    kept = 0
    removed: list[Path] = []
    for one in files_of(folder):
        if one.path.parent != folder:
            continue
        too_old = keep_days > 0 and now - one.modified > keep_days * DAY_S
        if kept >= keep_runs or too_old:
            one.path.unlink(missing_ok=True)
            removed.append(one.path)
        else:
            kept += 1
    return removed


def find_digest(root: Path, digest: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """The rows, in every file under `root`, whose digest column is `digest` (a prefix of it is enough)."""
    wanted = digest.strip().lower()
    csv.field_size_limit(sys.maxsize)
    for one in files_of(root):
        with one.path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if (row.get("digest") or "").startswith(wanted):
                    yield one.path, row
