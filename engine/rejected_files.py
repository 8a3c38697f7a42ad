"""The private rejected-rows files of the lists, on the state's filesystem (a local folder or any fsspec
location): kept on purpose (by age and by number of runs), listed, and searched by the digest a Prefect artifact
shows for a masked row."""

from __future__ import annotations

import contextlib
import csv
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem

DAY_S = 86_400.0


@dataclass(frozen=True)
class RejectedFile:
    path: str  # as its filesystem names it
    list_folder: str
    modified: float  # epoch seconds


def state_folder(state: str) -> str:
    """What {state} names in a rejected-rows path: the state location itself, a local folder or an fsspec URL
    (the rejected rows are kept where the operator keeps the state, as private)."""
    if state.startswith("file://"):
        state = state.removeprefix("file://")
    return state.rstrip("/") or "."


def is_remote(path: str) -> bool:
    """Whether a path is an fsspec URL other than a local file's."""
    return "://" in path and not path.startswith("file://")


def list_folder(list_name: str) -> str:
    """A list's name as the name of its folder of rejected-rows files."""
    return re.sub(r"[^\w .-]+", "_", list_name).strip() or "list"


def rejected_root(state: str) -> str:
    """Where a state location's rejected-rows files are by default ({state}/rejected)."""
    return f"{state_folder(state)}/rejected"


def shown_path(path: str, state: str) -> tuple[str, str | None]:
    """How a summary names a rejected-rows file: relative to the state location, with that location (a folder
    on the machine that ran it, or a URL), or, for a file elsewhere, its own path and None."""
    if is_remote(path):
        root = state_folder(state)
        return (path.removeprefix(root + "/"), root) if path.startswith(root + "/") else (path, None)
    folder = Path(state_folder(state)).absolute()
    try:
        return str(Path(path).absolute().relative_to(folder)), str(folder)
    except ValueError:
        return path, None


def located(name: str, root: str | None) -> str:
    """A rejected-rows file a summary named (shown_path's pair) as a path or URL this machine opens."""
    if root is None or Path(name).is_absolute() or is_remote(name):
        return name
    return f"{root.rstrip('/')}/{name}"


def files_of(fs: AbstractFileSystem, root: str) -> list[RejectedFile]:
    """Every rejected-rows file under `root` of `fs` (a folder per list), newest first."""
    root = root.rstrip("/")
    if not fs.isdir(root):
        return []
    found = []
    for path, info in fs.find(root, detail=True).items():
        if not path.endswith(".csv") or info.get("type") != "file":
            continue
        parent = path.rsplit("/", 1)[0]
        folder = parent.rsplit("/", 1)[-1] if parent != root else ""
        found.append(RejectedFile(path, folder, _modified(info)))
    return sorted(found, key=lambda f: (f.modified, f.path.rsplit("/", 1)[-1]), reverse=True)


def prune(fs: AbstractFileSystem, folder: str, keep_days: int, keep_runs: int, now: float | None = None) -> list[str]:
    """Remove the rejected-rows files in `folder` (one list's) beyond its newest `keep_runs`, or older than
    `keep_days` days (0: no age limit); answer what was removed."""
    now = time.time() if now is None else now
    folder = folder.rstrip("/")
    kept = 0
    removed: list[str] = []
    for one in files_of(fs, folder):
        if one.path.rsplit("/", 1)[0] != folder:
            continue
        too_old = keep_days > 0 and now - one.modified > keep_days * DAY_S
        if kept >= keep_runs or too_old:
            fs.rm_file(one.path)
            removed.append(one.path)
        else:
            kept += 1
    return removed


def find_digest(fs: AbstractFileSystem, root: str, digest: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The rows, in every file under `root`, whose digest column is `digest` (a prefix of it is enough)."""
    wanted = digest.strip().lower()
    csv.field_size_limit(sys.maxsize)
    for one in files_of(fs, root):
        with fs.open(one.path, "rt", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if (row.get("digest") or "").startswith(wanted):
                    yield one.path, row


def _modified(info: dict[str, Any]) -> float:
    """When a file was last written, in epoch seconds, from any driver's listing (mtime, LastModified, ...)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0
