"""Bulk import: request validation, the batch timeline and the batch's effect on the account."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .config import EmulatorConfig
from .emails import is_valid_email
from .field_types import checked_values
from .model import ACTIVE, ADMIN_USER_ID, UNSUBSCRIBED, User, int_or_none, truthy
from .rights import contact_limit_reached, sees
from .state import Account

MAX_CONTACTS = 250
MAX_BYTES = 400_000
VALIDATION_MESSAGE = (
    "JSON payload did not pass validation. Please fix failure Reasons and retry. "
    "The import was not queued for processing."
)
# Quotes as the reference prints them.
EMAIL_FAILURE = "Field\u2018 email\u2019 incorrect format"


@dataclass
class Batch:
    id: str
    date: str
    contacts: list[dict[str, Any]]
    size: int
    # Emulator-clock times (real seconds); see Emulator.schedule_batch.
    submitted_at: float
    false_until: float
    completes_at: float
    outcome: str = "completed"
    # Whose key submitted it (their group's rights and limits apply) and the request's exclude_automations.
    user_id: int = ADMIN_USER_ID
    exclude_automations: bool = False
    applied: bool = False
    success: list[str] = field(default_factory=list)
    failure: list[str] = field(default_factory=list)

    def status(self, now: float) -> str | bool:
        if self.applied:
            return self.outcome
        if now < self.false_until:
            return False
        # The documented in-progress states, in the order a queue would move a batch through them.
        progress = (now - self.false_until) / max(self.completes_at - self.false_until, 1e-9)
        return "waiting" if progress < 1 / 3 else "claimed" if progress < 2 / 3 else "active"


def rejection(message: str, reasons: list[Any]) -> dict[str, Any]:
    return {"success": 0, "message": message, "failureReasons": reasons}


def count_contacts(body: bytes) -> int | None:
    """How many contacts a bulk import body carries, or None if it is not a readable request."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    contacts = payload.get("contacts") if isinstance(payload, dict) else None
    return len(contacts) if isinstance(contacts, list) else None


def validate(body: bytes, allow_unicode: bool) -> list[dict[str, Any]] | dict[str, Any]:
    """The contacts to queue, or the 400 body that rejects the whole request."""
    if len(body) > MAX_BYTES:
        return rejection(
            "Request payload too large.",
            [f"The request body may not exceed {MAX_BYTES} bytes. Please send fewer contacts per request."],
        )
    try:
        payload = json.loads(body)
    except ValueError:
        return rejection(VALIDATION_MESSAGE, ["The request body is not valid JSON."])
    contacts = payload.get("contacts") if isinstance(payload, dict) else None
    if not isinstance(contacts, list) or not contacts:
        return rejection(VALIDATION_MESSAGE, ["Field 'contacts' is required and may not be empty."])
    if len(contacts) > MAX_CONTACTS:
        return rejection(
            VALIDATION_MESSAGE,
            [f"Up to {MAX_CONTACTS} contacts may be imported per request. {len(contacts)} were sent."],
        )
    bad = [
        {"contact": index, "failureReason": EMAIL_FAILURE}
        for index, contact in enumerate(contacts)
        if not isinstance(contact, dict) or not is_valid_email(contact.get("email"), allow_unicode)
    ]
    if bad:
        return rejection(VALIDATION_MESSAGE, bad)
    return contacts


def apply_batch(account: Account, config: EmulatorConfig, batch: Batch) -> None:
    """Give the account the batch's effects, as ActiveCampaign would when the batch finishes."""
    batch.applied = True
    if batch.outcome == "failed":
        return
    # An interrupted batch stopped part way; the first half is what got done.
    todo = batch.contacts if batch.outcome == "completed" else batch.contacts[: len(batch.contacts) // 2]
    for item in todo:
        _apply_contact(account, config, batch, item)
    # Only the counts are needed from here on.
    batch.contacts = []


def _apply_contact(account: Account, config: EmulatorConfig, batch: Batch, item: dict[str, Any]) -> None:
    """One contact of a batch; one that cannot be imported is listed in the batch's failure, by email."""
    email = str(item["email"])
    user = account.users[batch.user_id]
    contact = account.find_contact(email)
    if account.is_excluded(email) or (contact is None and contact_limit_reached(account, user) is not None):
        batch.failure.append(email)
        return
    subscribe = _list_ids(item.get("subscribe"), account, user)
    unsubscribe = _list_ids(item.get("unsubscribe"), account, user)
    on_lists = set(subscribe) | set(unsubscribe) | (account.list_ids_of(contact.id) if contact is not None else set())
    fields = item.get("fields")
    given = [(f.get("id"), f.get("value")) for f in (fields if isinstance(fields, list) else []) if isinstance(f, dict)]
    values, failure = checked_values(account, config, contact, given, on_lists)
    if failure is not None:
        batch.failure.append(email)
        return
    if contact is None:
        contact = account.create_contact(email, user.id)
        batch.success.append(str(contact.id))
    account.update_contact(
        contact,
        first_name=_optional_text(item.get("first_name")),
        last_name=_optional_text(item.get("last_name")),
        phone=_optional_text(item.get("phone")),
        field_values=values,
    )
    tags = item.get("tags")
    # Bulk import only ever adds tags.
    account.add_tags(contact.id, [str(t) for t in (tags if isinstance(tags, list) else []) if str(t).strip()])
    automations = (
        config.automations == "on" and not batch.exclude_automations and not truthy(item.get("exclude_automations"))
    )
    for list_id in subscribe:
        # Bulk import never re-subscribes someone who unsubscribed from the list.
        if account.status_of(contact.id, list_id) != UNSUBSCRIBED:
            account.set_status(contact.id, list_id, ACTIVE, automations=automations, batch_id=batch.id)
    for list_id in unsubscribe:
        account.set_status(contact.id, list_id, UNSUBSCRIBED)


def _list_ids(entries: Any, account: Account, user: User) -> list[int]:
    ids = []
    for entry in entries if isinstance(entries, list) else []:
        list_id = int_or_none(entry.get("listid")) if isinstance(entry, dict) else None
        # Unknown list ids, and lists the submitting user does not see, are skipped silently, like other
        # per-contact problems inside a batch.
        if list_id in account.lists and sees(account, user, account.lists[list_id]):
            ids.append(list_id)
    return ids


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def summary(batches: list[Batch]) -> dict[str, list[dict[str, str]]]:
    """GET /import/bulk_import: batch and contact counts per submission date."""
    buckets: dict[str, dict[str, list[int]]] = {
        "outstanding": defaultdict(lambda: [0, 0]),
        "recentlyCompleted": defaultdict(lambda: [0, 0]),
    }
    for batch in batches:
        bucket = buckets["recentlyCompleted" if batch.applied else "outstanding"][batch.date]
        bucket[0] += 1
        bucket[1] += batch.size
    return {
        name: [{"forDate": day, "batches": str(n), "contacts": str(c)} for day, (n, c) in sorted(days.items())]
        for name, days in buckets.items()
    }
