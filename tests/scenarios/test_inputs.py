"""Hardened inputs through the real command: the audience SQL only reads, its errors pass through whole,
addresses ActiveCampaign would refuse are rejected rows, and pasted keys and URLs are configuration errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.scenarios.test_bad_input import assert_clean_failure, run_audience
from tests.syncing import Admin

PEOPLE = "email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n"


def summary_of(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("SELECT 1) ; COPY (SELECT 1) TO 'x.csv' --", 'syntax error at or near ")"'),
        ("SELECT email FROM 'people.csv'; COPY (SELECT 1) TO 'x.csv'", "holds 2 statements (SELECT, then COPY)"),
        ("COPY (SELECT email FROM 'people.csv') TO 'x.csv'", "not a COPY statement"),
        ("ATTACH 'x.db' AS other", "not an ATTACH statement"),
        ("WITH gone AS (DELETE FROM main.audience_source RETURNING *) SELECT * FROM gone", "holds a DELETE"),
    ],
)
def test_sql_that_is_not_one_read_is_refused_before_it_runs(
    sync_env: EmulatorProcess, tmp_path: Path, query: str, needle: str
) -> None:
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = run_audience(query, tmp_path)
    assert_clean_failure(proc, needle)
    # Nothing ran: no file written where the query would have put it, not a request to ActiveCampaign.
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.db").exists()
    # (only the tool's own folders: its work files, and the sync state's, set by sync_env)
    assert {p.name for p in tmp_path.iterdir()} - set(before) <= {".ac-sync", "state"}
    assert Admin(sync_env.base_url).requests() == []


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("SELECT content AS email FROM read_text('/etc/passwd')", "may read only files under"),
        ("SELECT * FROM 'https://example.com/people.csv'", "may read only files under"),
        ("SELECT * FROM read_xlsx('exports/people.xlsx')", "needs DuckDB's excel extension"),
    ],
    ids=["a file outside", "a URL", "an extension"],
)
def test_a_query_reads_only_the_named_folders(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str, needle: str
) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "people.csv").write_text(PEOPLE, encoding="utf-8")
    monkeypatch.setenv("AC_SYNC_QUERY_FOLDERS", "exports")
    assert_clean_failure(run_audience(query, tmp_path), needle)
    assert Admin(sync_env.base_url).requests() == []
    allowed = run_audience("SELECT * FROM 'exports/people.csv'", tmp_path)
    assert allowed.returncode == 0 and summary_of(allowed)["subscribed"] == 2, allowed.stderr[-2000:]


def test_sql_errors_pass_through_whole(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    mistyped = run_audience("SELEC email FROM 'people.csv'", tmp_path)
    assert_clean_failure(mistyped, 'Parser Error: syntax error at or near "SELEC"')
    assert "LINE 1: SELEC email FROM 'people.csv'\n        ^^^^^" in mistyped.stderr
    assert "not found" not in mistyped.stderr
    misnamed = run_audience("SELECT first_name,\n  emial\nFROM 'people.csv'", tmp_path)
    assert_clean_failure(misnamed, 'Referenced column "emial" not found in FROM clause!')
    assert 'Candidate bindings: "email", "first_name"' in misnamed.stderr
    assert "LINE 2:   emial\n          ^^^^^" in misnamed.stderr
    # The summary's error is the whole message too.
    error = str(summary_of(misnamed)["error"])
    assert "Candidate bindings" in error and "LINE 2:" in error


def test_a_missing_file_and_a_non_utf8_csv_read_through_sql(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    missing = run_audience("exports/missing.csv", tmp_path)
    assert_clean_failure(missing, "audience file not found: exports/missing.csv")
    (tmp_path / "latin1.csv").write_bytes(
        "email,first_name\nann@example.com,Ann\nbob@example.com,Ren\xe9\n".encode("cp1252")
    )
    latin1 = run_audience("SELECT * FROM 'latin1.csv'", tmp_path)
    assert_clean_failure(latin1, "latin1.csv line 3: not valid UTF-8; save the file as UTF-8 and try again.")


def test_addresses_activecampaign_would_refuse_are_rejected_rows(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    refused = ["one@example.c", "idn@пример.рф", "digit@example.c0m", "dash@example.co-m", "puny@example.xn--p1ai"]
    path = tmp_path / "tlds.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["email"])
        out.writerows([e] for e in ["ok@example.com", *refused, "also.ok@example.org"])
    proc = run_audience(str(path), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = summary_of(proc)
    assert (summary["valid"], summary["invalid"]) == (2, len(refused))
    assert admin.members("Bad") == {"ok@example.com", "also.ok@example.org"}
    bulk = [r for r in admin.requests() if r["path"].endswith("bulk_import") and r["method"] == "POST"]
    assert [r["status"] for r in bulk] == [200]  # one batch, never voided for format
    with (tmp_path / "rejected.csv").open(newline="", encoding="utf-8") as fh:
        reasons = {r["email"]: r["reason"] for r in csv.DictReader(fh)}
    assert set(reasons) == set(refused)
    assert reasons["one@example.c"] == "The top-level domain must have two letters or more."
    assert reasons["idn@пример.рф"] == "ActiveCampaign does not take an internationalised top-level domain ('.рф')."


def test_a_pasted_key_in_dotenv_and_a_url_without_scheme_are_configuration_errors(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Admin(sync_env.base_url)
    path = tmp_path / "a.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    key = sync_env.api_key
    monkeypatch.delenv("AC_SYNC_API_KEY")
    (tmp_path / ".env").write_text(f"AC_SYNC_API_KEY={key[:3]}\xa0{key[3:]}\n", encoding="utf-8")
    pasted = run_audience(str(path), tmp_path)
    assert_clean_failure(pasted, "AC_SYNC_API_KEY holds a character that cannot be in an API key (a no-break space")
    assert key[3:] not in pasted.stderr + pasted.stdout
    # A trailing newline (and spaces) around the key are what a paste brings: stripped, the run completes.
    (tmp_path / ".env").write_text(f'AC_SYNC_API_KEY="{key}  \n"\n', encoding="utf-8")
    stripped = run_audience(str(path), tmp_path)
    assert stripped.returncode == 0, stripped.stderr[-3000:]
    since = len(admin.requests())
    monkeypatch.setenv("AC_SYNC_API_URL", sync_env.base_url.removeprefix("http://"))  # 127.0.0.1:PORT
    no_scheme = run_audience(str(path), tmp_path)
    assert_clean_failure(no_scheme, "AC_SYNC_API_URL: the API URL has no scheme: write it as http")
    assert "API_URL_INVALID" not in no_scheme.stdout + no_scheme.stderr
    assert summary_of(no_scheme)["failure"] is None
    assert len(admin.requests()) == since  # refused before any request


def test_credentials_save_refuses_a_pasted_key(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    key = "canary-3d9f-credentials-save"
    command = ["credentials", "save", "pasted", "--api-url", sync_env.base_url, "--api-key-stdin"]
    proc = subprocess.run(
        [sys.executable, "-m", "ac_sync.cli", *command],
        input=f"{key[:7]}\t{key[7:]}\n",
        env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and key[7:] not in proc.stderr
    assert " ".join(proc.stderr.split()) == (
        "error: the credentials block's API key holds a character that cannot be in an API key (a tab at position 8):"
        " paste it again"
    )


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (b"big@example.com," + b"x" * (9 << 20), "people.csv line 3: the line is longer than 8 MB"),
        (b"bad@example.com,Ren\xe9", "people.csv line 3: not valid UTF-8"),
    ],
    ids=["an-over-long-line", "bad-bytes-in-another-column"],
)
def test_a_row_the_reader_cannot_take_is_named_before_any_write(
    sync_env: EmulatorProcess, tmp_path: Path, row: bytes, needle: str
) -> None:
    (tmp_path / "people.csv").write_bytes(b"email,first_name\nann@example.com,Ann\n" + row + b"\nbob@example.com,Bob\n")
    proc = run_audience(str(tmp_path / "people.csv"), tmp_path)
    assert_clean_failure(proc, needle)
    assert [r for r in Admin(sync_env.base_url).requests() if r["method"] != "GET"] == []
