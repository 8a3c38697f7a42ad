"""A run's working folder, which holds its copy of the audience: private, held while its run lives, removed when
the run completes or is stopped, and any folder a killed run left behind removed by the next run that starts.

A run that ends failed or suspended can be continued (a UI Retry, a resume) without redoing its completed steps,
so its folder is kept, marked CONTINUABLE with the lists it syncs, until one of these comes first: that run id
ends again; a later run completes the sync of all its lists (a Retry then would send a stale copy, so it reads
the audience again); or the marker is older than `keep_days` (AC_SYNC_WORK_KEEP_DAYS)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HELD = ".held"  # flock'ed by the living run: a folder whose lock can be taken has no run any more
CONTINUABLE = ".continuable"  # its run ended failed or suspended: a Retry continues from it; holds its scope
DAY_S = 86_400


@contextlib.contextmanager
def work_folder(
    root: Path, run_id: str, scope: list[str] | None = None, *, keep_days: float = 7, retires: bool = True
) -> Iterator[Path]:
    """`root/run_id`, made 0700 and held for the duration; first removes the folders of runs that are gone.
    `scope` names what the run syncs (one key per list); when the run completes and `retires` (it synced, it
    was not a plan), the kept folders of earlier runs whose whole scope it covered go too."""
    root.mkdir(parents=True, exist_ok=True, mode=stat.S_IRWXU)
    sweep(root, keep=run_id, keep_days=keep_days)
    folder = root / run_id
    folder.mkdir(exist_ok=True, mode=stat.S_IRWXU)
    fd = os.open(folder / HELD, os.O_CREAT | os.O_RDWR, stat.S_IRUSR | stat.S_IWUSR)
    try:
        with contextlib.suppress(OSError):  # a run never waits for its own folder
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (folder / CONTINUABLE).unlink(missing_ok=True)
        yield folder
    except asyncio.CancelledError:  # stopped by the operator: a new run starts over
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except BaseException:
        _mark_continuable(folder, scope or [])
        raise
    else:
        shutil.rmtree(folder, ignore_errors=True)
        if retires and scope:
            retire(root, scope)
    finally:
        os.close(fd)


def sweep(root: Path, keep: str | None = None, keep_days: float = 7, now: float | None = None) -> list[str]:
    """Remove the folders under `root` whose run is gone (their lock can be taken) and that no Retry may
    continue from (unmarked, or marked longer than `keep_days` ago; 0: no age limit); answer their names."""
    oldest = (now or time.time()) - keep_days * DAY_S if keep_days else None

    def gone(folder: Path) -> bool:
        marker = folder / CONTINUABLE
        if not marker.exists():
            return True
        return oldest is not None and _marked_at(marker) < oldest

    return _remove_unheld(root, lambda folder: folder.name != keep and gone(folder))


def retire(root: Path, scope: list[str]) -> list[str]:
    """Remove the kept folders of ended runs whose every list is in `scope` (a run that synced them since)."""
    covered = set(scope)

    def superseded(folder: Path) -> bool:
        marker = folder / CONTINUABLE
        if not marker.exists():
            return False
        theirs = _scope_of(marker)
        return bool(theirs) and theirs <= covered

    return _remove_unheld(root, superseded)


def _remove_unheld(root: Path, chosen: Callable[[Path], bool]) -> list[str]:
    """Remove each folder under `root` that `chosen(folder)` picks and whose lock can be taken (no run holds it)."""
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        if not folder.is_dir() or folder.is_symlink() or not chosen(folder):
            continue
        try:
            fd = os.open(folder / HELD, os.O_CREAT | os.O_RDWR, stat.S_IRUSR | stat.S_IWUSR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a living run's
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
        finally:
            os.close(fd)
    return removed


def _mark_continuable(folder: Path, scope: list[str]) -> None:
    body = json.dumps({"scope": sorted(set(scope)), "at": time.time()})
    fd = os.open(folder / CONTINUABLE, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        fh.write(body)


def _read_marker(marker: Path) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        found = json.loads(marker.read_text())
        if isinstance(found, dict):
            return found
    return {}


def _marked_at(marker: Path) -> float:
    at = _read_marker(marker).get("at")
    if isinstance(at, int | float):
        return float(at)
    with contextlib.suppress(OSError):
        return marker.stat().st_mtime
    return 0.0


def _scope_of(marker: Path) -> set[str]:
    scope = _read_marker(marker).get("scope")
    return {str(key) for key in scope} if isinstance(scope, list) else set()
