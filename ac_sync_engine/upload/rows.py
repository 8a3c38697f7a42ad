"""The contacts an upload writes and how they are cut into bulk imports (≤ 250 contacts, ≤ 400,000 bytes)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from activecampaign.client import BULK_MAX_BYTES, BULK_MAX_CONTACTS

SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
# Envelope bytes around the contacts array: {"contacts": [...], "exclude_automations": false}.
ENVELOPE_BYTES = 64


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

    def payload(self, list_id: int) -> dict[str, Any]:
        contact: dict[str, Any] = {"email": self.email}
        # Absent fields are left out, not sent empty: an empty value would blank what the account holds.
        for key in ("first_name", "last_name", "phone"):
            value = getattr(self, key)
            if value is not None and value != "":
                contact[key] = value
        if self.tags:
            contact["tags"] = list(self.tags)
        contact[self.action] = [{"listid": list_id}]
        return contact


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
        nbytes = len(json.dumps(payload, ensure_ascii=False).encode()) + 1
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
