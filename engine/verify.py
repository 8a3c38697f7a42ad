"""`verify`: the list's membership as ActiveCampaign has it, against what the sync state says was sent.

The sync state is a record, not the truth: contacts deleted, bounced or taken off a list behind the tool's back
are invisible to it (a tool that trusts its own record marks them synced for good). Verify reads the list's
members (100 a request) and compares: `missing` are contacts the tool subscribed that are not active on the
list (deleted, bounced, removed), leaving out those who unsubscribed (they opted out: never put back);
`extra` are active members the tool did not subscribe. `--repair` sends the missing ones again, with the values
the state says were sent — bulk import never re-subscribes anyone who unsubscribed; bounced ones only with
`--repair-bounced` — and reads the list again.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.results import VerifySummary
from ac_sync.engine.upload.ledger import StateLedger
from ac_sync.engine.upload.rows import STANDARD_VALUES, Row, held_values, make_batches
from ac_sync.engine.upload.state import SUBSCRIBED, SyncState
from ac_sync.engine.upload.uploader import Uploader

ACTIVE, UNSUBSCRIBED, BOUNCED = 1, 2, 3
PAGE = 100
SHOWN = 20  # addresses listed per kind in a report


@dataclass
class VerifyReport:
    list_id: int
    members: int = 0  # active on the list
    expected: int = 0  # subscribed by this tool, as the state says
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    opted_out: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)  # of the missing: bounced on the list
    repaired: int = 0
    sampled: int | None = None  # checked contacts, with --sample

    @property
    def matches(self) -> bool:
        return not self.missing

    def summary(self) -> VerifySummary:
        return VerifySummary(
            status="completed" if self.matches else "mismatch",
            list_id=self.list_id,
            members=self.members,
            expected=self.expected,
            missing=len(self.missing),
            extra=len(self.extra),
            opted_out=len(self.opted_out),
            bounced=len(self.bounced),
            repaired=self.repaired,
            sampled=self.sampled,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "completed" if self.matches else "mismatch",
            "list_id": self.list_id,
            "members": self.members,
            "expected": self.expected,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "opted_out": len(self.opted_out),
            "bounced": len(self.bounced),
            "repaired": self.repaired,
            "sampled": self.sampled,
            "examples": {"missing": self.missing[:SHOWN], "extra": self.extra[:SHOWN]},
        }


def verify_cost(members: int, unsubscribed: int = 0, *, requests_per_second: int = 5) -> dict[str, float]:
    """Requests and seconds at the rate limit a full verify takes (100 contacts a request)."""
    requests = math.ceil(members / PAGE) + math.ceil(unsubscribed / PAGE) + 2
    return {"requests": requests, "seconds_at_limits": round(requests / requests_per_second, 1)}


def _expected(state: SyncState) -> dict[str, tuple[str | None, str | None]]:
    """email -> (fields_hash, sent) of every contact the state says this tool keeps subscribed."""
    con = duckdb.connect()
    try:
        state.load_into(con, "state")
        rows = con.execute(f"SELECT email, fields_hash, sent FROM state WHERE status = '{SUBSCRIBED}'").fetchall()
    finally:
        con.close()
    return {email: (digest, sent) for email, digest, sent in rows}


# (contacts read so far, the contacts the state expects): a long verify is never silent
ReadProgress = Callable[[int, int], Awaitable[None]]


async def _emails(
    client: ACClient, list_id: int, status: int, progress: ReadProgress | None, read: list[int], expected: int
) -> set[str]:
    out: set[str] = set()
    async for contact in client.list_contacts(list_id, status=status):
        out.add(contact.email.lower())
        read[0] += 1
        if progress is not None and read[0] % PAGE == 0:
            await progress(read[0], expected)
    return out


async def verify_list(
    client: ACClient,
    list_id: int,
    state: SyncState,
    *,
    sample: int | None = None,
    seed: int | None = None,
    progress: ReadProgress | None = None,
) -> VerifyReport:
    """Compare the list with the state; with `sample`, only that many random contacts, two requests each.
    `progress` hears how many members were read, page by page."""
    expected = await asyncio.to_thread(_expected, state)
    report = VerifyReport(list_id, expected=len(expected))
    if sample is not None:
        return await _verify_sample(client, list_id, expected, report, sample, seed)
    read = [0]
    active = await _emails(client, list_id, ACTIVE, progress, read, len(expected))
    unsubscribed = await _emails(client, list_id, UNSUBSCRIBED, progress, read, len(expected))
    bounced = await _emails(client, list_id, BOUNCED, progress, read, len(expected))
    if progress is not None:
        await progress(read[0], len(expected))
    report.members = len(active)
    report.opted_out = sorted(set(expected) & unsubscribed)
    report.missing = sorted(set(expected) - active - unsubscribed)
    report.bounced = sorted(set(report.missing) & bounced)
    report.extra = sorted(active - set(expected))
    return report


VERIFY_COUNTER = "runs_since_verify"


async def verify_due(
    client: ACClient, list_id: int, state: SyncState, every: int, progress: ReadProgress | None = None
) -> VerifyReport | None:
    """Count this run in the list's record; on every `every`-th run, verify the list in full (a deployment's
    guard against drift: contacts deleted, bounced or removed behind the tool's back). Hold the list's lock."""
    if every <= 0:
        return None
    meta = state.read_meta()
    runs = int(meta.get(VERIFY_COUNTER, 0)) + 1
    if runs < every:
        state.write_meta({**meta, VERIFY_COUNTER: runs})
        return None
    report = await verify_list(client, list_id, state, progress=progress)
    state.write_meta({**state.read_meta(), VERIFY_COUNTER: 0})
    return report


async def _verify_sample(
    client: ACClient,
    list_id: int,
    expected: dict[str, tuple[str | None, str | None]],
    report: VerifyReport,
    sample: int,
    seed: int | None,
) -> VerifyReport:
    chosen = random.Random(seed).sample(sorted(expected), min(sample, len(expected)))
    report.sampled = len(chosen)
    for email in chosen:
        contact = await client.contact_by_email(email)
        if contact is None:
            report.missing.append(email)
            continue
        statuses = {m.list_id: m.status for m in await client.contact_lists(contact.id)}
        status = statuses.get(list_id)
        if status == UNSUBSCRIBED:
            report.opted_out.append(email)
        elif status != ACTIVE:
            report.missing.append(email)
            if status == BOUNCED:
                report.bounced.append(email)
    return report


def repair_rows(report: VerifyReport, state: SyncState, *, bounced: bool = False) -> list[Row]:
    """The missing contacts as rows to send again, with the values the state says were sent; the bounced ones
    only with `bounced` (a bulk import makes a bounced contact active again: the sender's reputation is the
    operator's choice)."""
    expected = _expected(state)
    left_out = set() if bounced else set(report.bounced)
    rows = []
    for email in report.missing:
        if email in left_out:
            continue
        digest, sent = expected[email]
        held = held_values(sent)
        fields = {int(k[1:]): str(v) for k, v in held.items() if k.startswith("f") and k[1:].isdigit() and v}
        rows.append(
            Row(
                email,
                **{key: held.get(key) for key in STANDARD_VALUES},
                tags=list(held.get("tags") or []) or None,
                fields_hash=digest,
                fields=fields or None,
                sent_before=sent,
            )
        )
    return rows


async def repair(
    client: ACClient, list_id: int, state: SyncState, report: VerifyReport, *, bounced: bool = False
) -> int:
    """Send the missing contacts again (bulk import: nobody who unsubscribed is re-subscribed; the bounced only
    with `bounced`); answers how many the API confirmed."""
    rows = await asyncio.to_thread(repair_rows, report, state, bounced=bounced)
    if not rows:
        return 0
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE rejected (source_row BIGINT, email VARCHAR, reason VARCHAR)")
        uploader = Uploader(client, list_id, ledger=StateLedger(state, con.cursor()))
        result = await uploader.run(make_batches(rows, list_id))
    finally:
        con.close()
    return result.subscribed
