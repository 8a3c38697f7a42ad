"""`run --syncs FILE`: the file and the options beside it are checked before anything starts (exit 2)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ac_sync.cli.app import app


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_broken_syncs_file_is_one_line_per_mistake(tmp_path: Path) -> None:
    file = tmp_path / "syncs.yaml"
    file.write_text("syncs:\n  - {name: a, list: A, group: G}\n  - {name: b, audience: b.csv, list: B}\n")
    code, out = run("run", "--syncs", str(file))
    assert code == 2
    assert "sync 1 (a), audience: missing" in out and "sync 2 (b), group: missing" in out
    assert "Traceback" not in out


def test_a_syncs_own_settings_belong_in_the_file(tmp_path: Path) -> None:
    file = tmp_path / "syncs.yaml"
    file.write_text("syncs:\n  - {name: a, audience: a.csv, list: A, group: G}\n")
    code, out = run("plan", "--syncs", str(file), "--list", "Other")
    assert code == 2 and "--list is a sync's own setting" in out
    code, out = run("run", "--syncs", str(file), "--mode", "mirror")
    assert code == 2 and "--mode is a sync's own setting" in out
    code, out = run("run", "--syncs", str(file), "--only", "b")
    assert code == 2 and "--only 'b': no sync of that name (syncs: a)" in out


def test_only_goes_with_syncs_and_one_source_is_needed() -> None:
    code, out = run("run", "--list", "L", "--group", "G")
    assert code == 2 and "give --audience" in out
    code, out = run("run", "--audience", "a.csv", "--only", "x")
    assert code == 2 and "--only goes with --syncs" in out
