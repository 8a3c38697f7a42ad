"""Secret hygiene: a canary API key, through successful runs, typed failures, resolves, a crash and keys pasted
with an invisible character, shows up nowhere — not in output, Prefect logs, flow-run parameters, artifacts,
events, state files, the rejected log or the environment of Prefect's temporary server."""

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

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, wait_paused

CANARY = "canary-7f3e9b2d-secret-key"
WRONG_CANARY = "canary-wrong-0c41aa77"
# The canary as it is pasted from a web page, a terminal or a form: refused (the first two) or stripped.
PASTED = {"no-break space": (CANARY[:12] + "\xa0" + CANARY[12:], 13), "tab": (CANARY[:10] + "\t" + CANARY[10:], 11)}
# What an echo of a pasted key would show even where the whole canary does not appear.
FRAGMENTS = (CANARY[:10], CANARY[12:])


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
    # Pasted keys: refused up front in one line, no traceback, the key not repeated; a trailing newline is
    # stripped and the run completes.
    for what, (pasted, position) in PASTED.items():
        refused = cli([*base, "--group", "Admin"], env_with(pasted, tmp_path), tmp_path)
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr + refused.stdout
        errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert errors == [
            f"error: AC_SYNC_API_KEY holds a character that cannot be in an API key (a {what} at position"
            f" {position}): paste it again"
        ], refused.stderr[-2000:]
        outputs += [refused.stdout, refused.stderr]
    newline = cli([*base, "--group", "Admin"], env_with(CANARY + "\n", tmp_path), tmp_path)
    assert newline.returncode == 0 and "Traceback" not in newline.stderr, newline.stderr[-2000:]
    outputs += [newline.stdout, newline.stderr]

    for key in (CANARY, WRONG_CANARY, *FRAGMENTS):
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
    assert not any(key in api_text for key in (CANARY, WRONG_CANARY, *FRAGMENTS))

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
                assert not any(key.encode() in data for key in (CANARY, WRONG_CANARY, *FRAGMENTS)), path
    assert scanned > 10


def children(pid: int) -> list[int]:
    """The child processes of `pid` (any of its threads may have started them)."""
    found = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in tasks.read_text().split()]
    return found


def test_prefects_temporary_server_has_no_key_in_its_environment(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    """No PREFECT_API_URL: `ac-sync run` starts Prefect's temporary server as a child, which must not inherit
    AC_SYNC_API_KEY (see ac_sync.engine.secrets.kept_from_children)."""
    admin = Admin(sync_env.base_url)
    admin.post("/config", {"api_key": CANARY})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120", AC_SYNC_API_KEY=CANARY + "\n",
               AC_SYNC_STATE=str(tmp_path / "state"))  # fmt: skip
    sample = write_sample(tmp_path / "a.csv", 20)
    args = [sys.executable, "-m", "ac_sync.cli", "run", "--audience", str(sample.path), "--list", "Secret",
            "--group", "Nope", "--pause-timeout", "120", "--json"]  # fmt: skip
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    servers: list[int] = []
    try:
        assert proc.stdout is not None
        # Paused for a missing group: the run has used the key, and its server is up.
        assert json.loads(proc.stdout.readline())["status"] == "paused"
        for child in children(proc.pid):
            if b"prefect.server.api.server:create_app" in Path(f"/proc/{child}/cmdline").read_bytes():
                servers.append(child)
        assert len(servers) == 1
        environ = Path(f"/proc/{servers[0]}/environ").read_bytes()
        assert b"PREFECT_HOME=" in environ, "not the environment it was given"
        # (messages of their own: a failing assertion would print the whole environment)
        assert b"AC_SYNC_API_KEY=" not in environ, "AC_SYNC_API_KEY in the temporary server's environment"
        assert CANARY.encode() not in environ, "the key in the temporary server's environment"
    finally:
        proc.send_signal(signal.SIGINT)  # lets Prefect stop its server on the way out
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for server in servers:
            if Path(f"/proc/{server}").exists():
                os.kill(server, signal.SIGTERM)
