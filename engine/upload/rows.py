"""The contacts an upload writes and how they are cut into bulk imports (≤ 250 contacts, ≤ 400,000 bytes)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ac_sync.activecampaign.client import BULK_MAX_BYTES, BULK_MAX_CONTACTS, bulk_import_body, encode_json

SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
# Bytes of a bulk import's body beyond its contacts and the commas between them (exact: the client's encoding).
ENVELOPE_BYTES = len(encode_json(bulk_import_body([])))


# The sync state's hash for a contact whose import went out but whose contact-API work (a clear, a tag removal)
# has not: no audience row hashes to it, so the next run looks at the contact again.
PARTIAL = "partial"
STANDARD_VALUES = ("first_name", "last_name", "phone")
REMOVED_AT = "_removed_at"  # in what the state says was sent: when this tool's removal took effect
# The consent record kept beside it (`ac-sync consent` reads them): how an opt-out was established, and the
# evidence on which this tool re-subscribed someone it had removed. Both by ActiveCampaign's clock.
OPTED_OUT_NOTE = "_opted_out"
RESUBSCRIBED_NOTE = "_resubscribed"


def encoded_size(payload: Any) -> int:
    """Bytes of `payload` in a request body, encoded as the client encodes it."""
    return len(encode_json(payload))


@dataclass
class Row:
    """One contact to write: the audience row (or a leaver) and what to do with it on the list."""

    email: str
    action: str = SUBSCRIBE
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    tags: list[str] | None = None
    fields_hash: str | None = None
    source_row: int | None = None
    fields: dict[int, str] | None = None  # custom field id -> value; empty cells are left out
    sent_before: str | None = None  # what the sync state says the list holds for this contact (JSON)
    finish_later: bool = False  # contact-API work (a clear, a tag removal) follows its import
    exclude_automations: bool = True  # entering the list starts no automation (--automations)
    verdict: str = "add"  # add, update, resubscribe, or leave (a mirror removal)

    def values(self) -> dict[str, str | None]:
        """The values sent, by their keys in the change hash and the sync state."""
        out: dict[str, str | None] = {key: getattr(self, key) for key in STANDARD_VALUES}
        out.update({f"f{fid}": value for fid, value in (self.fields or {}).items()})
        return out

    def payload(self, list_id: int) -> dict[str, Any]:
        contact: dict[str, Any] = {"email": self.email}
        # Absent fields are left out, not sent empty: an empty value would blank what the account holds.
        for key in STANDARD_VALUES:
            value = getattr(self, key)
            if value is not None and value != "":
                contact[key] = value
        if self.tags:
            contact["tags"] = list(self.tags)
        if self.fields:
            contact["fields"] = [{"id": fid, "value": value} for fid, value in self.fields.items() if value]
        contact[self.action] = [{"listid": list_id}]
        contact["exclude_automations"] = self.exclude_automations
        return contact

    def sent_after(self, removed_at: datetime | None = None) -> str:
        """What the list holds for this contact once the import is applied: what it held, overlaid with
        every value sent (an import never blanks a field), and the tags added to the ones it had. For a
        removal, `removed_at` (ActiveCampaign's clock when it was confirmed) is kept as REMOVED_AT: only a
        list status no younger than that is this tool's own, which a later re-subscription requires."""
        held = held_values(self.sent_before)
        if self.action == SUBSCRIBE:
            held.update({k: v for k, v in self.values().items() if v})
            held.pop(REMOVED_AT, None)
            if self.tags:
                held["tags"] = merge_tags(held.get("tags") or [], self.tags)
        else:  # a new removal: the consent record starts again from it
            held.pop(OPTED_OUT_NOTE, None)
            held.pop(RESUBSCRIBED_NOTE, None)
            if removed_at is not None:
                held[REMOVED_AT] = removed_at.isoformat()
        return dump_values(held)

    @property
    def state_hash(self) -> str | None:
        return PARTIAL if self.finish_later else self.fields_hash


def held_values(sent: str | None) -> dict[str, Any]:
    loaded = json.loads(sent) if sent else {}
    return loaded if isinstance(loaded, dict) else {}


def with_note(sent: str | None, key: str, note: dict[str, Any]) -> str:
    """What the state says was sent, with a consent note (OPTED_OUT_NOTE, RESUBSCRIBED_NOTE) added."""
    return dump_values({**held_values(sent), key: {k: v for k, v in note.items() if v is not None}})


def dump_values(values: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in values.items() if v not in (None, "", [])}, sort_keys=True, ensure_ascii=False)


def merge_tags(held: list[str], added: Iterable[str]) -> list[str]:
    """Tags as a set that compares case-insensitively (the first spelling stays), sorted for a stable record."""
    seen = {t.lower(): t for t in held}
    for tag in added:
        seen.setdefault(tag.lower(), tag)
    return sorted(seen.values(), key=str.lower)


@dataclass
class Rejection:
    email: str
    reason: str
    source_row: int | None = None


@dataclass
class Batch:
    seq: int
    rows: list[Row]
    payloads: list[dict[str, Any]]
    attempts: int = 0
    batch_id: str | None = None
    submitted_at: float = 0.0
    next_poll: float = 0.0
    polls: int = 0
    not_found: int = 0  # answers of "no such batch" in a row
    confirmed_at: datetime | None = None  # ActiveCampaign's clock (the Date of the answer) when it was completed


def make_batches(rows: Iterable[Row], list_id: int, size: int = BULK_MAX_CONTACTS) -> Iterator[Batch | Rejection]:
    """Group rows into batches of at most `size` contacts and BULK_MAX_BYTES bytes.

    A single contact too large for any request is answered as a Rejection instead of a batch.
    """
    size = min(size, BULK_MAX_CONTACTS)
    seq = 0
    rows_acc: list[Row] = []
    payloads: list[dict[str, Any]] = []
    used = ENVELOPE_BYTES
    for row in rows:
        payload = row.payload(list_id)
        nbytes = encoded_size(payload) + 1  # and the comma before the next contact
        if nbytes + ENVELOPE_BYTES > BULK_MAX_BYTES:
            yield Rejection(
                row.email,
                f"contact too large for ActiveCampaign's bulk import ({nbytes} bytes)",
                row.source_row,
            )
            continue
        if rows_acc and (len(rows_acc) >= size or used + nbytes > BULK_MAX_BYTES):
            seq += 1
            yield Batch(seq, rows_acc, payloads)
            rows_acc, payloads, used = [], [], ENVELOPE_BYTES
        rows_acc.append(row)
        payloads.append(payload)
        used += nbytes
    if rows_acc:
        yield Batch(seq + 1, rows_acc, payloads)
