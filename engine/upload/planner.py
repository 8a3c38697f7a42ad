"""What a sync will write, decided in DuckDB from the audience, the sync state and the list's opt-outs.

Consent rules, in one place:
- someone whose list status is unsubscribed and whom this tool did not unsubscribe opted out themselves:
  never re-subscribed, never counted as removed by us, reported as an opted-out skip;
- someone this tool unsubscribed (the state's ledger says so) who re-enters the audience may be
  re-subscribed, through the contact-list endpoint, because bulk import never re-subscribes anyone.

Data rules: only what changed is written, decided per field against what the state says the list holds.
An empty cell leaves the field as it is, unless its column clears (`--clear-empty`): then a value this tool
had sent is cleared through the contact API, since bulk import cannot clear. `--tags mirror` takes off the
tags this tool added that have left a row, and never touches other tags. A contact whose hash changed but
whose fields did not (a cell emptied, a mapping dropped, a v1 state's hash) is only re-recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from ac_sync.activecampaign.client import BULK_MAX_BYTES, BULK_MAX_CONTACTS
from ac_sync.engine.audience.db import bound_memory
from ac_sync.engine.audience.fields import TEXT_FIELDS, legacy_fields_hash_sql
from ac_sync.engine.audience.mapping import ColumnMapping
from ac_sync.engine.audience.normalise import value_column
from ac_sync.engine.sql import drop_relation
from ac_sync.engine.upload.rows import ENVELOPE_BYTES, SUBSCRIBE, UNSUBSCRIBE, Batch, Row, make_batches
from ac_sync.engine.upload.state import STATE_COLUMNS, SUBSCRIBED, UNSUBSCRIBED, SyncState

UPSERT = "upsert"
MIRROR = "mirror"
MODES = (UPSERT, MIRROR)
TAGS_ADD = "add"
TAGS_MIRROR = "mirror"
TAG_MODES = (TAGS_ADD, TAGS_MIRROR)
AUTOMATIONS_SKIP = "skip"
AUTOMATIONS_RUN = "run"
AUTOMATIONS_NEW_ONLY = "new-only"  # only contacts new to the list after its first sync
AUTOMATION_MODES = (AUTOMATIONS_SKIP, AUTOMATIONS_RUN, AUTOMATIONS_NEW_ONLY)

_FETCH = 2_000


@dataclass(frozen=True)
class PlanCounts:
    adds: int  # in the audience, not in the list as far as the state knows
    updates: int  # in the list, a value changed since last confirmed (or --full-resync)
    removals: int  # mirror: confirmed by this tool, gone from the audience, still subscribed
    resubscribes: int  # unsubscribed by this tool earlier, back in the audience
    opted_out: int  # in the audience, unsubscribed from the list by themselves: skipped
    unchanged: int
    clears: int = 0  # contacts whose emptied cells clear values this tool had sent (contact API)
    untags: int = 0  # contacts that lose tags this tool added (--tags mirror; contact API)
    rerecorded: int = 0  # of the unchanged: hash changed, fields did not; only the sync state is updated

    @property
    def writes(self) -> int:
        """Contacts in bulk imports (adds, updates sent in bulk, removals)."""
        return self.adds + self.updates + self.removals

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class PlanRules:
    """How the plan decides, besides the audience and the state."""

    mode: str = UPSERT
    full_resync: bool = False
    tags: str = TAGS_ADD
    mapping: ColumnMapping | None = None  # None: the standard fields only
    automations: str = AUTOMATIONS_SKIP

    def excludes_automations(self, *, new_to_list: bool, first_sync: bool) -> bool:
        """Whether a contact written now enters the list without starting the account's automations."""
        if self.automations == AUTOMATIONS_RUN:
            return False
        if self.automations == AUTOMATIONS_NEW_ONLY:
            return not new_to_list or first_sync
        return True

    @property
    def custom_ids(self) -> list[int]:
        return [m.target.field.id for m in self.mapping.custom] if self.mapping else []  # type: ignore[union-attr]

    @property
    def clear_keys(self) -> set[str]:
        return set(self.mapping.clear_empty) if self.mapping else set()

    @property
    def mirrors_tags(self) -> bool:
        # Without a tags column every tag would look gone: mirroring then removes nothing.
        return self.tags == TAGS_MIRROR and self.mapping is not None and self.mapping.standard("tags") is not None


def load_unsubscribed(con: duckdb.DuckDBPyConnection, contacts: list[tuple[str, int]]) -> None:
    """The list's unsubscribed contacts, as read from ActiveCampaign: (email, contact id)."""
    con.execute("CREATE OR REPLACE TABLE list_unsubscribed (email VARCHAR, contact_id BIGINT)")
    if contacts:
        con.executemany("INSERT INTO list_unsubscribed VALUES (?, ?)", [(e.lower(), i) for e, i in contacts])


def _held(key: str) -> str:
    """What the state says the list holds for `key`: a v1 row holds the audience's standard values when its
    v1 hash matches (it was sent unchanged), and nothing known otherwise."""
    recorded = f"json_extract_string(old_sent, '$.{key}')"
    if key in TEXT_FIELDS:
        return f"CASE WHEN legacy_same THEN a.{key} WHEN legacy THEN NULL ELSE {recorded} END"
    return f"CASE WHEN legacy THEN NULL ELSE {recorded} END"


_LOWER = "list_transform({0}, lambda t: lower(t))"


def build_plan(con: duckdb.DuckDBPyConnection, state: SyncState | None, rules: PlanRules | None = None) -> PlanCounts:
    """Create the tables `to_send` (bulk rows with their action), `resubscribe`, `contact_writes` (clears and
    tag removals), `rerecord` (state-only) and `leavers`.

    Only the rows that need a decision are joined in full: a narrow anti-join of (email, fields_hash)
    against the state's subscribed rows finds what changed, and everything else is `unchanged` by
    count. A re-sync of 10 M rows with 1 % changed thus copies 100 k rows, not 10 M.
    """
    rules = rules or PlanRules()
    bound_memory(con)
    first_sync = state is None or state.is_empty()
    if state is not None:
        state.load_into(con, "state")
    else:
        drop_relation(con, "state")
        con.execute(f"CREATE TABLE state ({STATE_COLUMNS})")
    if not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'list_unsubscribed'"
    ).fetchone()[0]:  # type: ignore[index]
        load_unsubscribed(con, [])
    if rules.full_resync:
        candidates = "SELECT source_row FROM audience"
    else:
        # Unchanged means the same (email, fields_hash) is subscribed in the state. The pairs are compared by
        # two independent 64-bit hashes rather than as strings (less than half the time at 10 M rows): a
        # changed contact could pass as unchanged only if both collided, odds like those of fields_hash's
        # own md5 colliding.
        candidates = f"""
            SELECT a.source_row FROM ({_pair_keys("audience", "source_row")}) a
            ANTI JOIN ({_pair_keys(f"(SELECT email, fields_hash FROM state WHERE status = '{SUBSCRIBED}')", "email")}) s
                ON a.k1 = s.k1 AND a.k2 = s.k2
            UNION
            SELECT source_row FROM audience WHERE email IN (SELECT email FROM list_unsubscribed)"""
    con.execute(f"CREATE OR REPLACE TABLE plan_candidates AS {candidates}")
    keys = [*TEXT_FIELDS, *(value_column(i) for i in rules.custom_ids)]
    changed = " OR ".join(f"(a.{k} IS NOT NULL AND a.{k} IS DISTINCT FROM {_held(k)})" for k in keys)
    clears = [k for k in keys if k in rules.clear_keys]
    emptied = ", ".join(f"CASE WHEN a.{k} IS NULL AND {_held(k)} IS NOT NULL THEN '{k}' END" for k in clears)
    cleared = f"list_filter([{emptied}], lambda k: k IS NOT NULL)" if clears else "[]::VARCHAR[]"
    held_tags = (
        "CASE WHEN legacy_same THEN a.tags WHEN legacy THEN []::VARCHAR[]"
        " ELSE coalesce(CAST(json_extract(old_sent, '$.tags') AS VARCHAR[]), []::VARCHAR[]) END"
    )
    new_lower = _LOWER.format("a.tags")
    tags_added = f"len(list_filter({new_lower}, lambda t: NOT list_contains({_LOWER.format('held_tags')}, t))) > 0"
    untag = (
        f"list_filter(held_tags, lambda t: NOT list_contains({new_lower}, lower(t)))"
        if rules.mirrors_tags
        else "[]::VARCHAR[]"
    )
    legacy_hash = legacy_fields_hash_sql("a.first_name", "a.last_name", "a.phone", "a.tags")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE audience_plan AS
        SELECT *,
          CASE
            WHEN base <> 'compare' THEN base
            WHEN {rules.full_resync} OR bulk OR len(cleared) > 0 OR len(untag) > 0 THEN 'update'
            ELSE 'rerecord'
          END AS verdict
        FROM (
          SELECT *, ({changed}) OR {tags_added} AS bulk, {tags_added} AS adds_tags, {cleared} AS cleared,
            {untag} AS untag
          FROM (
            SELECT *, {held_tags} AS held_tags
            FROM (
              SELECT a.*, s.status AS state_status, s.fields_hash AS old_hash, s.sent AS old_sent,
                u.contact_id AS unsubscribed_id, s.sent IS NULL AS legacy,
                s.sent IS NULL AND s.fields_hash = {legacy_hash} AS legacy_same,
                CASE
                  WHEN u.email IS NOT NULL AND s.status = '{UNSUBSCRIBED}' THEN 'resubscribe'
                  WHEN u.email IS NOT NULL THEN 'opted_out'
                  WHEN s.email IS NULL OR s.status <> '{SUBSCRIBED}' THEN 'add'
                  ELSE 'compare'
                END AS base
              FROM (SELECT * FROM audience WHERE source_row IN (SELECT source_row FROM plan_candidates)) a
              LEFT JOIN state s USING (email)
              LEFT JOIN list_unsubscribed u USING (email)
            ) a
          ) a
        ) a
        """
    )
    con.execute(
        "CREATE OR REPLACE TABLE resubscribe AS SELECT email, unsubscribed_id AS contact_id, fields_hash, old_sent,"
        " legacy OR bulk AS bulk FROM audience_plan WHERE verdict = 'resubscribe' ORDER BY source_row"
    )
    if rules.mode == MIRROR:
        con.execute(
            f"CREATE OR REPLACE TABLE leavers AS "
            f"SELECT s.email, s.fields_hash, s.sent, u.email IS NOT NULL AS opted_out FROM state s "
            f"LEFT JOIN list_unsubscribed u USING (email) "
            f"WHERE s.status = '{SUBSCRIBED}' AND s.email NOT IN (SELECT email FROM audience)"
        )
    else:
        # Upsert never removes anyone: no need to look for who left.
        con.execute(
            "CREATE OR REPLACE TABLE leavers (email VARCHAR, fields_hash VARCHAR, sent VARCHAR, opted_out BOOLEAN)"
        )
    values = ", ".join(["first_name", "last_name", "phone", "tags", *(value_column(i) for i in rules.custom_ids)])
    new_excluded = rules.excludes_automations(new_to_list=True, first_sync=first_sync)
    old_excluded = rules.excludes_automations(new_to_list=False, first_sync=first_sync)
    nulls = ", ".join(["NULL"] * (4 + len(rules.custom_ids)))
    con.execute(
        f"""
        CREATE OR REPLACE TABLE to_send AS
        SELECT email, '{SUBSCRIBE}' AS action, {values}, fields_hash, source_row, old_sent AS sent_before,
               len(cleared) > 0 OR len(untag) > 0 AS finish_later,
               CASE WHEN verdict = 'add' THEN {new_excluded} ELSE {old_excluded} END AS exclude_automations,
               verdict, CASE WHEN verdict = 'add' THEN len(tags) > 0 ELSE coalesce(adds_tags, false) END AS adds_tags,
               false AS via_contact_api
        FROM audience_plan
        WHERE verdict = 'add' OR (verdict IN ('update', 'resubscribe') AND (bulk OR legacy OR {rules.full_resync}))
        UNION ALL
        SELECT email, '{UNSUBSCRIBE}', {nulls}, fields_hash, NULL, sent, false, {old_excluded}, 'leave', false, false
        FROM leavers WHERE NOT opted_out
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE contact_writes AS
        SELECT email, {values}, fields_hash, source_row, old_sent AS sent_before, bulk, cleared, untag
        FROM audience_plan WHERE verdict = 'update' AND (len(cleared) > 0 OR len(untag) > 0)
        ORDER BY source_row
        """
    )
    sent_now = ", ".join(f"'{k}', {k}" for k in [*TEXT_FIELDS, *(value_column(i) for i in rules.custom_ids)])
    con.execute(
        f"""
        CREATE OR REPLACE TABLE rerecord AS
        SELECT email, fields_hash, '{SUBSCRIBED}' AS status,
               CASE WHEN legacy THEN json_object({sent_now}, 'tags', tags)::VARCHAR ELSE old_sent END AS sent
        FROM audience_plan WHERE verdict = 'rerecord'
        """
    )
    verdicts = dict(con.execute("SELECT verdict, count(*) FROM audience_plan GROUP BY verdict").fetchall())
    extra = con.execute(
        "SELECT count(*) FILTER (WHERE len(cleared) > 0), count(*) FILTER (WHERE len(untag) > 0) FROM contact_writes"
    ).fetchone()
    removals = con.execute("SELECT count(*) FROM leavers WHERE NOT opted_out").fetchone()[0]  # type: ignore[index]
    audience_rows = con.execute("SELECT count(*) FROM audience").fetchone()[0]  # type: ignore[index]
    return PlanCounts(
        adds=verdicts.get("add", 0),
        updates=verdicts.get("update", 0),
        removals=removals,
        resubscribes=verdicts.get("resubscribe", 0),
        opted_out=verdicts.get("opted_out", 0),
        unchanged=audience_rows - sum(verdicts.values()) + verdicts.get("rerecord", 0),
        clears=int(extra[0]) if extra else 0,
        untags=int(extra[1]) if extra else 0,
        rerecorded=verdicts.get("rerecord", 0),
    )


# For this many contact writes or fewer the reference recommends the contact API over bulk import (which
# allows only 20 single-contact imports a minute).
SMALL_CHANGES = 10


def route_small_changes(con: duckdb.DuckDBPyConnection, limit: int = SMALL_CHANGES) -> dict[str, int]:
    """When the bulk rows are few, mark those the contact API can write as it stands (`via_contact_api`): value
    updates of members and removals, and new members whose automations are to run. A new member whose
    automations are excluded, a re-subscribed one, and one gaining tags stay in bulk: `contactLists` cannot
    exclude automations, and tags take their own requests. Answers the contact-API requests, for the plan."""
    row = con.execute("SELECT count(*) FROM to_send").fetchone()
    if not row or not 0 < row[0] <= limit:
        return {}
    con.execute(
        """UPDATE to_send SET via_contact_api = true WHERE NOT adds_tags AND (
                verdict IN ('update', 'leave') OR (verdict = 'add' AND NOT exclude_automations))"""
    )
    by_verdict = con.execute("SELECT verdict, count(*) FROM to_send WHERE via_contact_api GROUP BY verdict")
    counts = dict(by_verdict.fetchall())
    updates, leaves, adds = counts.get("update", 0), counts.get("leave", 0), counts.get("add", 0)
    # An update is one contact/sync; an add, contact/sync then contactLists; a removal, a lookup, contactLists and
    # a read of the list status it left (when it took effect, for a later re-subscription).
    return {"contact_sync": updates + adds, "contactLists": adds + leaves, "contacts": 2 * leaves}


def _pair_keys(relation: str, *columns: str) -> str:
    # Only the keys travel into the anti-join: the state's `sent` and the audience's values stay on disk.
    keys = "hash(email, fields_hash) AS k1, hash(fields_hash || email) AS k2"
    return f"SELECT {', '.join(columns)}, {keys} FROM {relation}"


def _send_columns(custom_ids: Sequence[int]) -> str:
    custom = "".join(f", {value_column(i)}" for i in custom_ids)
    return (
        f"email, action, first_name, last_name, phone, tags{custom}, fields_hash, source_row, sent_before,"
        " finish_later, exclude_automations, verdict"
    )


def _row(record: tuple[Any, ...], custom_ids: Sequence[int]) -> Row:
    email, action, first_name, last_name, phone, tags, *rest = record
    n = len(custom_ids)
    fields = {fid: value for fid, value in zip(custom_ids, rest[:n], strict=True) if value is not None}
    fields_hash, source_row, sent_before, finish_later, exclude, verdict = rest[n:]
    return Row(
        email,
        action,
        first_name,
        last_name,
        phone,
        tags,
        fields_hash,
        source_row,
        fields or None,
        sent_before,
        bool(finish_later),
        bool(exclude),
        verdict,
    )


def head_row(record: tuple[Any, ...], rules: PlanRules) -> Row:
    """A row of prepare_head (the audience table's columns) as a first sync's add."""
    source_row, email, first_name, last_name, phone, tags, *rest = record
    n = len(rules.custom_ids)
    exclude = rules.excludes_automations(new_to_list=True, first_sync=True)
    standard = (email, SUBSCRIBE, first_name, last_name, phone, tags)
    return _row((*standard, *rest[:n], rest[n], source_row, None, False, exclude, "add"), rules.custom_ids)


def rows_to_send(
    con: duckdb.DuckDBPyConnection,
    custom_ids: Sequence[int] = (),
    after_row: int = 0,
    *,
    via_contact_api: bool = False,
    by_email: bool = False,
) -> Iterator[Row]:
    """Subscriptions in audience order, then unsubscriptions: streamed, never all in memory.

    `after_row` leaves out the subscriptions of source rows up to it (an early start sent those); the rows
    marked by route_small_changes are the contact API's (`via_contact_api`), the others bulk import's.
    """
    cur = con.cursor()
    cur.execute(
        f"SELECT {_send_columns(custom_ids)} FROM to_send WHERE (source_row IS NULL OR source_row > ?)"
        f" AND {'' if via_contact_api else 'NOT '}via_contact_api"
        f" ORDER BY {'email, action' if by_email else 'source_row NULLS LAST, email'}",
        [after_row],
    )
    while chunk := cur.fetchmany(_FETCH):
        for record in chunk:
            yield _row(record, custom_ids)
    cur.close()


# Payload bytes beyond the values themselves: keys, quotes, separators, the list id and some slack.
_ROW_OVERHEAD_BYTES = 160
_TAG_OVERHEAD_BYTES = 4
_FIELD_OVERHEAD_BYTES = 40  # {"id":123456,"value":""}, and slack
# json.dumps escapes a byte as at most 6 (\u00XX); other characters go out as their own UTF-8 bytes.
_ESCAPE_FACTOR = 6


def count_batches(con: duckdb.DuckDBPyConnection, list_id: int, batch_size: int, custom_ids: Sequence[int] = ()) -> int:
    """Exactly the bulk requests the upload will make (the byte limit can split batches early).

    Encoding every row as the uploader does costs minutes at 10 M rows, so SQL first bounds each row's
    payload from above; when even a full batch of rows at the largest bound fits in one request, the
    byte limit cannot split anything and the count is plain arithmetic. Otherwise the rows are encoded.
    """
    size = min(batch_size, BULK_MAX_CONTACTS)
    values = " + ".join(f"strlen(coalesce({c}, ''))" for c in ("email", "first_name", "last_name", "phone"))
    values += "".join(f" + coalesce(strlen({value_column(i)}) + {_FIELD_OVERHEAD_BYTES}, 0)" for i in custom_ids)
    tag_bytes = "coalesce(list_sum(list_transform(tags, lambda t: strlen(t) + 4)), 0)"
    row = con.execute(
        f"SELECT count(*), max({_ESCAPE_FACTOR} * ({values} + {tag_bytes})) FROM to_send WHERE NOT via_contact_api"
    ).fetchone()
    assert row is not None
    rows, largest = row
    if not rows:
        return 0
    bound = largest + _ROW_OVERHEAD_BYTES + len(str(list_id))
    if bound * size + ENVELOPE_BYTES <= BULK_MAX_BYTES:
        return math.ceil(rows / size)
    rows_iter = rows_to_send(con, custom_ids)
    return sum(1 for item in make_batches(rows_iter, list_id, batch_size) if isinstance(item, Batch))


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
