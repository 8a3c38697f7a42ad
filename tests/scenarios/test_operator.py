"""The operator's terminal, through the real `ac-sync` command: Ctrl-C and SIGTERM at several points, the live
display that logs never print into, plan examples, summaries, and (slow) a cold demo on a busy machine.

Nothing here decides by time: a test waits for a condition (an accepted import, a line on stderr) with a
generous deadline, and counts what the emulator saw.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from rich.console import Console

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.runner import run_sync
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, ac_sync_cli, cli_env, first_json, start_cli


class Cli:
    """`python -m ac_sync.cli ...` in the background, its stderr read line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path, **env: str) -> None:
        self.args = args
        self.proc = start_cli(*args, env={**cli_env(), **env}, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err: list[str] = []
        self.out: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def wait_for(self, check: Any, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.proc.poll() is None, f"exited {self.proc.returncode} before {what}:\n{''.join(self.err)}"
            if time.monotonic() >= deadline:
                self.proc.kill()  # a run left going would write into the next test's emulator
                self.proc.wait()
                raise AssertionError(f"no {what} within {timeout} s:\n{''.join(self.err)[-3000:]}")
            time.sleep(0.01)

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.err))

    def end(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def assert_stopped_cleanly(cli: Cli, signum: int, where: str) -> None:
    code = cli.end(timeout=20)  # the acceptance: the process ends within 20 s of the signal
    assert code == 128 + signum, cli.stderr[-3000:]
    assert "Traceback" not in cli.stderr and "Crash detected" not in cli.stderr, cli.stderr[-3000:]
    stops = [line for line in cli.err if line.startswith(("Stopped by", "Forced to stop"))]
    assert len(stops) == 1, cli.stderr[-3000:]
    assert where in stops[0], stops[0]
    assert stops[0].rstrip().endswith(f"Continue with: {shlex.join(['ac-sync', *cli.args])}"), stops[0]


def run_args(sample: Path, list_name: str, *extra: str) -> list[str]:
    return ["run", "--audience", str(sample), "--list", list_name, "--group", "Admin", *extra]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_upload_stops_cleanly_and_the_same_command_continues(
    slow_upload: Admin, tmp_path: Path, signum: int
) -> None:
    admin = slow_upload
    sample = write_sample(tmp_path / "a.csv", 6000, seed=signum)
    total = math.ceil(len(sample.valid) / 250)
    args = run_args(sample.path, "Stopped")
    cli = Cli(args, tmp_path)
    cli.wait_for(lambda: admin.accepted_bulk() >= 3, "3 accepted bulk imports")
    cli.proc.send_signal(signum)
    assert_stopped_cleanly(cli, signum, "while uploading")
    at_stop = admin.accepted_bulk()
    assert at_stop < total
    again = Cli(args, tmp_path)
    assert again.end(timeout=300) == 0, again.stderr[-3000:]
    assert admin.members("Stopped") == set(sample.valid)
    assert total <= admin.accepted_bulk() <= total + 1, (at_stop, admin.accepted_bulk())  # at most one sent twice


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_before_the_upload(slow_upload: Admin, tmp_path: Path, signum: int) -> None:
    admin = slow_upload
    # Finding the group takes its time: the signal lands in that phase, before any write.
    admin.post("/faults", {"rules": [{"method": "GET", "path": "groups", "delay_s": 30, "times": 1}]})
    sample = write_sample(tmp_path / "a.csv", 300)
    cli = Cli(run_args(sample.path, "Early"), tmp_path)
    cli.wait_for(lambda: cli.saw("… finding the group"), "the phase 'finding the group'")
    cli.proc.send_signal(signum)
    assert_stopped_cleanly(cli, signum, "while finding the group")
    assert admin.accepted_bulk() == 0
    again = Cli(run_args(sample.path, "Early"), tmp_path)
    assert again.end(timeout=300) == 0, again.stderr[-3000:]
    assert admin.members("Early") == set(sample.valid)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_signal_while_paused_records_the_run_stopped(
    sync_env: EmulatorProcess, tmp_path: Path, signum: int
) -> None:
    sample = write_sample(tmp_path / "a.csv", 100)
    args = ["run", "--audience", str(sample.path), "--list", "Waits", "--group", "Nobody", "--pause-timeout", "120"]
    cli = Cli([*args, "--json"], tmp_path)
    cli.wait_for(lambda: any('"status": "paused"' in line for line in cli.out), "the paused line on stdout")
    cli.wait_for(lambda: cli.saw("ac-sync resolve"), "the resolve commands")
    paused = json.loads(next(line for line in cli.out if '"status": "paused"' in line))
    cli.proc.send_signal(signum)
    assert_stopped_cleanly(cli, signum, "while paused on INVALID_GROUP_NAME")
    summary = json.loads(cli.out[-1])
    assert summary["status"] == "failed" and summary["stopped"] and summary["flow_run_id"] == paused["flow_run_id"]
    async with get_client() as client:
        run = await client.read_flow_run(UUID(paused["flow_run_id"]))
    assert run.state is not None and run.state.is_cancelled(), run.state
    assert "continue with: ac-sync run" in (run.state.message or "")
    assert Admin(sync_env.base_url).accepted_bulk() == 0


# --- the display -------------------------------------------------------------------------------------------

# Colours and cursor show/hide move nothing, so they are not where a line starts or ends.
SGR = re.compile(r"\x1b\[(?:[0-9;]*m|\?25[lh])")
LOG_START = re.compile(r"\d\d:\d\d:\d\d\.\d{3} \| ")


def test_log_lines_never_share_a_line_with_the_live_display(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 4000)
    terminal = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "TERM": "xterm-256color", "COLUMNS": "160"}
    cli = Cli(run_args(sample.path, "Shown"), tmp_path, **terminal)
    assert cli.end(timeout=300) == 0, cli.stderr[-3000:]
    raw = SGR.sub("", cli.stderr)
    assert "uploading" in raw and "contacts ·" in raw  # the display was drawn
    starts = [m.start() for m in LOG_START.finditer(raw)]
    assert len(starts) > 5
    # Logs printed while the display was up (between its first and last frame), so the check below has teeth.
    first, last = raw.index("contacts ·"), raw.rindex("contacts ·")
    assert any(first < s < last for s in starts)
    for start in starts:
        before = raw[max(0, start - 8) : start]
        # A log line starts a line of its own: after a newline, or after the display's region was erased.
        assert start == 0 or before.endswith(("\n", "\x1b[2K")), repr(raw[max(0, start - 200) : start + 80])
        line = raw[start : raw.find("\n", start)]
        assert "contacts ·" not in line and "⠋" not in line, repr(line)


# --- words ---------------------------------------------------------------------------------------------------


def test_plan_show_lists_examples_of_each_change(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    first = write_sample(tmp_path / "a.csv", 300)
    cli = Cli(run_args(first.path, "Planned"), tmp_path)
    assert cli.end(timeout=300) == 0, cli.stderr[-3000:]
    fewer = write_sample(tmp_path / "b.csv", 280)  # the same people, the last ones gone
    plan = Cli(["plan", *run_args(fewer.path, "Planned", "--mode", "mirror", "--show", "3", "--json")[1:]], tmp_path)
    assert plan.end(timeout=300) == 0, plan.stderr[-3000:]
    summary = json.loads(plan.out[-1])
    removed = summary["plan"]["examples"]["removals"]
    assert removed and set(removed) <= set(first.valid) - set(fewer.valid)
    line = next(line for line in plan.err if "would be removed:" in line)
    assert all(email in line for email in removed[:3])


async def test_an_unchanged_resync_says_so(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 300)
    params = {"audience": str(sample.path), "list_name": "Same", "group_name": "Admin"}
    for _ in range(2):
        out = io.StringIO()
        code, summary = await run_sync(params, as_json=False, console=Console(file=out, width=300))
        assert code == 0, out.getvalue()
    text = out.getvalue()
    assert f"sent: 0 added, 0 updated, 0 removed; {len(sample.valid):,} unchanged (not sent again)" in text
    assert f"{sample.invalid:,} invalid emails, {sample.duplicates:,} duplicates" in text


# --- the start ----------------------------------------------------------------------------------------------


def test_slow_cold_demo_completes_on_a_busy_machine(tmp_path: Path) -> None:
    """Slow (a minute or more): a fresh PREFECT_HOME, no PREFECT_API_URL, both cores kept busy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AC_SYNC_"))}
    env["PREFECT_HOME"] = str(tmp_path / "fresh-home")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ac_sync.cli", "demo", "--contacts", "500", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Timed out" not in done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["demo_check"]["list_holds_exactly_valid_audience"]
    assert (tmp_path / "fresh-home" / "prefect.db").exists()  # the local server made its database there
    assert not list((tmp_path / "fresh-home" / "ac-sync-servers").glob("*.json"))  # and is gone


def test_resolve_from_another_shell_uses_the_paused_runs_local_server(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    """No PREFECT_API_URL anywhere: the run starts a local server, and `ac-sync resolve` finds it."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(home)
    sample = write_sample(tmp_path / "a.csv", 100)
    args = ["run", "--audience", str(sample.path), "--list", "Local", "--group", "Growth", "--pause-timeout", "300"]
    run = start_cli(*args, "--json", env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        paused = first_json(run)
        assert paused["status"] == "paused" and paused["failure"]["code"] == "INVALID_GROUP_NAME"
        resolved = ac_sync_cli("resolve", paused["flow_run_id"], "--action", "create-group", env=env, cwd=tmp_path)
        assert resolved.returncode == 0, resolved.stderr
        assert "starting a local Prefect API" not in resolved.stderr  # it used the run's server
        assert run.wait(timeout=300) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert Admin(sync_env.base_url).members("Local") == set(sample.valid)
    assert not list((home / "ac-sync-servers").glob("*.json"))
