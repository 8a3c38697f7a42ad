"""One list, one creator: first runs of one new list started at once, in separate processes, make one list."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, start_cli

RUNS = 4


def test_concurrent_first_runs_of_a_new_list_make_one_list(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    # The create takes long enough that every run has looked the list up before the first one is made: without
    # the lock on the list's name each would create its own.
    admin.post("/faults", {"rules": [{"method": "POST", "path": "/lists$", "delay_s": 10, "times": 1}]})
    people = [f"p{i}@example.com" for i in range(300)]
    with (tmp_path / "a.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["email"], *([e] for e in people)])
    runs = [
        start_cli(
            "run",
            "--audience",
            str(tmp_path / "a.csv"),
            "--list",
            "Launch",
            "--group",
            "Admin",
            "--json",
            "--pause-timeout",
            "0",
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for _ in range(RUNS)
    ]
    outcomes = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outcomes, strict=True):
        assert run.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1])["status"] == "completed"
    assert [lst["name"] for lst in admin.state()["lists"]] == ["Launch"]
    assert admin.members("Launch") == set(people)
    assert sum(1 for r in admin.requests() if r["method"] == "POST" and r["path"].endswith("/lists")) == 1
