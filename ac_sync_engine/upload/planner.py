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

from ac_sync_engine.audience.db import bound_memory
from ac_sync_engine.sql import drop_relation
from ac_sync_engine.upload.rows import ENVELOPE_BYTES, SUBSCRIBE, UNSUBSCRIBE, Batch, Row, make_batches
from ac_sync_engine.upload.state import STATE_COLUMNS, SUBSCRIBED, UNSUBSCRIBED, SyncState
from activecampaign.client import BULK_MAX_BYTES, BULK_MAX_CONTACTS

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
    """Create the tables `to_send` (bulk rows with their action), `resubscribe` and `leavers`.

    Only the rows that need a decision are joined in full: a narrow anti-join of (email, fields_hash)
    against the state's subscribed rows finds what changed, and everything else is `unchanged` by
    count. A re-sync of 10 M rows with 1 % changed thus copies 100 k rows, not 10 M.
    """
    bound_memory(con)
    if state is not None:
        state.load_into(con, "state")
    else:
        drop_relation(con, "state")
        con.execute(f"CREATE TABLE state ({STATE_COLUMNS})")
    if not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'list_unsubscribed'"
    ).fetchone()[0]:  # type: ignore[index]
        load_unsubscribed(con, [])
    if full_resync:
        candidates = "SELECT source_row FROM audience"
    else:
        # Unchanged means the same (email, fields_hash) is subscribed in the state. The pairs are compared by
        # two independent 64-bit hashes rather than as strings (less than half the time at 10 M rows): a
        # changed contact could pass as unchanged only if both collided, odds like those of fields_hash's
        # own md5 colliding.
        candidates = f"""
            SELECT a.source_row FROM ({_pair_keys("audience")}) a
            ANTI JOIN ({_pair_keys(f"(SELECT * FROM state WHERE status = '{SUBSCRIBED}')")}) s
                ON a.k1 = s.k1 AND a.k2 = s.k2
            UNION
            SELECT source_row FROM audience WHERE email IN (SELECT email FROM list_unsubscribed)"""
    con.execute(f"CREATE OR REPLACE TABLE plan_candidates AS {candidates}")
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
        FROM (SELECT * FROM audience WHERE source_row IN (SELECT source_row FROM plan_candidates)) a
        LEFT JOIN state s USING (email)
        LEFT JOIN list_unsubscribed u USING (email)
        """
    )
    con.execute(
        "CREATE OR REPLACE TABLE resubscribe AS SELECT email, unsubscribed_id AS contact_id, fields_hash "
        "FROM audience_plan WHERE verdict = 'resubscribe' ORDER BY source_row"
    )
    if mode == MIRROR:
        con.execute(
            f"CREATE OR REPLACE TABLE leavers AS "
            f"SELECT s.email, s.fields_hash, u.email IS NOT NULL AS opted_out FROM state s "
            f"LEFT JOIN list_unsubscribed u USING (email) "
            f"WHERE s.status = '{SUBSCRIBED}' AND s.email NOT IN (SELECT email FROM audience)"
        )
    else:
        # Upsert never removes anyone: no need to look for who left.
        con.execute("CREATE OR REPLACE TABLE leavers (email VARCHAR, fields_hash VARCHAR, opted_out BOOLEAN)")
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
    audience_rows = con.execute("SELECT count(*) FROM audience").fetchone()[0]  # type: ignore[index]
    return PlanCounts(
        adds=verdicts.get("add", 0),
        updates=verdicts.get("update", 0),
        removals=removals,
        resubscribes=verdicts.get("resubscribe", 0),
        opted_out=verdicts.get("opted_out", 0),
        unchanged=audience_rows - sum(verdicts.values()) + verdicts.get("unchanged", 0),
    )


def _pair_keys(relation: str) -> str:
    return f"SELECT *, hash(email, fields_hash) AS k1, hash(fields_hash || email) AS k2 FROM {relation}"


def rows_to_send(con: duckdb.DuckDBPyConnection, after_row: int = 0) -> Iterator[Row]:
    """Subscriptions in audience order, then unsubscriptions: streamed, never all in memory.

    `after_row` leaves out the subscriptions of source rows up to it (an early start sent those).
    """
    cur = con.cursor()
    cur.execute(
        f"SELECT {_COLUMNS} FROM to_send WHERE source_row IS NULL OR source_row > ? "
        "ORDER BY source_row NULLS LAST, email",
        [after_row],
    )
    while chunk := cur.fetchmany(_FETCH):
        for email, action, first_name, last_name, phone, tags, fields_hash, source_row in chunk:
            yield Row(email, action, first_name, last_name, phone, tags, fields_hash, source_row)
    cur.close()


# Payload bytes beyond the values themselves: keys, quotes, separators, the list id and some slack.
_ROW_OVERHEAD_BYTES = 160
_TAG_OVERHEAD_BYTES = 4
# json.dumps escapes a byte as at most 6 (\u00XX); other characters go out as their own UTF-8 bytes.
_ESCAPE_FACTOR = 6


def count_batches(con: duckdb.DuckDBPyConnection, list_id: int, batch_size: int) -> int:
    """Exactly the bulk requests the upload will make (the byte limit can split batches early).

    Encoding every row as the uploader does costs minutes at 10 M rows, so SQL first bounds each row's
    payload from above; when even a full batch of rows at the largest bound fits in one request, the
    byte limit cannot split anything and the count is plain arithmetic. Otherwise the rows are encoded.
    """
    size = min(batch_size, BULK_MAX_CONTACTS)
    values = " + ".join(f"strlen(coalesce({c}, ''))" for c in ("email", "first_name", "last_name", "phone"))
    tag_bytes = "coalesce(list_sum(list_transform(tags, lambda t: strlen(t) + 4)), 0)"
    row = con.execute(f"SELECT count(*), max({_ESCAPE_FACTOR} * ({values} + {tag_bytes})) FROM to_send").fetchone()
    assert row is not None
    rows, largest = row
    if not rows:
        return 0
    bound = largest + _ROW_OVERHEAD_BYTES + len(str(list_id))
    if bound * size + ENVELOPE_BYTES <= BULK_MAX_BYTES:
        return math.ceil(rows / size)
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
