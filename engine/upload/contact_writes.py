"""The contact API, one contact at a time: what bulk import cannot do (clear a field, take a tag off), and the
handful of changes for which the reference recommends it over bulk import.

A cleared value goes out as an empty value in `contact/sync` (bulk import never blanks a field); a tag this
tool had added and that has left the contact's row is removed through `contactTags` — only that tag, never
one someone else put on the contact. Each contact is checkpointed once its writes are done, with what the list
then holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import duckdb

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.audience.normalise import value_column
from ac_sync.engine.upload.rows import STANDARD_VALUES, Row, dump_values, held_values
from ac_sync.engine.upload.state import SUBSCRIBED, UNSUBSCRIBED, SyncState

SUBSCRIBE_STATUS, UNSUBSCRIBE_STATUS = 1, 2


class ContactWriter:
    def __init__(self, client: ACClient, state: SyncState, con: duckdb.DuckDBPyConnection, custom_ids: Sequence[int]):
        self.client = client
        self.state = state
        self.con = con
        self.custom_ids = list(custom_ids)
        self._tag_names: dict[int, str] | None = None

    @staticmethod
    def requests(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        """The contact-API requests the `contact_writes` table will take, for the plan."""
        row = con.execute(
            "SELECT count(*) FILTER (WHERE len(cleared) > 0), count(*) FILTER (WHERE len(untag) > 0),"
            " coalesce(sum(len(untag)), 0) FROM contact_writes"
        ).fetchone()
        clears, untags, tags = (int(v) for v in row) if row else (0, 0, 0)
        # Per contact that loses tags: find it and read its tags (two reads), one removal per tag; and the
        # account's tags, read once.
        return {"contact_sync": clears, "contacts": 2 * untags, "contactTags": tags, "tags": int(untags > 0)}

    async def run(self, progress: Callable[[int], Awaitable[None]] | None = None) -> int:
        """Do every contact's writes; answers how many contacts were written."""
        custom = "".join(f", {value_column(i)}" for i in self.custom_ids)
        cur = self.con.cursor()
        try:
            records = cur.execute(
                f"SELECT email, first_name, last_name, phone, tags{custom}, fields_hash, source_row, sent_before,"
                " bulk, cleared, untag FROM contact_writes ORDER BY source_row"
            ).fetchall()
        finally:
            cur.close()
        done = 0
        for record in records:
            await self._write(record)
            done += 1
            if progress is not None:
                await progress(done)
        return done

    async def _write(self, record: tuple[Any, ...]) -> None:
        email, first_name, last_name, phone, tags, *rest = record
        n = len(self.custom_ids)
        fields = {fid: v for fid, v in zip(self.custom_ids, rest[:n], strict=True) if v is not None}
        fields_hash, source_row, sent_before, bulk, cleared, untag = rest[n:]
        row = Row(
            email,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            tags=tags,
            fields_hash=fields_hash,
            source_row=source_row,
            fields=fields or None,
            sent_before=sent_before,
        )
        # What the list holds once the bulk import (if this contact had one) is applied.
        held = held_values(row.sent_after() if bulk else sent_before)
        if cleared:
            standard = {key: "" for key in cleared if key in STANDARD_VALUES}
            custom = {int(key[1:]): "" for key in cleared if key not in STANDARD_VALUES}
            await self.client.sync_contact(email, **standard, field_values=custom or None)
            for key in cleared:
                held.pop(key, None)
        if untag:
            await self._untag(email, untag)
            gone = {t.lower() for t in untag}
            held["tags"] = [t for t in held.get("tags") or [] if t.lower() not in gone]
        self.state.checkpoint([(email, fields_hash, SUBSCRIBED, dump_values(held))])

    async def _untag(self, email: str, untag: Sequence[str]) -> None:
        contact = await self.client.contact_by_email(email)
        if contact is None:
            return  # nobody to take tags off: the contact was deleted behind the tool's back
        if self._tag_names is None:
            self._tag_names = {int(t.id): str(t.tag) for t in await self.client.tags()}
        gone = {t.lower() for t in untag}
        for contact_tag in await self.client.contact_tags(contact.id):
            name = self._tag_names.get(contact_tag.tag_id, "")
            if name.lower() in gone:
                await self.client.remove_contact_tag(int(contact_tag.id))


async def send_small(client: ACClient, state: SyncState, rows: Sequence[Row], list_id: int) -> tuple[int, int]:
    """Write a handful of contacts through the contact API (planner.route_small_changes chose them): a value
    update is one contact/sync, a new member contact/sync and contactLists, a removal contactLists. Each is
    checkpointed as it is done; answers (subscribed or updated, unsubscribed)."""
    for row in rows:
        if row.verdict == "leave":
            contact = await client.contact_by_email(row.email)
            removed_at = None
            if contact is not None:
                await client.set_list_status(list_id, contact.id, UNSUBSCRIBE_STATUS)
                removed_at = await list_change_time(client, contact.id, list_id)
            state.checkpoint([(row.email, row.state_hash, UNSUBSCRIBED, row.sent_after(removed_at=removed_at))])
            continue
        contact_id = await client.sync_contact(
            row.email,
            first_name=row.first_name or None,
            last_name=row.last_name or None,
            phone=row.phone or None,
            field_values={fid: v for fid, v in (row.fields or {}).items() if v} or None,
        )
        if row.verdict == "add":
            await client.set_list_status(list_id, contact_id, SUBSCRIBE_STATUS)
        state.checkpoint([(row.email, row.state_hash, SUBSCRIBED, row.sent_after())])
    left = sum(1 for row in rows if row.verdict == "leave")
    return len(rows) - left, left


async def list_change_time(client: ACClient, contact_id: int, list_id: int) -> datetime | None:
    """When the contact's status on the list last changed, by ActiveCampaign's clock (None if not on it)."""
    membership = next((m for m in await client.contact_lists(contact_id) if m.list_id == list_id), None)
    return membership.udate if membership is not None else None
