"""Step 5, upload-contacts: write what changed — bulk subscribe/unsubscribe, consent-safe re-subscribes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import duckdb
from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from ac_sync.audience import audience_pending, finish_audience
from ac_sync.plan import (
    MIRROR,
    EarlyFeed,
    build_plan,
    count_batches,
    describe,
    load_unsubscribed,
    parse_max_removals,
    rows_to_send,
    starts_early,
)
from ac_sync.progress import Progress, publish
from ac_sync.state import OPTED_OUT, SUBSCRIBED, UNSUBSCRIBED, SyncState, destination_key
from ac_sync.upload import SUBSCRIBE, Batch, Rejection, Row, Uploader, UploadResult, make_batches
from activecampaign.client import ACClient, as_int
from activecampaign.errors import ACError
from resolutions.classify import typed_failure
from resolutions.failures import TooManyRemovals
from tasks.caching import run_scoped


class StateLedger:
    """The uploader's ledger: the sync state for batches, the audience database for rejected rows."""

    def __init__(self, state: SyncState, writer: duckdb.DuckDBPyConnection) -> None:
        self.state = state
        self.writer = writer

    def submitted(self, batch: Batch) -> None:
        rows = [
            {"email": r.email, "fields_hash": r.fields_hash, "action": r.action, "source_row": r.source_row}
            for r in batch.rows
        ]
        self.state.add_pending(str(batch.batch_id), rows)

    def confirmed(self, batch: Batch, rows: list[Row]) -> None:
        # Checkpoint before forgetting the batchId: a crash in between only makes the next run poll it again.
        self.state.checkpoint(
            (r.email, r.fields_hash, SUBSCRIBED if r.action == SUBSCRIBE else UNSUBSCRIBED) for r in rows
        )
        self.state.remove_pending(str(batch.batch_id))

    def dropped(self, batch: Batch) -> None:
        self.state.remove_pending(str(batch.batch_id))

    def rejected(self, items: list[Rejection]) -> None:
        self.writer.executemany(
            "INSERT INTO rejected (source_row, email, reason) VALUES (?, ?, ?)",
            [(r.source_row, r.email, r.reason) for r in items],
        )


def resumed_batches(state: SyncState) -> list[Batch]:
    """Batches an earlier run had queued but not confirmed (it was killed, or stopped on a failure)."""
    return [
        Batch(
            -i,
            [Row(r["email"], r["action"], fields_hash=r["fields_hash"], source_row=r["source_row"]) for r in rows],
            [],
            attempts=1,
            batch_id=batch_id,
        )
        for i, (batch_id, rows) in enumerate(state.pending().items(), start=1)
    ]


async def _resubscribe(client: ACClient, con: duckdb.DuckDBPyConnection, state: SyncState, list_id: int) -> int:
    """Contacts this tool unsubscribed and the audience wants back: bulk import would leave them out."""
    rows = con.execute("SELECT email, contact_id, fields_hash FROM resubscribe").fetchall()
    for email, contact_id, fields_hash in rows:
        await client.set_list_status(list_id, int(contact_id), 1)
        state.checkpoint([(email, fields_hash, SUBSCRIBED)])
    return len(rows)


@task(
    name="upload-contacts",
    cache_key_fn=run_scoped(
        "upload-contacts", "db_path", "list_id", "full_resync", "mode", "approve_removals", "dry_run"
    ),
    persist_result=True,
)
async def upload_contacts(
    client: ACClient,
    db_path: str,
    list_id: int | None,
    state_location: str,
    batch_size: int = 250,
    full_resync: bool = False,
    mode: str = "upsert",
    max_removals: str | None = None,
    approve_removals: bool = False,
    dry_run: bool = False,
    list_created: bool = False,
) -> dict[str, Any]:
    """With `dry_run`, only read: answer the plan. `list_id` None (dry run only): the list does not exist yet.

    `list_created`: this run created the list, so while nothing has been sent to it, nobody can have
    unsubscribed from it, and reading its unsubscribed contacts (a request, up to a second at the
    rate limit before the first import) is skipped.
    """
    log = get_run_logger()
    con = duckdb.connect(db_path)
    state = SyncState(state_location, destination_key(client.base_url, list_id)) if list_id is not None else None
    writer = con.cursor()
    total = done = 0
    uploader: Uploader | None = None
    try:
        if state is not None and not dry_run:
            uploader = Uploader(client, list_id or 0, ledger=StateLedger(state, writer))
            if resumed := resumed_batches(state):
                log.info("Confirming %d batches an earlier run queued", len(resumed))
                await uploader.resume(resumed)
        # Nothing recorded for this destination yet: no sync of this list has ever sent anything.
        first_sync = state is not None and await asyncio.to_thread(state.is_empty)
        unsubscribed = (
            [(str(c["email"]), as_int(c["id"])) async for c in client.list_contacts(list_id, status=2)]
            if list_id is not None and not (list_created and first_sync)
            else []
        )
        load_unsubscribed(con, unsubscribed)
        feed: EarlyFeed | None = None
        source = audience_pending(db_path)
        if source is not None and not dry_run and starts_early(db_path, first_sync):
            # A first sync of a large audience that get-details only counted: its first rows go out while the
            # rest is prepared, and the plan is known once it is (until then: every counted contact an add).
            feed = EarlyFeed(con, db_path, source, list_id or 0, batch_size, mode=mode, opted_out=dict(unsubscribed))
            await asyncio.to_thread(feed.start)
            counts = feed.provisional_counts()
        else:
            # Prepares what get-details only counted (nothing if it prepared everything).
            await asyncio.to_thread(finish_audience, db_path)
            counts = build_plan(con, state, mode=mode, full_resync=full_resync)
        kept = state.count(con) if state is not None and feed is None else 0
        limit = parse_max_removals(max_removals, kept)
        batches = count_batches(con, list_id or 0, batch_size) if feed is None else 0
        plan = describe(counts, {"bulk_import": batches, "contactLists": counts.resubscribes})
        plan.update(max_removals=limit, mode=mode)
        log.info(
            "Plan: %d adds, %d updates, %d removals, %d re-subscribes, %d opted-out skips, %d unchanged",
            counts.adds,
            counts.updates,
            counts.removals,
            counts.resubscribes,
            counts.opted_out,
            counts.unchanged,
        )
        if dry_run:
            return {"plan": plan}
        assert state is not None and list_id is not None and uploader is not None
        if mode == MIRROR and counts.removals > limit and not approve_removals:
            raise TooManyRemovals(
                f"the sync would unsubscribe {counts.removals} contacts, over the limit of {limit}",
                step="upload-contacts",
                list_id=list_id,
                removals=counts.removals,
                limit=limit,
            )
        total = counts.writes + counts.resubscribes
        artifact_id = await create_progress_artifact(0.0, description=f"Writing {total} contacts")

        last_update = 0.0

        async def progressed(result: UploadResult) -> None:
            nonlocal done, last_update
            done = counts.resubscribes + result.subscribed + result.unsubscribed + result.rejected
            publish(Progress(done, total, result.batches_confirmed))
            # The artifact is a Prefect API call: once a second is plenty for the UI, and it keeps the
            # confirmation loop fast.
            if time.monotonic() - last_update >= 1.0:
                last_update = time.monotonic()
                pct = 100.0 * done / total if total else 100.0
                await update_progress_artifact(artifact_id, min(pct, 100.0), description=f"{done} of {total} contacts")

        uploader.on_progress = progressed
        if feed is None:
            resubscribed = await _resubscribe(client, con, state, list_id)
            result = await uploader.run(make_batches(rows_to_send(con), list_id, batch_size))
        else:
            resubscribed = 0
            result = await uploader.run(feed.items())
            assert feed.counts is not None
            counts = feed.counts
            total = counts.writes
            plan = describe(counts, {"bulk_import": feed.batches, "contactLists": 0})
            plan.update(max_removals=limit, mode=mode)
            log.info("Plan, now known: %d adds, %d opted-out skips", counts.adds, counts.opted_out)
        # Leavers who unsubscribed themselves: remembered as opted out, so no later run re-subscribes them.
        opted_leavers = con.execute("SELECT email, fields_hash FROM leavers WHERE opted_out").fetchall()
        state.checkpoint((email, fields_hash, OPTED_OUT) for email, fields_hash in opted_leavers)
        state.compact(con)
    except ACError as exc:
        failure = await typed_failure(exc, step="upload-contacts", client=client, list_id=list_id)
        raise (failure or exc) from None
    finally:
        writer.close()
        con.close()
    await update_progress_artifact(artifact_id, 100.0, description=f"{total} of {total} contacts")
    publish(Progress(total, total, result.batches_confirmed))
    log.info(
        "Confirmed %d batches: %d subscribed, %d unsubscribed, %d re-subscribed, %d rejected, %d batches re-sent",
        result.batches_confirmed,
        result.subscribed,
        result.unsubscribed,
        resubscribed,
        result.rejected,
        result.batches_resent,
    )
    return {
        "plan": plan,
        "subscribed": result.subscribed,
        "unsubscribed": result.unsubscribed,
        "resubscribed": resubscribed,
        "opted_out": counts.opted_out,
        "rejected": result.rejected,
        "batches": result.batches_confirmed,
        "batches_resent": result.batches_resent,
        "format_rejections": result.format_rejections,
        "polls": result.polls,
        "confirmed_at": result.confirmed_at,
    }
