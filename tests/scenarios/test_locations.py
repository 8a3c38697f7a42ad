"""Where things live does not surprise: a list with members but no state here is said so (and mirror removes
nobody); rejected rows are kept per list and per run, with the spreadsheet's row and the original values."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, sync


def rejected_file(summary: dict[str, object]) -> Path:
    """The file a summary names relative to the state's folder, which it names beside it."""
    name, root = str(summary["verbose_log"]), summary.get("verbose_log_root")
    assert not Path(name).is_absolute() and name.startswith("rejected/"), summary  # relative to the state
    return Path(str(root)) / name


def audience(path: Path, emails: list[str], bad: int = 0) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "first_name"])
        writer.writerows([e, "Ann"] for e in emails)
        writer.writerows([f"not-an-email-{i}", f"Bad {i}"] for i in range(bad))
    return path


async def test_a_list_with_members_but_no_state_here_is_said_so(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    people = [f"p{i}@example.com" for i in range(300)]
    path = audience(tmp_path / "a.csv", people)
    assert (await sync(audience=str(path), list_name="L", group_name="Admin"))[0] == 0
    elsewhere = str(tmp_path / "another-folder" / "state")
    code, summary = await sync(audience=str(path), list_name="L", group_name="Admin", state=elsewhere, dry_run=True)
    assert code == 0 and summary["plan"]["no_state_members"] == 300 and summary["plan"]["adds"] == 300
    # A mirror run with an audience of 100 and no state here removes nobody.
    path = audience(tmp_path / "fewer.csv", people[:100])
    code, summary = await sync(
        audience=str(path), list_name="L", group_name="Admin", state=elsewhere, mode="mirror", pause_timeout=0
    )
    assert code == 0 and summary["plan"]["removals"] == 0 and summary["unsubscribed"] == 0, summary
    assert admin.members("L") == set(people)


async def test_two_lists_keep_two_rejected_files_per_run(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AC_SYNC_VERBOSE_LOG_PATH")  # the default: a file per list and per run
    first = audience(tmp_path / "a.csv", ["a@example.com"], bad=2)
    second = audience(tmp_path / "b.csv", ["b@example.com"], bad=3)
    code_a, summary_a = await sync(audience=str(first), list_name="Spring VIP", group_name="Admin")
    code_b, summary_b = await sync(audience=str(second), list_name="Autumn", group_name="Admin")
    assert code_a == code_b == 0
    log_a, log_b = rejected_file(summary_a), rejected_file(summary_b)
    assert log_a != log_b and log_a.parent.name == "Spring VIP" and log_b.parent.name == "Autumn"
    assert log_a.is_relative_to(tmp_path / "state" / "rejected")  # beside the sync state
    with log_a.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # Spreadsheet rows: the header is row 1, a@ row 2, the bad ones rows 3 and 4; the original values follow.
    assert [(r["row"], r["email"], r["first_name"]) for r in rows] == [
        ("3", "not-an-email-0", "Bad 0"),
        ("4", "not-an-email-1", "Bad 1"),
    ]
    assert all(r["reason"] for r in rows)
    with log_b.open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3
    # Another run of the same list keeps the first run's file.
    code, again = await sync(audience=str(first), list_name="Spring VIP", group_name="Admin")
    assert code == 0 and rejected_file(again) != log_a and log_a.exists()


async def test_rejected_files_are_written_only_with_rejected_rows_and_kept_as_set(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AC_SYNC_VERBOSE_LOG_PATH")
    monkeypatch.setenv("AC_SYNC_REJECTED_KEEP_RUNS", "2")
    clean = audience(tmp_path / "clean.csv", ["c@example.com"], bad=0)
    code, summary = await sync(audience=str(clean), list_name="Kept", group_name="Admin")
    assert code == 0 and summary["invalid"] == 0 and "verbose_log" not in summary, summary
    folder = tmp_path / "state" / "rejected" / "Kept"
    assert not any(folder.glob("*.csv"))  # nothing rejected: no file, not even a header
    written = []
    for n in range(3):
        bad = audience(tmp_path / f"bad{n}.csv", ["c@example.com"], bad=n + 1)
        code, summary = await sync(audience=str(bad), list_name="Kept", group_name="Admin")
        assert code == 0 and summary["invalid"] == n + 1, summary
        written.append(rejected_file(summary))
    assert sorted(folder.iterdir()) == sorted(written[1:])  # the newest two runs' files
