"""`ac-sync history` from a second command: the runs a local `ac-sync` run recorded (PREFECT_HOME's database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AC_SYNC_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    return subprocess.run(
        [sys.executable, "-m", "ac_sync.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )


def test_history_lists_the_demos_run(tmp_path: Path) -> None:
    demo = cli(tmp_path, "demo", "--contacts", "300", "--json")
    assert demo.returncode == 0, demo.stderr[-3000:]
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    shown = cli(tmp_path, "history", "--list", summary["list_name"], "--json")
    assert shown.returncode == 0, shown.stderr[-3000:]
    runs = json.loads(shown.stdout.strip().splitlines()[-1])["runs"]
    assert [r["flow_run_id"] for r in runs] == [summary["flow_run_id"]]
    assert runs[0]["status"] == "Completed" and runs[0]["added"] == summary["subscribed"]
    assert runs[0]["rejected"] == summary["rejected"]
    table = cli(tmp_path, "history", "--list", summary["list_name"])
    assert table.returncode == 0 and "Completed" in table.stdout
