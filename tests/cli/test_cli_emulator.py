"""`ac-sync emulator --port P` serves, and prints the base URL and the key it accepts; `ac-sync plan` only reads."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from prefect.settings import PREFECT_API_URL

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ac_sync_emulator_command_serves_the_documented_shape() -> None:
    port = free_port()
    command = [sys.executable, "-m", "ac_sync.cli", "emulator", "--port", str(port), "--api-key", "k-123"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url_line, key_line = proc.stdout.readline(), proc.stdout.readline()
        base = re.search(r"emulator at (\S+)", url_line)
        assert base and base.group(1) == f"http://127.0.0.1:{port}"
        key = key_line.strip().removeprefix("API key: ")
        assert key == "k-123"
        me = httpx.get(f"{base.group(1)}/api/3/users/me", headers={"Api-Token": key})
        assert me.status_code == 200
        user = me.json()["user"]
        assert isinstance(user["id"], str) and {"username", "firstName", "lastName", "email", "links"} <= set(user)
        assert httpx.get(f"{base.group(1)}/api/3/users/me").status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_ac_sync_plan_command_answers_the_plan_and_only_reads(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 600)
    args = ["plan", "--audience", str(sample.path), "--list", "Planned", "--group", "Admin", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "ac_sync.cli", *args],
        env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "planned" and summary["plan"]["adds"] == len(sample.valid)
    assert summary["plan"]["requests"]["lists"] == 1  # the list it would create
    log = Admin(sync_env.base_url).requests()
    assert log and all(r["method"] == "GET" for r in log)
