"""A damaged sync state rebuilt from the list's membership as ActiveCampaign has it.

What the list holds is known (its active and unsubscribed contacts); what values were sent to them is not. So
every active member is recorded as PARTIAL (the next run compares and sends their values again, the cost of a
first sync's values but not of a first sync's decisions), and every unsubscribed one as opted out: without the
ledger nobody can tell who this tool unsubscribed, so nobody is re-subscribed. The damaged state is set aside
(`<list folder>.damaged-<run>`), not deleted; the list's record in meta.json is kept when it can be read.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import duckdb

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.errors import StateError
from ac_sync.engine.sql import sql_literal
from ac_sync.engine.upload.rows import PARTIAL
from ac_sync.engine.upload.state import DELTA_COLUMNS, OPTED_OUT, SUBSCRIBED, SyncState

ACTIVE, UNSUBSCRIBED = 1, 2  # contactList statuses


async def rebuild_state(client: ACClient, list_id: int, state: SyncState) -> int:
    """Replace `state` by one written from list `list_id`'s membership; answers the rows written.

    Active members (`client.list_contacts(list_id, status=1)`) become `(email, "partial", "subscribed", None)`,
    unsubscribed ones (status 2) `(email, None, "opted_out", None)`. The list is read in full before anything
    is moved, so a failure while reading leaves the state as it was; then the old state is set aside
    (`SyncState.set_aside("damaged")`), the rows are written and compacted into a fresh snapshot. Hold the
    list's ListLock around it.
    """
    with tempfile.TemporaryDirectory(prefix="ac-sync-rebuild-") as tmp:
        written = 0
        files = []
        for status, fields_hash, kept_as in ((ACTIVE, PARTIAL, SUBSCRIBED), (UNSUBSCRIBED, None, OPTED_OUT)):
            path = Path(tmp) / f"status-{status}.jsonl"
            with path.open("w", encoding="utf-8") as fh:
                async for contact in client.list_contacts(list_id, status=status):
                    email = contact.email.strip().lower()
                    row = {"email": email, "fields_hash": fields_hash, "status": kept_as, "sent": None}
                    fh.write(json.dumps(row) + "\n")
                    written += 1
            files.append(str(path))
        _replace(state, files)
    return written


def _replace(state: SyncState, files: list[str]) -> None:
    try:
        meta = state.read_meta()
    except StateError:
        meta = {}  # the damaged file itself: the next run's ensure-list records the list again
    meta.pop("snapshot_rows", None)
    state.set_aside("damaged")
    con = duckdb.connect()
    try:
        # Unsubscribed last: a contact listed under both (it changed while the list was read) is kept opted out.
        for local in files:
            state.checkpoint_query(
                con,
                f"SELECT email, fields_hash, status, sent FROM read_json({sql_literal(local)},"
                f" columns={DELTA_COLUMNS}, format='newline_delimited')",
            )
        if meta:
            state.write_meta(meta)
        state.compact(con, force=True)
    finally:
        con.close()
