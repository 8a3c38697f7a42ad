"""Masked emails and digests, private files whatever the umask, and working folders that do not outlive runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pytest

from ac_sync.engine.privacy import Digester, is_digest, masked, open_private, private_files
from ac_sync.engine.rejected_files import prune
from ac_sync.engine.workspace import CONTINUABLE, DAY_S, HELD, sweep, work_folder


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        ("jane.doe@example.com", "j•••@e•••.com"),
        ("  JANE@Mail.Example.CO.UK ", "J•••@M•••.UK"),
        ("user7@", "u•••@•••"),
        ("@example7.com", "•••@e•••.com"),
        ("not-an-email-0", "n•••"),
        ("", "•••"),
        (None, "•••"),
    ],
)
def test_masked_keeps_too_little_to_know_who(email: str | None, shown: str) -> None:
    assert masked(email) == shown


def test_a_digest_is_the_same_within_a_run_and_not_across_runs() -> None:
    one, other = Digester(), Digester()
    assert one("Jane@Example.com ") == one("jane@example.com") != other("jane@example.com")
    assert is_digest(one("jane@example.com")) and not is_digest("jane@example.com")


def test_private_files_whatever_the_umask(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        with open_private(tmp_path / "a" / "b" / "rows.csv") as fh:
            fh.write("x")
        loose = tmp_path / "loose.csv"
        loose.write_text("x")
        loose.chmod(0o644)
        with open_private(loose) as fh:  # an existing readable file is made private as it is rewritten
            fh.write("y")
        with private_files():
            (tmp_path / "made").mkdir()
            (tmp_path / "made" / "f").write_text("z")
        assert os.umask(0o022) == 0o022  # restored
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "a" / "b" / "rows.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "made").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "made" / "f").stat().st_mode) == 0o600


def test_a_working_folder_goes_with_its_run_and_a_dead_runs_with_the_next(tmp_path: Path) -> None:
    root = tmp_path / "work"
    # A living run elsewhere holds its folder; a killed run's folder has nobody holding it.
    (root / "killed").mkdir(parents=True)
    (root / "killed" / "audience.duckdb").write_bytes(b"rows")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from ac_sync.engine.workspace import work_folder"
            "\nwith work_folder(Path(sys.argv[1]), 'alive'):\n    print('held', flush=True); sys.stdin.read()",
            str(root),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with work_folder(root, "mine") as folder:
            (folder / "audience.duckdb").write_bytes(b"rows")
            assert sorted(p.name for p in root.iterdir()) == ["alive", "mine"]  # the killed run's is gone
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert not (root / "mine").exists()  # gone when the run ends
        assert sweep(root) == []  # the living run's is kept
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert not (root / "alive").exists()
    assert not list(root.glob(f"*/{HELD}"))


def test_prune_keeps_the_newest_runs_and_none_too_old(tmp_path: Path) -> None:
    now = 1_000_000_000.0
    for n, age_days in enumerate([0, 1, 2, 40]):
        path = tmp_path / f"run{n}.csv"
        path.write_text("row\n")
        os.utime(path, (now - age_days * 86_400, now - age_days * 86_400))
    local = fsspec.filesystem("file")
    removed = prune(local, str(tmp_path), keep_days=30, keep_runs=2, now=now)
    assert sorted(Path(p).name for p in removed) == ["run2.csv", "run3.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run0.csv", "run1.csv"]
    assert prune(local, str(tmp_path), keep_days=0, keep_runs=5, now=now + 10**9) == []  # 0 days: no age limit


async def test_a_failed_run_keeps_its_folder_for_a_retry_and_a_stopped_one_does_not(tmp_path: Path) -> None:
    import asyncio

    root = tmp_path / "work"
    with pytest.raises(RuntimeError), work_folder(root, "failed"):
        raise RuntimeError("a sync failed")
    with pytest.raises(asyncio.CancelledError), work_folder(root, "stopped"):
        raise asyncio.CancelledError
    assert [p.name for p in root.iterdir()] == ["failed"] and (root / "failed" / CONTINUABLE).exists()
    assert sweep(root) == []  # kept for its Retry
    with work_folder(root, "failed"):  # the Retry, which completes
        assert not (root / "failed" / CONTINUABLE).exists()
    assert list(root.iterdir()) == []


def test_a_kept_folder_goes_when_a_later_run_completes_its_lists_or_when_too_old(tmp_path: Path) -> None:
    root = tmp_path / "work"
    for run, scope in (("both", ["a", "b"]), ("only-a", ["a"]), ("old", ["c"])):
        with pytest.raises(RuntimeError), work_folder(root, run, scope):
            raise RuntimeError("a sync failed")
    with work_folder(root, "plan-of-a", ["a"], retires=False):  # a plan syncs nothing: it makes nothing stale
        pass
    assert sorted(p.name for p in root.iterdir()) == ["both", "old", "only-a"]
    with work_folder(root, "sync-of-a", ["a"]):  # completes list a: a Retry of only-a would send a stale copy
        pass
    assert sorted(p.name for p in root.iterdir()) == ["both", "old"]  # both still has b to continue
    assert sweep(root, keep_days=7, now=time.time() + 6 * DAY_S) == []
    assert sorted(sweep(root, keep_days=7, now=time.time() + 8 * DAY_S)) == ["both", "old"]
    assert sweep(root, keep_days=0) == []  # 0: no age limit, and nothing is left anyway
