"""A run's working folder, which holds its copy of the audience: private, held while its run lives, removed when
the run completes or is stopped, and any folder a killed run left behind removed by the next run that starts. A
run that ends failed or suspended can be continued (a UI Retry, a resume) without redoing its completed steps,
so its folder is kept, marked CONTINUABLE, until that run id ends again."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

HELD = ".held"  # flock'ed by the living run: a folder whose lock can be taken has no run any more
CONTINUABLE = ".continuable"  # its run ended failed or suspended: a Retry continues from it


@contextlib.contextmanager
def work_folder(root: Path, run_id: str) -> Iterator[Path]:
    """`root/run_id`, made 0700 and held for the duration; first removes the folders of runs that are gone."""
    root.mkdir(parents=True, exist_ok=True, mode=stat.S_IRWXU)
    sweep(root, keep=run_id)
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
        (folder / CONTINUABLE).touch(mode=stat.S_IRUSR | stat.S_IWUSR)
        raise
    else:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)


def sweep(root: Path, keep: str | None = None) -> list[str]:
    """Remove the folders under `root` whose run is gone (their lock can be taken); answer their names."""
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        if folder.name == keep or not folder.is_dir() or folder.is_symlink() or (folder / CONTINUABLE).exists():
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
