"""No process left behind: a command stopped while its local Prefect API starts stops that server; one left by a
command killed outright (SIGKILL) is stopped by the next command on the same PREFECT_HOME."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc/<pid>")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for the module: its database is created once."""
    return tmp_path_factory.mktemp("prefect-home")


def env_for(home: Path, emu: EmulatorProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AC_SYNC_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        AC_SYNC_API_URL=emu.base_url,
        AC_SYNC_API_KEY=emu.api_key,
        AC_SYNC_TIME_SCALE="10",
    )
    return env


def plan(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    audience = tmp_path / "a.csv"
    with audience.open("w", newline="") as fh:
        csv.writer(fh).writerows([["email"], ["a@example.com"], ["b@example.com"]])
    return subprocess.Popen(
        [sys.executable, "-m", "ac_sync.cli", "plan", "--audience", str(audience), "--list", "L", "--group", "Admin",
         "--state", str(tmp_path / "state")],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def record_of(home: Path, pid: int, *, ready: bool | None = None, timeout_s: float = 120) -> dict[str, object]:
    """The command's server record once it exists (with `ready`: once it says so)."""
    path = home / "ac-sync-servers" / f"{pid}.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            entry = None
        if entry is not None and (ready is None or entry.get("ready") == ready):
            return entry
        time.sleep(0.02)
    raise AssertionError(f"no server record of {pid} (ready={ready})")


def alive(pid: int) -> bool:
    try:
        return b"prefect.server.api.server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def gone_within(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


@pytest.fixture
def stray() -> Iterator[list[int]]:
    """Servers a failing test would leave: stopped after it."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)


# Two phases of the start: the moment it spawned, and while the server loads and binds.
STOPS = [(signal.SIGTERM, 0.0), (signal.SIGINT, 1.5)]


@pytest.mark.parametrize(("signum", "after_s"), STOPS, ids=["SIGTERM-at-spawn", "SIGINT-1.5s-in"])
def test_a_stop_while_the_local_api_starts_stops_its_server(
    sync_env: EmulatorProcess, tmp_path: Path, home: Path, stray: list[int], signum: int, after_s: float
) -> None:
    proc = plan(tmp_path, env_for(home, sync_env))
    try:
        server = int(record_of(home, proc.pid)["server_pid"])  # type: ignore[call-overload]
        stray.append(server)
        time.sleep(after_s)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (128 + signum, 0), err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert gone_within(server), "the command's server outlived it"
    assert not (home / "ac-sync-servers" / f"{proc.pid}.json").exists()


def test_a_server_left_by_a_killed_command_is_stopped_by_the_next(
    sync_env: EmulatorProcess, tmp_path: Path, home: Path, stray: list[int]
) -> None:
    env = env_for(home, sync_env)
    first = plan(tmp_path, env)
    server = int(record_of(home, first.pid, ready=True)["server_pid"])  # type: ignore[call-overload]
    stray.append(server)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert alive(server)  # nobody left to stop it
    second = plan(tmp_path, env)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-2000:]
    assert gone_within(server), "the next command did not stop the orphaned server"
    assert list((home / "ac-sync-servers").glob("*.json")) == []
