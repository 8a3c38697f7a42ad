"""Step 5, upload-contacts: bulk import what the list does not hold yet, batch by confirmed batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from ac_sync.progress import Progress, publish
from ac_sync.state import SUBSCRIBED, UNSUBSCRIBED, SyncState, destination_key
from ac_sync.upload import SUBSCRIBE, Batch, Rejection, Row, Uploader, UploadResult, make_batches
from activecampaign.client import ACClient
from activecampaign.errors import ACError
from resolutions.classify import typed_failure
from tasks.caching import run_scoped

_FETCH = 2_000


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[Row]:
    cur = con.cursor()
    cur.execute(sql)
    while chunk := cur.fetchmany(_FETCH):
        for email, first_name, last_name, phone, tags, fields_hash, source_row in chunk:
            yield Row(email, "subscribe", first_name, last_name, phone, tags, fields_hash, source_row)


def plan_changes(con: duckdb.DuckDBPyConnection, state: SyncState, *, full_resync: bool) -> int:
    """Build `to_send`: audience rows the list does not hold as last confirmed. Answers its size."""
    state.load_into(con, "state")
    changed = (
        "TRUE"
        if full_resync
        else ("s.email IS NULL OR s.status <> 'subscribed' OR s.fields_hash IS DISTINCT FROM a.fields_hash")
    )
    con.execute(
        "CREATE OR REPLACE TABLE to_send AS SELECT a.email, a.first_name, a.last_name, a.phone, a.tags, "
        f"a.fields_hash, a.source_row FROM audience a LEFT JOIN state s USING (email) WHERE {changed}"
    )
    return con.execute("SELECT count(*) FROM to_send").fetchone()[0]  # type: ignore[index]


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


@task(
    name="upload-contacts",
    cache_key_fn=run_scoped("upload-contacts", "db_path", "list_id", "full_resync"),
    persist_result=True,
)
async def upload_contacts(
    client: ACClient,
    db_path: str,
    list_id: int,
    state_location: str,
    batch_size: int = 250,
    full_resync: bool = False,
) -> dict[str, Any]:
    log = get_run_logger()
    con = duckdb.connect(db_path)
    state = SyncState(state_location, destination_key(client.base_url, list_id))
    writer = con.cursor()
    total = done = 0
    artifact_id = await create_progress_artifact(0.0, description="Uploading contacts")

    async def progressed(result: UploadResult) -> None:
        nonlocal done
        done = result.subscribed + result.unsubscribed + result.rejected
        publish(Progress(done, total, result.batches_confirmed))
        pct = 100.0 * done / total if total else 100.0
        await update_progress_artifact(artifact_id, min(pct, 100.0), description=f"{done} of {total} contacts")

    uploader = Uploader(client, list_id, ledger=StateLedger(state, writer), on_progress=progressed)
    try:
        if resumed := resumed_batches(state):
            log.info("Confirming %d batches an earlier run queued", len(resumed))
            await uploader.resume(resumed)
        total = plan_changes(con, state, full_resync=full_resync)
        log.info("%d contacts to write to list %d", total, list_id)
        rows = _rows(con, "SELECT * FROM to_send ORDER BY source_row")
        result = await uploader.run(make_batches(rows, list_id, batch_size))
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
        "Confirmed %d batches: %d subscribed, %d rejected, %d batches re-sent",
        result.batches_confirmed,
        result.subscribed,
        result.rejected,
        result.batches_resent,
    )
    return {
        "to_send": total,
        "subscribed": result.subscribed,
        "unsubscribed": result.unsubscribed,
        "rejected": result.rejected,
        "batches": result.batches_confirmed,
        "batches_resent": result.batches_resent,
        "format_rejections": result.format_rejections,
        "polls": result.polls,
        "confirmed_at": result.confirmed_at,
        "db_path": str(Path(db_path)),
    }
