"""Bad input through the real command: a clear one-line error (exit 2) or a rejected-row entry, never a
traceback and never a voided batch."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.syncing import Admin


def ac_sync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    return subprocess.run(
        [sys.executable, "-m", "ac_sync.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


def run_audience(audience: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return ac_sync(
        "run", "--audience", audience, "--list", "Bad", "--group", "Admin", "--json", "--pause-timeout", "0",
        "--verbose-log", str(tmp_path / "rejected.csv"), cwd=tmp_path,
    )  # fmt: skip


def completed(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The summary of a run that went through (exit 0, no traceback): its last line of JSON."""
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_people(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A CSV of (email, first_name) rows, written by the csv module as an export would be."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "first_name"])
        out.writerows(rows)
    return path


def rejected_rows(tmp_path: Path) -> list[dict[str, str]]:
    """The rejected log the run wrote (--verbose-log), one dict a row."""
    with (tmp_path / "rejected.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def assert_clean_failure(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "failed"


EDGE_CASES = {
    "": "missing email",
    "a@b@c": "",
    "a@b@c.example.com": "",
    "plainaddress": "",
    "user@localhost": "",
    '"quoted local"@example.com': "",
    "user@[192.0.2.1]": "",
    "ünïcödé@example.com": "",
    "tab\there@example.com": "",
    "nul\x01char@example.com": "",
    ("x" * 290) + "@example.com": "",
    "trailing.@example.com": "",
    "double..dot@example.com": "",
    "user@example..com": "",
    "user@-example.com": "",
}
VALID = ["ok.one@example.com", "Mixed.Case@Example.ORG", "  spaced@example.net  ", "plus+tag@example.com"]


def test_edge_case_addresses_end_in_the_rejected_log(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    path = write_people(tmp_path / "edge.csv", [(email, "Edge") for email in [*EDGE_CASES, *VALID]])
    summary = completed(run_audience(str(path), tmp_path))
    assert summary["valid"] == len(VALID) and summary["invalid"] == len(EDGE_CASES)
    assert admin.members("Bad") == {"ok.one@example.com", "mixed.case@example.org", "spaced@example.net",
                                    "plus+tag@example.com"}  # fmt: skip
    rejected = rejected_rows(tmp_path)
    assert len(rejected) == len(EDGE_CASES)
    assert all(r["reason"].strip() and r["row"].isdigit() for r in rejected)
    bulk = [r for r in admin.requests() if r["path"].endswith("bulk_import") and r["method"] == "POST"]
    assert [r["status"] for r in bulk] == [200]  # one batch, never voided for format


def test_one_megabyte_field_is_a_rejected_row_not_a_voided_batch(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    path = write_people(tmp_path / "big.csv", [("huge@example.com", "y" * 1_000_000), ("small@example.com", "Small")])
    completed(run_audience(str(path), tmp_path))
    assert admin.members("Bad") == {"small@example.com"}
    rejected = {r["email"]: r["reason"] for r in rejected_rows(tmp_path)}
    assert "too large" in rejected["huge@example.com"]


def test_empty_audience_completes_with_nothing_to_do(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("email,first_name\n", encoding="utf-8")
    summary = completed(run_audience(str(path), tmp_path))
    assert (summary["audience_rows"], summary["subscribed"]) == (0, 0)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("noemail.csv", b"name,phone\nAda,1\n", "no 'email' column"),
        ("quotes.csv", b'email,first_name\n"a@example.com,"Ada\nb@example.com,Bob\n', "line"),
        ("latin1.csv", "email,first_name\nj@example.com,Jos\xe9\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_broken_files_give_one_clear_line(
    sync_env: EmulatorProcess, tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert_clean_failure(run_audience(str(path), tmp_path), needle)


def test_nonexistent_file_and_failing_sql(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    assert_clean_failure(run_audience(str(tmp_path / "missing.csv"), tmp_path), "not found")
    assert_clean_failure(run_audience("SELECT email FROM no_such_table", tmp_path), "no_such_table")


def test_missing_settings_is_a_usage_error(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("email\na@example.com\n", encoding="utf-8")
    env_key = os.environ.pop("AC_SYNC_API_KEY")
    try:
        assert_clean_failure(run_audience(str(path), tmp_path), "AC_SYNC_API_KEY")
    finally:
        os.environ["AC_SYNC_API_KEY"] = env_key
