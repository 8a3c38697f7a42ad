"""A damaged sync state stops the run with one line that names the file and the command that rebuilds it; a
torn last line is read past; a state location that cannot be written is refused before any request."""

from __future__ import annotations

import io
import math
from pathlib import Path

from rich.console import Console

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from ac_sync.cli.verify_command import VerifyAsk, run_verify
from tests.syncing import Admin, sync


def state_files(tmp_path: Path, pattern: str) -> list[Path]:
    return sorted((tmp_path / "state").rglob(pattern))


async def test_a_cut_snapshot_names_itself_and_the_rebuild_then_the_rebuild_works(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 900)
    params = {"audience": str(sample.path), "list_name": "L", "group_name": "Admin", "pause_timeout": 0}
    assert (await sync(**params))[0] == 0
    (snapshot,) = state_files(tmp_path, "snapshot.parquet")
    snapshot.write_bytes(snapshot.read_bytes()[:200])  # a disk that filled up mid-write
    since = len(admin.requests())
    code, summary = await sync(**params)
    assert code == 2, summary
    assert "\n" not in summary["error"] and "snapshot.parquet" in summary["error"]
    assert "ac-sync verify --list L --group Admin --rebuild-state" in summary["error"]
    assert admin.accepted_bulk(since) == 0
    out = io.StringIO()
    code = await run_verify(VerifyAsk("L", "Admin", rebuild=True), console=Console(file=out, width=200), as_json=False)
    assert code == 0, out.getvalue()
    assert f"from its {len(sample.valid)} members" in out.getvalue()
    assert state_files(tmp_path, "*damaged*") or any("damaged" in str(p) for p in (tmp_path / "state").rglob("*"))
    # The next run sends each member once more (the rebuilt state knows them, not their values), and the one
    # after that sends nothing: the state is whole again.
    since = len(admin.requests())
    code, summary = await sync(**params)
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)
    assert admin.accepted_bulk(since) == math.ceil(len(sample.valid) / 250)
    since = len(admin.requests())
    code, summary = await sync(**params)
    assert code == 0 and summary["plan"]["updates"] == 0, summary
    assert admin.accepted_bulk(since) == 0


def people(path: Path, count: int, renamed: int = 0) -> Path:
    lines = ["email,first_name"]
    lines += [f"p{i}@example.com,{'New' if i < renamed else 'Old'}{i}" for i in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_a_torn_last_delta_line_is_read_past(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    audience = people(tmp_path / "a.csv", 600)
    params = {"audience": str(audience), "list_name": "L", "group_name": "Admin", "pause_timeout": 0}
    assert (await sync(**params))[0] == 0
    people(audience, 600, renamed=40)  # a small change: its confirmed batch stays a delta beside the snapshot
    assert (await sync(**params))[0] == 0
    (delta,) = state_files(tmp_path, "*.jsonl")
    lines = delta.read_text(encoding="utf-8").splitlines(keepends=True)
    delta.write_text("".join(lines[:-1]) + lines[-1][:20], encoding="utf-8")  # killed mid-line
    since = len(admin.requests())
    code, summary = await sync(**params)
    assert code == 0, summary
    # The torn line's one contact is compared again (and sent again, to be sure); the complete lines are kept.
    assert admin.accepted_bulk(since) == 0
    assert summary["plan"]["updates"] <= 1 and summary["plan"]["unchanged"] >= 599, summary["plan"]
    assert admin.members("L") == {f"p{i}@example.com" for i in range(600)}


async def test_a_state_location_that_is_a_file_is_refused_before_any_request(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 50)
    (tmp_path / "state-file").write_text("not a folder")
    since = len(admin.requests())
    code, summary = await sync(
        audience=str(sample.path), list_name="L", group_name="Admin", state=str(tmp_path / "state-file")
    )
    assert code == 2 and "is a file, not a folder" in summary["error"], summary
    assert len(admin.requests()) == since
