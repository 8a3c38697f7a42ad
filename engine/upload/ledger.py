"""The uploader's ledger: batches go into the sync state, refused contacts into the audience's rejected table."""

from __future__ import annotations

import duckdb

from ac_sync.engine.upload.rows import SUBSCRIBE, Batch, Rejection, Row
from ac_sync.engine.upload.state import SUBSCRIBED, UNSUBSCRIBED, SyncState


class StateLedger:
    def __init__(self, state: SyncState, writer: duckdb.DuckDBPyConnection) -> None:
        self.state = state
        self.writer = writer

    def submitted(self, batch: Batch) -> None:
        # Everything the checkpoint needs, so that a later run can confirm the batch without the audience.
        rows = [
            {
                "email": r.email,
                "fields_hash": r.state_hash,
                "action": r.action,
                "source_row": r.source_row,
                "sent": r.sent_after(),
                "verdict": r.verdict,
            }
            for r in batch.rows
        ]
        self.state.add_pending(str(batch.batch_id), rows)

    def confirmed(self, batch: Batch, rows: list[Row]) -> None:
        # Checkpoint before forgetting the batchId: a crash in between only makes the next run poll it again.
        self.state.checkpoint(
            (
                r.email,
                r.state_hash,
                SUBSCRIBED if r.action == SUBSCRIBE else UNSUBSCRIBED,
                r.sent_after(removed_at=batch.confirmed_at),
            )
            for r in rows
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
            [
                # A resumed row carries no values: what it sent is recorded, and is what it checkpoints.
                Row(
                    r["email"],
                    r["action"],
                    fields_hash=r["fields_hash"],
                    source_row=r["source_row"],
                    sent_before=r.get("sent"),
                    # A record written before verdicts were: an add, for the counts.
                    verdict=r.get("verdict") or "add",
                )
                for r in rows
            ],
            [],
            attempts=1,
            batch_id=batch_id,
        )
        for i, (batch_id, rows) in enumerate(state.pending().items(), start=1)
    ]
