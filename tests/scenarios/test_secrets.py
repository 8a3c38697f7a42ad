"""Secret hygiene: a canary API key, through successful runs, typed failures, resolves and a crash, shows up
nowhere — not in output, Prefect logs, flow-run parameters, artifacts, events, state files or the rejected log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_API_URL, PREFECT_HOME

from ac_sync.sample import write_sample
from activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin, wait_paused

CANARY = "canary-7f3e9b2d-secret-key"
WRONG_CANARY = "canary-wrong-0c41aa77"


def env_with(key: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "AC_SYNC_API_KEY": key,
            "AC_SYNC_STATE": str(tmp_path / "state")}  # fmt: skip


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ac_sync.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=180)  # fmt: skip


async def test_canary_key_leaks_nowhere(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    admin.post("/config", {"api_key": CANARY})
    env = env_with(CANARY, tmp_path)
    sample = write_sample(tmp_path / "a.csv", 3000)
    base = ["run", "--audience", str(sample.path), "--list", "Secret", "--json", "--verbose-log",
            str(tmp_path / "rejected.csv")]  # fmt: skip
    outputs: list[str] = []

    # A successful run.
    done = cli([*base, "--group", "Admin"], env, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs += [done.stdout, done.stderr]
    # Typed failures: a wrong key (itself a canary), and a missing group.
    wrong = cli([*base, "--group", "Admin", "--pause-timeout", "0"], env_with(WRONG_CANARY, tmp_path), tmp_path)
    assert wrong.returncode == 3 and "INVALID_CREDENTIALS" in wrong.stdout
    no_group = cli([*base, "--group", "Nope", "--pause-timeout", "0"], env, tmp_path)
    assert no_group.returncode == 3
    outputs += [wrong.stdout, wrong.stderr, no_group.stdout, no_group.stderr]
    # A paused run resolved from another process, then killed -9 mid-upload; then a fresh run.
    admin.post("/config", {"time_scale": 2})
    slow = {**env, "AC_SYNC_TIME_SCALE": "2"}
    write_sample(tmp_path / "a.csv", 6000, salt="x")
    stderr_file = (tmp_path / "paused-run.stderr").open("w+")
    args = [sys.executable, "-m", "ac_sync.cli", *base, "--group", "Growth", "--pause-timeout", "120"]
    proc = subprocess.Popen(args, env=slow, cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr_file, text=True)
    assert proc.stdout is not None
    paused = json.loads(proc.stdout.readline())
    await wait_paused(paused["flow_run_id"])
    resolved = cli(["resolve", paused["flow_run_id"], "--action", "create-group"], env, tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    outputs += [resolved.stdout, resolved.stderr]
    before = admin.accepted_bulk()
    deadline = time.monotonic() + 60
    while admin.accepted_bulk() < before + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=10)
    stderr_file.seek(0)
    outputs += [out, stderr_file.read()]
    fresh = cli([*base, "--group", "Growth"], slow, tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    outputs += [fresh.stdout, fresh.stderr]

    for key in (CANARY, WRONG_CANARY):
        assert not any(key in text for text in outputs), f"{key} in command output"

    # Through the Prefect API: parameters, logs, artifacts.
    async with get_client() as client:
        runs = await client.read_flow_runs()
        logs = await client.read_logs(log_filter=LogFilter(), limit=200)
        offset = 200
        while batch := await client.read_logs(log_filter=LogFilter(), limit=200, offset=offset):
            logs += batch
            offset += 200
        artifacts = await client.read_artifacts()
    assert len(runs) >= 5 and len(logs) > 50 and artifacts
    api_text = json.dumps([r.parameters for r in runs]) + "\n".join(lg.message for lg in logs)
    api_text += json.dumps([a.data for a in artifacts], default=str)
    assert CANARY not in api_text and WRONG_CANARY not in api_text

    # Every file the tool or Prefect wrote: state, work files, rejected log, persisted results, the server DB.
    db_url = str(PREFECT_API_DATABASE_CONNECTION_URL.value() or "")
    roots = [tmp_path, Path(str(PREFECT_HOME.value()))]
    if "sqlite" in db_url:
        roots.append(Path(db_url.split(":///", 1)[-1]))
    scanned = 0
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                scanned += 1
                assert CANARY.encode() not in data and WRONG_CANARY.encode() not in data, path
    assert scanned > 10
