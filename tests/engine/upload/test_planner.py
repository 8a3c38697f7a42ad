"""The plan against the sync state: verdicts, the state's views and compaction, and the batch count."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ac_sync.engine.audience import connect_db, prepare_audience
from ac_sync.engine.upload.planner import (
    MIRROR,
    UPSERT,
    PlanRules,
    build_plan,
    count_batches,
    load_unsubscribed,
    rows_to_send,
)
from ac_sync.engine.upload.rows import Batch, make_batches
from ac_sync.engine.upload.state import COMPACT_MIN_FRACTION, OPTED_OUT, SUBSCRIBED, UNSUBSCRIBED, SyncState


def audience_db(tmp_path: Path, people: list[tuple[str, str]]) -> Path:
    path = tmp_path / "a.csv"
    path.write_text("email,first_name\n" + "".join(f"{e},{n}\n" for e, n in people))
    db = tmp_path / "a.duckdb"
    prepare_audience(str(path), db)
    return db


def hashes(db: Path) -> dict[str, str]:
    with connect_db(db) as con:
        return dict(con.execute("SELECT email, fields_hash FROM audience").fetchall())


def record(state: SyncState, rows: list[tuple[str, str, str]]) -> None:
    """Checkpoint rows of a state that kept no `sent` (as v1 states did)."""
    state.checkpoint([(*row, None) for row in rows])


@pytest.fixture
def state(tmp_path: Path) -> SyncState:
    return SyncState(str(tmp_path / "state"), "example.com/list-1")


def test_verdicts(tmp_path: Path, state: SyncState) -> None:
    people = [(f"{x}@example.com", x.upper()) for x in ("same", "changed", "new", "back", "optout", "quiet")]
    db = audience_db(tmp_path, people)
    h = hashes(db)
    record(
        state,
        [
            ("same@example.com", h["same@example.com"], SUBSCRIBED),
            ("changed@example.com", "old", SUBSCRIBED),
            ("back@example.com", h["back@example.com"], UNSUBSCRIBED),
            ("optout@example.com", h["optout@example.com"], SUBSCRIBED),
            ("quiet@example.com", h["quiet@example.com"], OPTED_OUT),
            ("gone@example.com", "x", SUBSCRIBED),
        ],
    )
    con = duckdb.connect(str(db))
    # Unchanged in the state, but opted out in the list since: an opted-out skip, not "unchanged".
    load_unsubscribed(con, [("back@example.com", 7), ("OPTOUT@example.com", 8)])
    counts = build_plan(con, state, PlanRules(mode=MIRROR))
    assert counts.as_dict() == {
        "adds": 2,  # new, and quiet (opted out by themselves once, now back in the list's good books)
        "updates": 1,
        "removals": 1,
        "resubscribes": 1,
        "opted_out": 1,
        "unchanged": 1,
        "clears": 0,
        "untags": 0,
        "rerecorded": 0,
    }
    sent = [(r.email, r.action) for r in rows_to_send(con)]
    # The re-subscribed contact's values go out in bulk too, once the contact API has put it back.
    assert sent == [
        ("changed@example.com", "subscribe"),
        ("new@example.com", "subscribe"),
        ("back@example.com", "subscribe"),
        ("quiet@example.com", "subscribe"),
        ("gone@example.com", "unsubscribe"),
    ]
    assert con.execute("SELECT email, contact_id FROM resubscribe").fetchall() == [("back@example.com", 7)]
    assert [r.email for r in rows_to_send(con, after_row=2)] == [
        "new@example.com",
        "back@example.com",
        "quiet@example.com",
        "gone@example.com",
    ]
    upsert = build_plan(con, state, PlanRules(mode=UPSERT))
    assert upsert.removals == 0 and con.execute("SELECT count(*) FROM leavers").fetchone() == (0,)
    full = build_plan(con, state, PlanRules(mode=UPSERT, full_resync=True))
    assert (full.adds, full.updates, full.unchanged) == (2, 2, 0)
    con.close()


def test_state_is_the_latest_row_per_email(tmp_path: Path, state: SyncState) -> None:
    con = duckdb.connect()
    assert state.is_empty() and state.load_into(con) == 0
    record(state, [("a@x.com", "h1", SUBSCRIBED), ("b@x.com", "h2", SUBSCRIBED)])
    record(state, [("a@x.com", "h3", UNSUBSCRIBED)])
    assert not state.is_empty()
    expected = [("a@x.com", "h3", UNSUBSCRIBED, None), ("b@x.com", "h2", SUBSCRIBED, None)]
    assert state.load_into(con) == 2
    assert sorted(con.execute("SELECT * FROM state").fetchall()) == expected
    assert state.compact(con)  # no snapshot yet: always worth it
    assert not (Path(state.root) / "deltas").exists() or not list((Path(state.root) / "deltas").iterdir())
    assert state.load_into(con) == 2
    assert sorted(con.execute("SELECT * FROM state").fetchall()) == expected
    # Over the snapshot, deltas win; a small share of them is not worth rewriting the snapshot for.
    many = [(f"u{i}@x.com", "h", SUBSCRIBED) for i in range(200)]
    record(state, many)
    state.compact(con, force=True)
    record(state, [("b@x.com", "h9", SUBSCRIBED)])
    assert state.load_into(con) == 202
    assert con.execute("SELECT fields_hash FROM state WHERE email = 'b@x.com'").fetchall() == [("h9",)]
    assert COMPACT_MIN_FRACTION * 202 > 1 and not state.compact(con)
    assert state.compact(con, force=True)
    assert state.load_into(con) == 202
    assert con.execute("SELECT fields_hash FROM state WHERE email = 'b@x.com'").fetchall() == [("h9",)]


def test_loading_twice_replaces_views_and_tables(tmp_path: Path, state: SyncState) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE state (email VARCHAR, fields_hash VARCHAR, status VARCHAR, sent VARCHAR)")
    record(state, [("a@x.com", "h1", SUBSCRIBED)])
    assert state.load_into(con) == 1
    assert state.load_into(con) == 1
    load_unsubscribed(con, [])
    con.execute(
        "CREATE TABLE audience (source_row BIGINT, email VARCHAR, first_name VARCHAR, last_name VARCHAR,"
        " phone VARCHAR, tags VARCHAR[], fields_hash VARCHAR)"
    )
    assert build_plan(con, None).adds == 0
    assert build_plan(con, state).adds == 0


@pytest.mark.parametrize("big", [False, True])
def test_batch_count_is_exact(tmp_path: Path, big: bool) -> None:
    people = [(f"user{i}@example.com", ("x" * 3000 if big and i % 7 == 0 else f"N{i}")) for i in range(1, 1200)]
    db = audience_db(tmp_path, people)
    con = duckdb.connect(str(db))
    load_unsubscribed(con, [])
    build_plan(con, None)
    encoded = sum(1 for item in make_batches(rows_to_send(con), 123, 250) if isinstance(item, Batch))
    assert count_batches(con, 123, 250) == encoded
    assert count_batches(con, 123, 100) == sum(
        1 for item in make_batches(rows_to_send(con), 123, 100) if isinstance(item, Batch)
    )
    con.close()


def test_compaction_keeps_the_layout(tmp_path: Path, state: SyncState) -> None:
    record(state, [("a@x.com", "h1", SUBSCRIBED)])
    con = duckdb.connect()
    state.compact(con, force=True)
    snapshot = Path(state.root) / "snapshot.parquet"
    rows = con.execute("SELECT * FROM read_parquet(?)", [str(snapshot)]).fetchall()
    assert rows == [("a@x.com", "h1", SUBSCRIBED, None)]
    assert [c[0] for c in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(snapshot)]).fetchall()] == [
        "email",
        "fields_hash",
        "status",
        "sent",
    ]
    # Deltas are JSON lines of the same four fields.
    state.checkpoint([("b@x.com", "h2", SUBSCRIBED, '{"first_name": "B"}')])
    delta = next((Path(state.root) / "deltas").iterdir())
    assert json.loads(delta.read_text()) == {
        "email": "b@x.com",
        "fields_hash": "h2",
        "status": SUBSCRIBED,
        "sent": '{"first_name": "B"}',
    }


def test_a_merged_contact_takes_no_values_or_tags_from_a_list_that_removes_it() -> None:
    from ac_sync.engine.upload.account import _merged_values
    from ac_sync.engine.upload.rows import UNSUBSCRIBE, Row

    leaving = Row("a@example.com", action=UNSUBSCRIBE, first_name="Old", tags=["gone"], fields={7: "x"})
    staying = Row("a@example.com", first_name="New", tags=["kept"], fields={8: "y"})
    merged, conflicts = _merged_values([leaving, staying])
    assert (merged.first_name, merged.tags, merged.fields, conflicts) == ("New", ["kept"], {8: "y"}, 0)
