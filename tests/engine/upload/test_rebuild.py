"""rebuild_state: a damaged state set aside and written anew from the list's membership (emulator and MockTransport)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import httpx
import pytest
from pydantic import SecretStr

from ac_sync.activecampaign.client import ACClient, RetryPolicy
from ac_sync.activecampaign.emulator import EmulatorServer
from ac_sync.activecampaign.ratelimit import AccountLimiter, AccountLimits
from ac_sync.engine.audience import prepare_audience
from ac_sync.engine.errors import StateError
from ac_sync.engine.upload.planner import PlanRules, build_plan, load_unsubscribed
from ac_sync.engine.upload.rebuild import rebuild_state
from ac_sync.engine.upload.rows import PARTIAL
from ac_sync.engine.upload.state import OPTED_OUT, SUBSCRIBED, SyncState, open_state
from tests.syncing import create_list

FAST = AccountLimits(time_scale=1000)


def client_for(base_url: str, key: str, transport: httpx.AsyncBaseTransport | None = None) -> ACClient:
    return ACClient(
        base_url,
        SecretStr(key),
        limits=FAST,
        limiter=AccountLimiter(FAST),
        retry=RetryPolicy(max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02),
        transport=transport,
    )


def damage(state: SyncState) -> None:
    """A state of two contacts whose snapshot is then garbled."""
    con = duckdb.connect()
    state.checkpoint([("old@example.com", "h", SUBSCRIBED, None), ("b@example.com", "h", SUBSCRIBED, None)])
    state.compact(con, force=True)
    (Path(state.root) / "snapshot.parquet").write_bytes(b"not parquet")
    with pytest.raises(StateError):
        state.load_into(con)


async def test_the_list_membership_becomes_the_state(
    emulator: EmulatorServer, emulator_admin: httpx.Client, tmp_path: Path
) -> None:
    lst = create_list(emulator, "Spring VIP")
    list_id = int(lst["id"])
    active = [f"a{i}@example.com" for i in range(130)]  # more than a page of 100
    emulator_admin.post(
        "/contacts",
        json={
            "contacts": [{"email": e, "lists": {str(list_id): 1}} for e in active]
            + [{"email": "Out@Example.com", "lists": {str(list_id): 2}}]
        },
    ).raise_for_status()
    state = open_state(str(tmp_path / "state"), emulator.base_url, list_id)
    state.write_meta({"list_name": "Spring VIP", "stringid": lst["stringid"], "linked_groups": [3]})
    damage(state)

    async with client_for(emulator.base_url, emulator.api_key) as client:
        assert await rebuild_state(client, list_id, state) == 131

    con = duckdb.connect()
    assert state.load_into(con) == 131
    rows = {e: (h, s, v) for e, h, s, v in con.execute("SELECT email, fields_hash, status, sent FROM state").fetchall()}
    assert rows == {**{e: (PARTIAL, SUBSCRIBED, None) for e in active}, "out@example.com": (None, OPTED_OUT, None)}
    # One fresh snapshot, the list's record kept (and the snapshot's size in it), the damaged state kept aside.
    root = Path(state.root)
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["meta.json", "snapshot.parquet"]
    assert state.read_meta() == {
        "list_name": "Spring VIP",
        "stringid": lst["stringid"],
        "linked_groups": [3],
        "snapshot_rows": 131,
    }
    aside = [p for p in root.parent.iterdir() if p.name.startswith(f"list-{list_id}.damaged-")]
    assert len(aside) == 1 and (aside[0] / "snapshot.parquet").read_bytes() == b"not parquet"

    # The next plan compares every member again (their hash is "partial") and never re-subscribes the one out.
    audience = tmp_path / "a.csv"
    people = [*active[:5], "out@example.com", "new@example.com"]
    audience.write_text("email,first_name\n" + "".join(f"{e},Ann\n" for e in people))
    db = tmp_path / "a.duckdb"
    prepare_audience(str(audience), db)
    plan_con = duckdb.connect(str(db))
    load_unsubscribed(plan_con, [("out@example.com", 1)])
    counts = build_plan(plan_con, state, PlanRules())
    assert (counts.adds, counts.updates, counts.opted_out, counts.unchanged) == (1, 5, 1, 0)


async def test_a_failure_while_reading_the_list_leaves_the_state_as_it_was(tmp_path: Path) -> None:
    pages = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/3/contacts":
            pages.append(request.url.params.get("status"))
            if len(pages) == 1:
                contacts = [{"id": "1", "email": "a@example.com"}]
                return httpx.Response(200, json={"contacts": contacts, "meta": {"total": "2"}})
            return httpx.Response(403, content=b"")
        return httpx.Response(404, json={"message": "No Result found"})

    state = SyncState(str(tmp_path / "state"), "ac-acme/list-7")
    damage(state)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    async with client_for("https://acme.api-us1.com", "k", httpx.MockTransport(handle)) as client:
        with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, nothing is moved
            await rebuild_state(client, 7, state)
    assert pages and sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


async def test_an_empty_list_leaves_an_empty_state(tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"contacts": [], "meta": {"total": "0"}})

    state = SyncState(str(tmp_path / "state"), "ac-acme/list-7")
    damage(state)
    async with client_for("https://acme.api-us1.com", "k", httpx.MockTransport(handle)) as client:
        assert await rebuild_state(client, 7, state) == 0
    assert state.is_empty() and state.load_into(duckdb.connect()) == 0
