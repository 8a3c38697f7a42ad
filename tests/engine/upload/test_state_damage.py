"""A damaged sync state: every file kind garbled, emptied or cut off gives one line naming the file; a delta's torn
last line (a crash mid-write) is recovered with a warning."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from ac_sync.engine.errors import StateError, SyncInputError
from ac_sync.engine.upload.state import OPTED_OUT, SUBSCRIBED, SyncState

GARBAGE = b"\x00\xff\x13garbage\x89PNG\r\n\x1a\n\xfe"
ROWS = 40


def rows(n: int, prefix: str = "p") -> list[tuple[str, str, str, str | None]]:
    return [(f"{prefix}{i}@example.com", f"h{i}", SUBSCRIBED, json.dumps({"first_name": f"N{i}"})) for i in range(n)]


@pytest.fixture
def state(tmp_path: Path) -> SyncState:
    st = SyncState(str(tmp_path / "state"), "example.com/list-7")
    st.write_meta({"list_name": "Spring VIP", "stringid": "spring-vip-1"})
    return st


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def compacted(state: SyncState, con: duckdb.DuckDBPyConnection, n: int = ROWS) -> Path:
    """A state of a snapshot of `n` contacts and two deltas since (3 rows); answers the snapshot's path."""
    state.checkpoint(rows(n))
    assert state.compact(con, force=True)
    state.checkpoint(rows(2, "late"))
    state.checkpoint([("late9@example.com", None, OPTED_OUT, None)])
    return Path(state.root) / "snapshot.parquet"


def one_line_naming(exc: pytest.ExceptionInfo[StateError], path: Path) -> str:
    message = str(exc.value)
    assert isinstance(exc.value, SyncInputError)  # the command line exits 2 with this line, no traceback
    assert "\n" not in message
    assert str(path) in message
    assert "ac-sync verify --list 'Spring VIP' --group NAME --rebuild-state" in message
    return message


def cut(path: Path, at: int) -> None:
    path.write_bytes(path.read_bytes()[:at])


# --- the snapshot --------------------------------------------------------------------------------------------


def snapshot_damages(size: int) -> dict[str, Callable[[Path], None]]:
    return {
        "garbage": lambda p: p.write_bytes(GARBAGE * 50),
        "empty": lambda p: p.write_bytes(b""),
        "first bytes only": lambda p: cut(p, 4),
        "cut at a third": lambda p: cut(p, size // 3),
        "cut in half": lambda p: cut(p, size // 2),
        "cut one byte short": lambda p: cut(p, size - 1),
        "footer cut off": lambda p: cut(p, size - 8),
    }


@pytest.mark.parametrize("damage", list(snapshot_damages(100)))
def test_a_damaged_snapshot_names_itself_and_what_is_lost(
    state: SyncState, con: duckdb.DuckDBPyConnection, damage: str
) -> None:
    snapshot = compacted(state, con)
    snapshot_damages(snapshot.stat().st_size)[damage](snapshot)
    for read in (lambda: state.load_into(con), state.is_empty, lambda: state.compact(con)):
        with pytest.raises(StateError) as exc:
            read()
        message = one_line_naming(exc, snapshot)
        assert f"the snapshot of {ROWS} contacts cannot be read; the 2 deltas since hold 3 rows" in message


@pytest.mark.parametrize(
    "select",
    [
        "SELECT 1 AS email, 'h' AS fields_hash, 'subscribed' AS status",  # email a number
        "SELECT 'a@example.com' AS email, 'subscribed' AS status",  # no fields_hash
        "SELECT 'a@example.com' AS mail, 'h' AS hash",  # not the state's columns at all
        "SELECT 'a@example.com' AS email, 'h' AS fields_hash, 'subscribed' AS status, 5 AS sent",
    ],
)
def test_a_parquet_file_of_other_columns_is_no_snapshot(
    state: SyncState, con: duckdb.DuckDBPyConnection, select: str
) -> None:
    snapshot = compacted(state, con)
    con.execute(f"COPY ({select}) TO '{snapshot}' (FORMAT parquet)")
    assert not state.is_empty()  # a whole Parquet file: is_empty looks at its ends only
    with pytest.raises(StateError) as exc:
        state.load_into(con)
    message = one_line_naming(exc, snapshot)
    assert "is a Parquet file but no state snapshot" in message and "should be VARCHAR" in message


def test_a_snapshot_whose_size_was_never_recorded_says_so(state: SyncState, con: duckdb.DuckDBPyConnection) -> None:
    snapshot = compacted(state, con)
    state.write_meta({"list_name": "Spring VIP"})
    snapshot.write_bytes(GARBAGE)
    with pytest.raises(StateError) as exc:
        state.load_into(con)
    assert "is not a Parquet file (19 bytes): the snapshot cannot be read" in one_line_naming(exc, snapshot)


def test_compaction_records_the_snapshot_size(state: SyncState, con: duckdb.DuckDBPyConnection) -> None:
    compacted(state, con)
    assert state.read_meta() == {"list_name": "Spring VIP", "stringid": "spring-vip-1", "snapshot_rows": ROWS}
    assert state.compact(con, force=True)
    assert state.read_meta()["snapshot_rows"] == ROWS + 3


# --- deltas ----------------------------------------------------------------------------------------------------


def delta(state: SyncState) -> Path:
    files = sorted((Path(state.root) / "deltas").glob("*.jsonl"))
    assert len(files) == 1
    return files[0]


def loaded(state: SyncState, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    state.load_into(con)
    return dict(con.execute("SELECT email, fields_hash FROM state").fetchall())


@pytest.mark.parametrize("keep", [1, 2, 12, 30, -2])  # bytes of the last line that reached the disk (-2: all but '}')
def test_a_torn_last_delta_line_is_dropped_with_a_warning(
    state: SyncState, con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture, keep: int
) -> None:
    state.checkpoint(rows(5))
    path = delta(state)
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    line = data[last:].rstrip(b"\n")
    path.write_bytes(data[:last] + line[: keep if keep > 0 else len(line) + keep + 1])
    with caplog.at_level(logging.WARNING, logger="ac_sync.engine.upload.state"):
        assert loaded(state, con) == {f"p{i}@example.com": f"h{i}" for i in range(4)}
        loaded(state, con)  # read again: one warning per file, not per read
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings == state.recovered
    assert str(path) in warnings[0] and "its 4 complete rows are kept and the torn one dropped" in warnings[0]
    assert not state.is_empty()
    # The next compaction folds the torn delta away at once, worth it or not: a later run reads no torn line.
    assert state.compact(con)
    again = SyncState(str(Path(state.root).parents[1]), "example.com/list-7")
    assert loaded(again, con) == {f"p{i}@example.com": f"h{i}" for i in range(4)} and not again.recovered


def test_a_last_line_that_is_whole_but_lacks_its_newline_is_kept(
    state: SyncState, con: duckdb.DuckDBPyConnection
) -> None:
    state.checkpoint(rows(3))
    path = delta(state)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert len(loaded(state, con)) == 3 and not state.recovered


def test_an_empty_delta_is_a_write_cut_off_before_its_first_byte(
    state: SyncState, con: duckdb.DuckDBPyConnection
) -> None:
    state.checkpoint(rows(3))
    state.checkpoint(rows(2, "x"))
    newest = sorted((Path(state.root) / "deltas").glob("*.jsonl"))[-1]
    newest.write_bytes(b"")
    assert set(loaded(state, con)) == {f"p{i}@example.com" for i in range(3)}
    assert len(state.recovered) == 1 and "its 0 complete rows" in state.recovered[0]


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda d: GARBAGE + b"\n", "line 1 is not JSON"),
        (lambda d: GARBAGE, "ends in a line that is neither a state row nor the start of one"),
        (lambda d: d.replace(b'{"email": "p1', b'{"email: "p1', 1), "line 2 is not JSON"),
        (lambda d: d.replace(b"p1@", b"p1\xff@", 1), "line 2 is not JSON"),  # not UTF-8
        (lambda d: b"[1, 2]\n" + d, "line 1 is JSON a list, not a state row"),
        (lambda d: d + b'"a string"\n', "line 4 is JSON text, not a state row"),
        (lambda d: d + b'{"mail": "x@example.com"}\n', "line 4 has no email"),
        (lambda d: d + b'{"email": "x@example.com", "status": "gone"}\n', "line 4 has the status 'gone'"),
        (lambda d: d.replace(b"\n", b'\n{"email": "cut', 1), "line 2 is not JSON"),  # torn, but not the last
    ],
)
def test_any_other_delta_damage_names_the_file_and_line(
    state: SyncState, con: duckdb.DuckDBPyConnection, damage: Callable[[bytes], bytes], why: str
) -> None:
    state.checkpoint(rows(3))
    path = delta(state)
    path.write_bytes(damage(path.read_bytes()))
    for read in (lambda: state.load_into(con), lambda: state.compact(con, force=True)):
        with pytest.raises(StateError) as exc:
            read()
        message = one_line_naming(exc, path)
        assert why in message and "rows of the confirmed batch it records cannot be read" in message


# --- pending batches and meta.json ---------------------------------------------------------------------------

PENDING_ROW = {"email": "a@example.com", "fields_hash": "h", "action": "subscribe", "source_row": 2, "sent": None}
JSON_DAMAGES = {
    "garbage": GARBAGE,
    "empty": b"",
    "whitespace": b"  \n",
    "cut at 1": json.dumps([PENDING_ROW]).encode()[:1],
    "cut in half": json.dumps([PENDING_ROW]).encode()[:40],
    "cut one short": json.dumps([PENDING_ROW]).encode()[:-1],
}


@pytest.mark.parametrize(
    "data",
    [
        *JSON_DAMAGES.values(),
        json.dumps({"rows": [PENDING_ROW]}).encode(),  # an object, not a list
        json.dumps([1, 2]).encode(),
        json.dumps([{"email": "a@example.com"}]).encode(),  # rows without what a resumed batch needs
        json.dumps([{**PENDING_ROW, "email": 5}]).encode(),
    ],
    ids=[*JSON_DAMAGES, "object", "numbers", "no action", "numeric email"],
)
def test_a_damaged_pending_batch_names_its_file(state: SyncState, data: bytes) -> None:
    state.add_pending("1234", [PENDING_ROW])
    state.add_pending("1240", [PENDING_ROW])
    path = Path(state.root) / "pending" / "1240.json"
    path.write_bytes(data)
    for read in (state.pending, state.is_empty):
        with pytest.raises(StateError) as exc:
            read()
        assert "batch 1240, which ActiveCampaign queued and no run confirmed" in one_line_naming(exc, path)


@pytest.mark.parametrize(
    "data",
    [*JSON_DAMAGES.values(), b"[]", b'["list_name", "Spring VIP"]', b"42", b"null"],
    ids=[*JSON_DAMAGES, "empty list", "list", "number", "null"],
)
def test_a_damaged_meta_names_its_file(state: SyncState, data: bytes) -> None:
    path = Path(state.root) / "meta.json"
    path.write_bytes(data)
    with pytest.raises(StateError) as exc:
        state.read_meta()
    message = str(exc.value)
    assert "\n" not in message and str(path) in message and "the list's record" in message
    # meta.json is where the list's name comes from: without it, the command says NAME.
    assert "ac-sync verify --list NAME --group NAME --rebuild-state" in message


def test_the_command_names_the_list_and_group_a_caller_gives(state: SyncState, con: duckdb.DuckDBPyConnection) -> None:
    snapshot = compacted(state, con)
    snapshot.write_bytes(b"")
    state.list_name, state.group_name = "VIP", "Marketing & Sales"
    with pytest.raises(StateError, match=r"ac-sync verify --list VIP --group 'Marketing & Sales' --rebuild-state$"):
        state.load_into(con)


def test_an_undamaged_state_reads_as_before(state: SyncState, con: duckdb.DuckDBPyConnection) -> None:
    compacted(state, con)
    state.add_pending("77", [PENDING_ROW])
    assert len(loaded(state, con)) == ROWS + 3
    assert state.pending() == {"77": [PENDING_ROW]} and not state.is_empty() and not state.recovered
