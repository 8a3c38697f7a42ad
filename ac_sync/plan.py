"""What a sync will write, decided in DuckDB from the audience, the sync state and the list's opt-outs.

Consent rules, in one place:
- someone whose list status is unsubscribed and whom this tool did not unsubscribe opted out themselves:
  never re-subscribed, never counted as removed by us, reported as an opted-out skip;
- someone this tool unsubscribed (the state's ledger says so) who re-enters the audience may be
  re-subscribed, through the contact-list endpoint, because bulk import never re-subscribes anyone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from ac_sync.state import SUBSCRIBED, UNSUBSCRIBED, SyncState
from ac_sync.upload import SUBSCRIBE, UNSUBSCRIBE, Batch, Row, make_batches

UPSERT = "upsert"
MIRROR = "mirror"
MODES = (UPSERT, MIRROR)

_FETCH = 2_000
_COLUMNS = "email, action, first_name, last_name, phone, tags, fields_hash, source_row"


@dataclass(frozen=True)
class PlanCounts:
    adds: int  # in the audience, not in the list as far as the state knows
    updates: int  # in the list, fields changed since last confirmed (or --full-resync)
    removals: int  # mirror: confirmed by this tool, gone from the audience, still subscribed
    resubscribes: int  # unsubscribed by this tool earlier, back in the audience
    opted_out: int  # in the audience, unsubscribed from the list by themselves: skipped
    unchanged: int

    @property
    def writes(self) -> int:
        return self.adds + self.updates + self.removals

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def load_unsubscribed(con: duckdb.DuckDBPyConnection, contacts: list[tuple[str, int]]) -> None:
    """The list's unsubscribed contacts, as read from ActiveCampaign: (email, contact id)."""
    con.execute("CREATE OR REPLACE TABLE list_unsubscribed (email VARCHAR, contact_id BIGINT)")
    if contacts:
        con.executemany("INSERT INTO list_unsubscribed VALUES (?, ?)", [(e.lower(), i) for e, i in contacts])


def build_plan(con: duckdb.DuckDBPyConnection, state: SyncState | None, *, mode: str, full_resync: bool) -> PlanCounts:
    """Create the tables `to_send` (bulk rows with their action), `resubscribe` and `opted_out_leavers`."""
    if state is not None:
        state.load_into(con, "state")
    else:
        con.execute("CREATE OR REPLACE TABLE state (email VARCHAR, fields_hash VARCHAR, status VARCHAR)")
    if not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'list_unsubscribed'"
    ).fetchone()[0]:  # type: ignore[index]
        load_unsubscribed(con, [])
    changed = "TRUE" if full_resync else "s.fields_hash IS DISTINCT FROM a.fields_hash"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE audience_plan AS
        SELECT a.*, s.status AS state_status, u.contact_id AS unsubscribed_id,
          CASE
            WHEN u.email IS NOT NULL AND s.status = '{UNSUBSCRIBED}' THEN 'resubscribe'
            WHEN u.email IS NOT NULL THEN 'opted_out'
            WHEN s.email IS NULL OR s.status <> '{SUBSCRIBED}' THEN 'add'
            WHEN {changed} THEN 'update'
            ELSE 'unchanged'
          END AS verdict
        FROM audience a
        LEFT JOIN state s USING (email)
        LEFT JOIN list_unsubscribed u USING (email)
        """
    )
    con.execute(
        "CREATE OR REPLACE TABLE resubscribe AS SELECT email, unsubscribed_id AS contact_id, fields_hash "
        "FROM audience_plan WHERE verdict = 'resubscribe' ORDER BY source_row"
    )
    leavers = (
        f"SELECT s.email, s.fields_hash, u.email IS NOT NULL AS opted_out FROM state s "
        f"LEFT JOIN audience a USING (email) LEFT JOIN list_unsubscribed u USING (email) "
        f"WHERE a.email IS NULL AND s.status = '{SUBSCRIBED}'"
    )
    if mode != MIRROR:
        leavers += " AND FALSE"
    con.execute(f"CREATE OR REPLACE TABLE leavers AS {leavers}")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE to_send AS
        SELECT email, '{SUBSCRIBE}' AS action, first_name, last_name, phone, tags, fields_hash, source_row
        FROM audience_plan WHERE verdict IN ('add', 'update')
        UNION ALL
        SELECT email, '{UNSUBSCRIBE}', NULL, NULL, NULL, NULL, fields_hash, NULL
        FROM leavers WHERE NOT opted_out
        """
    )
    verdicts = dict(con.execute("SELECT verdict, count(*) FROM audience_plan GROUP BY verdict").fetchall())
    removals = con.execute("SELECT count(*) FROM leavers WHERE NOT opted_out").fetchone()[0]  # type: ignore[index]
    return PlanCounts(
        adds=verdicts.get("add", 0),
        updates=verdicts.get("update", 0),
        removals=removals,
        resubscribes=verdicts.get("resubscribe", 0),
        opted_out=verdicts.get("opted_out", 0),
        unchanged=verdicts.get("unchanged", 0),
    )


def rows_to_send(con: duckdb.DuckDBPyConnection) -> Iterator[Row]:
    """Subscriptions in audience order, then unsubscriptions: streamed, never all in memory."""
    cur = con.cursor()
    cur.execute(f"SELECT {_COLUMNS} FROM to_send ORDER BY source_row NULLS LAST, email")
    while chunk := cur.fetchmany(_FETCH):
        for email, action, first_name, last_name, phone, tags, fields_hash, source_row in chunk:
            yield Row(email, action, first_name, last_name, phone, tags, fields_hash, source_row)
    cur.close()


def count_batches(con: duckdb.DuckDBPyConnection, list_id: int, batch_size: int) -> int:
    """Exactly the bulk requests the upload will make (the byte limit can split batches early)."""
    return sum(1 for item in make_batches(rows_to_send(con), list_id, batch_size) if isinstance(item, Batch))


def parse_max_removals(value: str | None, current: int) -> int:
    """`N` or `P%` of the contacts this tool keeps in the list; the default is 10 %."""
    text = (value or "10%").strip()
    if text.endswith("%"):
        return math.floor(float(text[:-1]) / 100 * current)
    return int(text)


def estimate_seconds(requests: dict[str, int], *, requests_per_second: int = 5, bulk_per_minute: int = 100) -> float:
    """Time at ActiveCampaign's ceilings: whichever of the two limits binds."""
    bulk = requests.get("bulk_import", 0)
    total = sum(requests.values())
    bulk_minutes = max(0, math.ceil(bulk / bulk_per_minute) - 1) * 60 if bulk > bulk_per_minute else 0
    return max(total / requests_per_second, bulk_minutes)


def describe(counts: PlanCounts, requests: dict[str, int]) -> dict[str, Any]:
    return {**counts.as_dict(), "requests": requests, "seconds_at_limits": round(estimate_seconds(requests), 1)}
