"""upload-contacts' engine for one list, the one object its task drives: resume → plan → send.

`resume` confirms the batches an earlier run had queued; `plan` prepares what get-details left to do and
decides, in DuckDB, every write against the sync state and the list's opt-outs; `send` writes them at the
account's ceiling and checkpoints each confirmed batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ac_sync_engine.audience import audience_pending, finish_audience
from ac_sync_engine.upload.early import EarlyFeed, starts_early
from ac_sync_engine.upload.ledger import StateLedger, resumed_batches
from ac_sync_engine.upload.planner import (
    UPSERT,
    PlanCounts,
    build_plan,
    count_batches,
    describe,
    load_unsubscribed,
    parse_max_removals,
    rows_to_send,
)
from ac_sync_engine.upload.rows import make_batches
from ac_sync_engine.upload.state import OPTED_OUT, SUBSCRIBED, SyncState, destination_key
from ac_sync_engine.upload.uploader import Uploader, UploadResult
from activecampaign.client import ACClient, as_int

ProgressFn = Callable[[int, int, int], Awaitable[None]]  # (contacts done, contacts to write, batches confirmed)


@dataclass(frozen=True)
class SyncOptions:
    batch_size: int = 250
    full_resync: bool = False
    mode: str = UPSERT
    max_removals: str | None = None  # N or P% of the contacts this tool keeps in the list (default 10 %)


@dataclass
class Plan:
    counts: PlanCounts
    requests: dict[str, int]
    max_removals: int
    mode: str

    @property
    def total(self) -> int:
        """Contacts the run writes."""
        return self.counts.writes + self.counts.resubscribes

    def as_dict(self) -> dict[str, Any]:
        return {**describe(self.counts, self.requests), "max_removals": self.max_removals, "mode": self.mode}


@dataclass
class Sent:
    result: UploadResult
    resubscribed: int
    plan: Plan
    extra: dict[str, Any] = field(default_factory=dict)


class ListSync:
    """One list's upload. `list_id` None (a dry run only): the list does not exist yet.

    `list_created`: this run created the list, so while nothing has been sent to it nobody can have
    unsubscribed from it, and reading its unsubscribed contacts (a request, up to a second at the rate
    limit before the first import) is skipped.
    """

    def __init__(
        self,
        client: ACClient,
        db_path: str,
        list_id: int | None,
        state_location: str,
        options: SyncOptions,
        *,
        list_created: bool = False,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.client = client
        self.db_path = db_path
        self.list_id = list_id
        self.options = options
        self.list_created = list_created
        self.log = log or logging.getLogger(__name__)
        self.con = duckdb.connect(db_path)
        self._writer = self.con.cursor()
        self.state = SyncState(state_location, destination_key(client.base_url, list_id)) if list_id else None
        self.uploader = (
            Uploader(client, list_id, ledger=StateLedger(self.state, self._writer)) if self.state and list_id else None
        )
        self._feed: EarlyFeed | None = None
        self._unsubscribed: list[tuple[str, int]] = []

    def close(self) -> None:
        self._writer.close()
        self.con.close()

    async def resume(self) -> int:
        """Confirm (by polling) the batches an earlier run had queued; answers how many there were."""
        if self.uploader is None or self.state is None:
            return 0
        resumed = resumed_batches(self.state)
        if resumed:
            self.log.info("Confirming %d batches an earlier run queued", len(resumed))
            await self.uploader.resume(resumed)
        return len(resumed)

    async def plan(self, *, dry_run: bool = False) -> Plan:
        # Nothing recorded for this destination yet: no sync of this list has ever sent anything.
        first_sync = self.state is not None and await asyncio.to_thread(self.state.is_empty)
        if self.list_id is not None and not (self.list_created and first_sync):
            self._unsubscribed = [
                (str(c["email"]), as_int(c["id"])) async for c in self.client.list_contacts(self.list_id, status=2)
            ]
        load_unsubscribed(self.con, self._unsubscribed)
        source = audience_pending(self.db_path)
        opts = self.options
        if source is not None and not dry_run and starts_early(self.db_path, first_sync):
            # A first sync of a large audience that get-details only counted: its first rows go out while the
            # rest is prepared, and the plan is known once it is (until then: every counted contact an add).
            self._feed = EarlyFeed(
                self.con,
                self.db_path,
                source,
                self.list_id or 0,
                opts.batch_size,
                mode=opts.mode,
                opted_out=dict(self._unsubscribed),
            )
            await asyncio.to_thread(self._feed.start)
            counts = self._feed.provisional_counts()
            limit = parse_max_removals(opts.max_removals, 0)
            return Plan(counts, {"bulk_import": 0, "contactLists": 0}, limit, opts.mode)
        # Prepares what get-details only counted (nothing if it prepared everything).
        await asyncio.to_thread(finish_audience, self.db_path)
        counts = build_plan(self.con, self.state, mode=opts.mode, full_resync=opts.full_resync)
        kept = self.state.count(self.con) if self.state is not None else 0
        batches = count_batches(self.con, self.list_id or 0, opts.batch_size)
        plan = Plan(
            counts,
            {"bulk_import": batches, "contactLists": counts.resubscribes},
            parse_max_removals(opts.max_removals, kept),
            opts.mode,
        )
        self.log.info(
            "Plan: %d adds, %d updates, %d removals, %d re-subscribes, %d opted-out skips, %d unchanged",
            counts.adds,
            counts.updates,
            counts.removals,
            counts.resubscribes,
            counts.opted_out,
            counts.unchanged,
        )
        return plan

    async def send(self, plan: Plan, on_progress: ProgressFn | None = None) -> Sent:
        """Write the plan; each confirmed batch is checkpointed into the sync state as it is confirmed."""
        assert self.uploader is not None and self.state is not None and self.list_id is not None
        state, uploader = self.state, self.uploader
        total = plan.total
        resubscribed = 0

        async def progressed(result: UploadResult) -> None:
            if on_progress is not None:
                done = resubscribed + result.subscribed + result.unsubscribed + result.rejected
                await on_progress(done, total, result.batches_confirmed)

        uploader.on_progress = progressed
        if self._feed is None:
            resubscribed = await self._resubscribe()
            result = await uploader.run(make_batches(rows_to_send(self.con), self.list_id, self.options.batch_size))
        else:
            result = await uploader.run(self._feed.items())
            assert self._feed.counts is not None
            plan = Plan(
                self._feed.counts, {"bulk_import": self._feed.batches, "contactLists": 0}, plan.max_removals, plan.mode
            )
            self.log.info("Plan, now known: %d adds, %d opted-out skips", plan.counts.adds, plan.counts.opted_out)
        # Leavers who unsubscribed themselves: remembered as opted out, so no later run re-subscribes them.
        opted_leavers = self.con.execute("SELECT email, fields_hash FROM leavers WHERE opted_out").fetchall()
        state.checkpoint((email, fields_hash, OPTED_OUT) for email, fields_hash in opted_leavers)
        state.compact(self.con)
        self.log.info(
            "Confirmed %d batches: %d subscribed, %d unsubscribed, %d re-subscribed, %d rejected, %d batches re-sent",
            result.batches_confirmed,
            result.subscribed,
            result.unsubscribed,
            resubscribed,
            result.rejected,
            result.batches_resent,
        )
        return Sent(result, resubscribed, plan)

    async def _resubscribe(self) -> int:
        """Contacts this tool unsubscribed and the audience wants back: bulk import would leave them out."""
        assert self.state is not None and self.list_id is not None
        rows = self.con.execute("SELECT email, contact_id, fields_hash FROM resubscribe").fetchall()
        for email, contact_id, fields_hash in rows:
            await self.client.set_list_status(self.list_id, int(contact_id), 1)
            self.state.checkpoint([(email, fields_hash, SUBSCRIBED)])
        return len(rows)
