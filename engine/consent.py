"""The consent record of a list, from its sync state, for the operator only: whom this tool removed and when,
who opted out by themselves and how that was established, whom it re-subscribed and on what evidence, and
whether anyone who opted out is subscribed by it (never, unless something is wrong)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from ac_sync.engine.upload.rows import OPTED_OUT_NOTE, REMOVED_AT, RESUBSCRIBED_NOTE, held_values
from ac_sync.engine.upload.state import OPTED_OUT, SUBSCRIBED, UNSUBSCRIBED, SyncState
from ac_sync.engine.upload.stores import open_location

EARLIER = "recorded as opted out by an earlier version of this tool (how is not recorded)"


@dataclass
class ListConsent:
    list_name: str
    state: str  # the list's state folder
    removed: list[dict[str, Any]] = field(default_factory=list)  # email, removed_at
    opted_out: list[dict[str, Any]] = field(default_factory=list)  # email, how, changed_at, removed_at
    resubscribed: list[dict[str, Any]] = field(default_factory=list)  # email, removed_at, changed_at
    # Re-subscribed by this tool although the record says they opted out: the promise broken, if ever non-empty.
    opted_out_but_subscribed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_states(location: str, list_name: str) -> list[str]:
    """The destinations (account/list-<id>) under `location` whose record names `list_name`."""
    fs, root = open_location(location)
    found = []
    for meta in sorted(fs.glob(f"{root.rstrip('/')}/*/list-*/meta.json")):
        try:
            with fs.open(meta, "rb") as fh:
                recorded = json.loads(fh.read())
        except (OSError, ValueError):
            continue
        if isinstance(recorded, dict) and recorded.get("list_name") == list_name:
            found.append(meta.rsplit("/", 3)[-3] + "/" + meta.rsplit("/", 3)[-2])
    return found


def consent_record(location: str, list_name: str) -> list[ListConsent]:
    """The consent record of each state of `list_name` under `location` (one per account that has the list)."""
    records = []
    for destination in list_states(location, list_name):
        state = SyncState(location, destination)
        con = duckdb.connect()
        try:
            state.load_into(con)
            rows = con.execute("SELECT email, status, sent FROM state ORDER BY email").fetchall()
        finally:
            con.close()
        record = ListConsent(list_name, state.shown())
        for email, status, sent in rows:
            held = held_values(sent)
            note = held.get(OPTED_OUT_NOTE)
            if status == UNSUBSCRIBED:
                record.removed.append({"email": email, "removed_at": held.get(REMOVED_AT)})
            elif status == OPTED_OUT:
                note = note if isinstance(note, dict) else {"how": EARLIER}
                record.opted_out.append({"email": email, **note})
            elif status == SUBSCRIBED:
                again = held.get(RESUBSCRIBED_NOTE)
                if isinstance(again, dict):
                    record.resubscribed.append({"email": email, **again})
                    if note is not None:
                        record.opted_out_but_subscribed.append(email)
        records.append(record)
    return records
