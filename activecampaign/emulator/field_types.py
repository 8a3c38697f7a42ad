"""Custom field values as ActiveCampaign stores them, checked against each field's type and options.

One set of rules for every way a value arrives (bulk import `fields`, `fieldValues` of POST /contacts and
/contact/sync, POST/PUT /fieldValues): dropdown/radio store the option's value, listbox/checkbox
`||a||b||`, date `YYYY-MM-DD`, datetime ISO 8601. What the reference leaves open is decided by the options
invalid_option, required_empty, date_format and unrelated_field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .config import EmulatorConfig
from .model import ALL_LISTS, MULTIPLE_CHOICE, SINGLE_CHOICE, Contact, CustomField, int_or_none
from .state import Account

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
# What "lenient" also reads; month before day where it is ambiguous, as in ActiveCampaign's US-made UI.
_OTHER_DATES = ("%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d", "%B %d, %Y", "%b %d, %Y", "%d %B %Y")
_OTHER_DATETIMES = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")


@dataclass(frozen=True)
class Verdict:
    """What becomes of one value: `value` is what to store (None: nothing), `failure` fails the contact."""

    value: str | None
    failure: str | None = None


def judge(account: Account, config: EmulatorConfig, field: CustomField, raw: Any, list_ids: set[int]) -> Verdict:
    """The verdict on `raw` for `field`, for a contact on (or being put on) the lists `list_ids`."""
    if config.unrelated_field == "ignore" and not _related(account, field, list_ids):
        return Verdict(None)
    text = "" if raw is None else _text(raw)
    if text.strip() == "":
        # An empty value clears the field, whatever its type.
        return Verdict("")
    if field.type in SINGLE_CHOICE or field.type in MULTIPLE_CHOICE:
        return _choice(account, config, field, raw, text)
    if field.type == "date":
        parsed_date = _date(text, config.date_format == "lenient")
        return Verdict(None if parsed_date is None else parsed_date.isoformat())
    if field.type == "datetime":
        parsed = _datetime(text, config.date_format == "lenient")
        return Verdict(None if parsed is None else parsed.isoformat(timespec="seconds"))
    return Verdict(text)


def judge_one(account: Account, config: EmulatorConfig, contact: Contact, field: CustomField, raw: Any) -> Verdict:
    """The verdict on one value written on its own (POST/PUT /fieldValues): its own checks and, of the
    required fields, only its own."""
    verdict = judge(account, config, field, raw, account.list_ids_of(contact.id))
    if verdict.failure is not None:
        return verdict
    held = contact.field_values.get(str(field.id))
    after = verdict.value if verdict.value is not None else (held.value if held is not None else None)
    missing = _missing_required(config, field, after)
    return verdict if missing is None else Verdict(None, missing)


def checked_values(
    account: Account,
    config: EmulatorConfig,
    contact: Contact | None,
    given: Iterable[tuple[Any, Any]],
    list_ids: set[int],
) -> tuple[dict[str, str], str | None]:
    """The values to store by field id from (field id, value) pairs, or why the contact fails.

    Unknown field ids and None values are left out, as the API skips what it cannot place.
    """
    values: dict[str, str] = {}
    for raw_id, raw in given:
        field = account.fields.get(int_or_none(raw_id) or 0)
        if field is None or raw is None:
            continue
        verdict = judge(account, config, field, raw, list_ids)
        if verdict.failure is not None:
            return {}, verdict.failure
        if verdict.value is not None:
            values[str(field.id)] = verdict.value
    for field in account.fields.values():
        key = str(field.id)
        held = contact.field_values[key].value if contact is not None and key in contact.field_values else None
        missing = _missing_required(config, field, values.get(key, held))
        if missing is not None:
            return {}, missing
    return values, None


def _missing_required(config: EmulatorConfig, field: CustomField, value: str | None) -> str | None:
    """Why a contact fails for leaving a required field empty (only when required_empty says it does)."""
    if config.required_empty == "fail_contact" and field.isrequired and not (value or "").strip():
        return f"Field '{field.title}' is required"
    return None


def _choice(account: Account, config: EmulatorConfig, field: CustomField, raw: Any, text: str) -> Verdict:
    options = {o.value.lower(): o.value for o in account.options_of(field)}
    if field.type in SINGLE_CHOICE:
        parts = [text]
    elif isinstance(raw, list):
        parts = [_text(item) for item in raw]
    else:
        parts = [p for p in text.split("||") if p != ""]
    known = [options.get(p.lower()) for p in parts]
    if all(k is not None for k in known):
        stored = [k for k in known if k is not None]
    elif config.invalid_option == "store":
        stored = [k if k is not None else p for k, p in zip(known, parts, strict=True)]
    elif config.invalid_option == "fail_contact":
        bad = next(p for k, p in zip(known, parts, strict=True) if k is None)
        return Verdict(None, f"'{bad}' is not an option of field '{field.title}'")
    else:
        return Verdict(None)
    return Verdict(stored[0] if field.type in SINGLE_CHOICE else "||" + "||".join(stored) + "||")


def _related(account: Account, field: CustomField, list_ids: set[int]) -> bool:
    relids = account.relids_of(field)
    return ALL_LISTS in relids or bool(relids & list_ids)


def _date(text: str, lenient: bool) -> date | None:
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        parsed = _iso(text)
    elif lenient:
        parsed = _iso(text) if _ISO_DATETIME.fullmatch(text) else _strptime(text, _OTHER_DATES)
    else:
        parsed = None
    return None if parsed is None else parsed.date()


def _datetime(text: str, lenient: bool) -> datetime | None:
    text = text.strip()
    if _ISO_DATETIME.fullmatch(text):
        return _iso(text)
    if not lenient:
        return None
    return _iso(text) if _ISO_DATE.fullmatch(text) else _strptime(text, _OTHER_DATETIMES + _OTHER_DATES)


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:  # right pattern, impossible date (2024-02-30)
        return None


def _strptime(text: str, patterns: tuple[str, ...]) -> datetime | None:
    for pattern in patterns:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _text(raw: Any) -> str:
    if isinstance(raw, list):
        return "||".join(_text(item) for item in raw)
    return str(raw)
