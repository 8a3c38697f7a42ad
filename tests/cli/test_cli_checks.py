"""What the command line refuses before any Prefect API: one line, exit 2, and no server started.

"No server" is counted, not timed: a Prefect server (the local one or Prefect's temporary one) creates its
database in PREFECT_HOME, and the local one writes its log there; a refused command leaves PREFECT_HOME empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_ID = "5f1c7a52-0c4e-4d0b-9a43-3e2b8c1f0a11"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AC_SYNC_"))}
    return {**env, "PREFECT_HOME": str(home), "COLUMNS": "100", **extra}


def ac_sync(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "prefect-home"
    return subprocess.run(
        [sys.executable, "-m", "ac_sync.cli", *args],
        env=clean_env(home, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_refused_up_front(tmp_path: Path, done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # One line; a SQL error keeps DuckDB's own lines after it (its LINE and caret, its candidates).
    engine_lines = any(line.startswith("LINE ") for line in lines)
    assert (len(lines) == 1 or engine_lines) and lines[0].startswith("error:") and needle in lines[0], done.stderr
    home = tmp_path / "prefect-home"
    assert not (home / "prefect.db").exists() and not (home / "ac-sync-server.log").exists(), list(home.glob("*"))


CREDENTIALS = {"AC_SYNC_API_URL": "http://127.0.0.1:8765", "AC_SYNC_API_KEY": "k"}


@pytest.fixture
def audience(tmp_path: Path) -> Path:
    path = tmp_path / "a.csv"
    path.write_text("email\nann@example.com\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--group", "G"], CREDENTIALS, "name the list"),
        (["--list", "L"], CREDENTIALS, "name the group"),
        (["--list", "L", "--group", "G"], {}, "AC_SYNC_API_URL and AC_SYNC_API_KEY"),
        (
            ["--list", "L", "--group", "G"],
            {"AC_SYNC_API_URL": "127.0.0.1:8765", "AC_SYNC_API_KEY": "k"},
            "has no scheme",
        ),
        (["--list", "L", "--group", "G"], {**CREDENTIALS, "AC_SYNC_BATCH_SIZE": "500"}, "AC_SYNC_BATCH_SIZE"),
        (["--list", "L", "--group", "G", "--credentials-block", "My Block"], {}, "lowercase"),
        (["--list", "L", "--group", "G", "--mode", "sideways"], CREDENTIALS, "--mode"),
        (["--list", "L", "--campaign", "C", "--list-template", "{nope}", "--group", "G"], CREDENTIALS, "{nope}"),
    ],
)
def test_run_refuses_bad_settings_before_any_server(
    tmp_path: Path, audience: Path, args: list[str], env: dict[str, str], needle: str
) -> None:
    done = ac_sync(tmp_path, "run", "--audience", str(audience), *args, **env)
    assert_refused_up_front(tmp_path, done, needle)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("missing.csv", "audience file not found"),
        ("audience.xlsx", "unsupported audience file type"),
        ("SELECT email FROM no_such_table", "no_such_table"),
    ],
)
def test_run_refuses_a_bad_audience_before_any_server(tmp_path: Path, source: str, needle: str) -> None:
    (tmp_path / "audience.xlsx").write_bytes(b"PK")
    done = ac_sync(tmp_path, "plan", "--audience", source, "--list", "L", "--group", "G", **CREDENTIALS)
    assert_refused_up_front(tmp_path, done, needle)


def test_json_ends_with_the_failed_summary(tmp_path: Path, audience: Path) -> None:
    import json

    done = ac_sync(tmp_path, "run", "--audience", str(audience), "--group", "G", "--json", **CREDENTIALS)
    assert_refused_up_front(tmp_path, done, "name the list")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and "name the list" in summary["error"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([RUN_ID, "--action", "use-group"], "needs --set group_name"),
        ([RUN_ID, "--action", "use-list", "--set", "list_id=x"], "whole number"),
        ([RUN_ID, "--action", "bogus"], "no playbook offers the action 'bogus'"),
        (["not-an-id", "--action", "retry"], "is not a flow-run id"),
    ],
)
def test_resolve_refuses_before_any_server(tmp_path: Path, args: list[str], needle: str) -> None:
    assert_refused_up_front(tmp_path, ac_sync(tmp_path, "resolve", *args), needle)


def test_help_shows_flags_without_types_and_names_the_credentials(tmp_path: Path) -> None:
    run_help = ac_sync(tmp_path, "run", "--help", COLUMNS="200").stdout
    plan_help = ac_sync(tmp_path, "plan", "--help", COLUMNS="200").stdout
    demo_help = ac_sync(tmp_path, "demo", "--help", COLUMNS="200").stdout
    for text in (run_help, plan_help, demo_help):
        assert "<bool>" not in text, text
    assert "AC_SYNC_API_URL" in run_help and "AC_SYNC_API_KEY" in run_help and "--credentials-block" in run_help
    batch = next(line for line in run_help.splitlines() if "--batch-size" in line)
    assert "Contacts per bulk import" in batch
    assert "--show" in plan_help and "--show" not in run_help
    assert not (tmp_path / "prefect-home" / "prefect.db").exists()


def test_a_prefect_api_nobody_answers_at_is_one_line(tmp_path: Path, audience: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    args = ["run", "--audience", str(audience), "--list", "L", "--group", "G"]
    done = ac_sync(tmp_path, *args, PREFECT_API_URL=closed, **CREDENTIALS)
    assert_refused_up_front(tmp_path, done, "nothing answers at PREFECT_API_URL")
