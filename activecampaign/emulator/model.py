"""The account's records: groups and their users, lists, contacts and memberships, fields, tags, automations,
webhooks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Contact statuses on a list, as the API numbers them.
UNCONFIRMED, ACTIVE, UNSUBSCRIBED, BOUNCED = 0, 1, 2, 3

ADMIN_GROUP_ID = 3
ADMIN_USER_ID = 1
ADMIN_DESCRIPTION = "This is a group for admin users (people that can manage content)"

# The custom field types the emulator knows, and those whose values must be one of the field's options.
FIELD_TYPES = ("text", "textarea", "date", "datetime", "dropdown", "radio", "listbox", "checkbox", "hidden")
SINGLE_CHOICE = ("dropdown", "radio")
MULTIPLE_CHOICE = ("listbox", "checkbox")
ALL_LISTS = 0  # a fieldRel's relid for "every list"

# A group's permission flags, in the order the API lists them.
PERMISSIONS = [
    "pgListAdd",
    "pgListEdit",
    "pgListDelete",
    "pgListHeaders",
    "pgListEmailaccount",
    "pgListBounce",
    "pgMessageAdd",
    "pgMessageEdit",
    "pgMessageDelete",
    "pgMessageSend",
    "pgContactAdd",
    "pgContactEdit",
    "pgContactDelete",
    "pgContactMerge",
    "pgContactImport",
    "pgContactApprove",
    "pgContactExport",
    "pgContactSync",
    "pgContactFilters",
    "pgContactActions",
    "pgContactFields",
    "pg_user_add",
    "pg_user_edit",
    "pg_user_delete",
    "pgGroupAdd",
    "pgGroupEdit",
    "pgGroupDelete",
    "pgTemplateAdd",
    "pgTemplateEdit",
    "pgTemplateDelete",
    "pgPersonalizationAdd",
    "pgPersonalizationEdit",
    "pgPersonalizationDelete",
    "pgAutomationManage",
    "pgFormEdit",
    "pgReportsCampaign",
    "pgReportsList",
    "pgReportsUser",
    "pgReportsTrend",
    "pgStartupReports",
    "pgStartupGettingstarted",
    "pgDeal",
    "pgDealDelete",
    "pgDealReassign",
    "pgDealGroupAdd",
    "pgDealGroupEdit",
    "pgDealGroupDelete",
    "pgSavedResponsesManage",
]


_now_stamp: tuple[int, str] = (-1, "")
_clock_offset_s = 0.0  # the config's clock_offset_s, set by the app for each request (app.py)


def set_clock_offset(seconds: float) -> None:
    global _clock_offset_s
    _clock_offset_s = seconds


def account_now() -> float:
    """ActiveCampaign's clock, in epoch seconds: this machine's, shifted by clock_offset_s."""
    return time.time() + _clock_offset_s


def timestamp(moment: datetime | None = None) -> str:
    """The API's timestamp style, e.g. 2018-09-20T10:51:14-05:00, in the account's (this machine's) zone."""
    global _now_stamp
    if moment is not None:
        return moment.astimezone().isoformat(timespec="seconds")
    # A bulk import stamps several records per contact: format each second once.
    second = int(account_now())
    if _now_stamp[0] != second:
        _now_stamp = (second, datetime.fromtimestamp(second).astimezone().isoformat(timespec="seconds"))
    return _now_stamp[1]


def int_or_none(value: Any) -> int | None:
    """An id or number as the API receives them (5 or "5"); None for anything else, true/false included."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def truthy(value: Any) -> bool:
    """A flag as the API receives it: 1, "1", true or "true"."""
    return str(value).lower() in ("1", "true")


@dataclass
class Group:
    id: int
    title: str
    descript: str | None
    sdate: str
    admin: bool = False
    # Permission flags (pgListAdd, ...) as the API shows them: "0" or "1".
    perms: dict[str, str] = field(default_factory=dict)
    # groupLimits; 0 means unlimited.
    limit_list: int = 0
    limit_contact: int = 0


@dataclass
class User:
    id: int
    username: str
    group_id: int
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    cdate: str = field(default_factory=timestamp)


@dataclass
class AcList:
    id: int
    name: str
    stringid: str
    sender_url: str
    sender_reminder: str
    cdate: str
    creator_id: int = ADMIN_USER_ID
    # When the list last changed; set at creation, as udate is in the reference's answer to POST /lists.
    udate: str | None = None
    group_ids: list[int] = field(default_factory=list)


@dataclass
class FieldValue:
    id: int
    contact_id: int
    field: str
    value: str | None
    cdate: str
    udate: str


@dataclass
class Contact:
    id: int
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    creator_id: int = ADMIN_USER_ID
    cdate: str = field(default_factory=timestamp)
    udate: str = field(default_factory=timestamp)
    # By field id (as a string, the way the API names fields).
    field_values: dict[str, FieldValue] = field(default_factory=dict)


@dataclass
class Membership:
    """A contactList: one contact's status on one list."""

    id: int
    contact_id: int
    list_id: int
    status: int
    # When the contact first subscribed (None while it never has) and when its status last changed.
    sdate: str | None
    udate: str
    sourceid: int = 0


@dataclass
class ListGroup:
    id: int
    list_id: int
    group_id: int


@dataclass
class CustomField:
    id: int
    title: str
    type: str
    perstag: str
    descript: str | None
    isrequired: bool
    defval: str | None
    visible: bool
    ordernum: int
    cdate: str
    udate: str
    option_ids: list[int] = field(default_factory=list)
    rel_ids: list[int] = field(default_factory=list)


@dataclass
class FieldOption:
    id: int
    field_id: int
    orderid: int
    value: str
    label: str
    isdefault: bool
    cdate: str


@dataclass
class FieldRel:
    id: int
    field_id: int
    relid: int
    cdate: str


@dataclass
class Tag:
    id: int
    tag: str
    tag_type: str
    description: str
    cdate: str


@dataclass
class ContactTag:
    id: int
    contact_id: int
    tag_id: int
    cdate: str


@dataclass
class Automation:
    id: int
    name: str
    cdate: str
    # Each run one contact's entry into a list started; see Account.set_status.
    entered: int = 0


@dataclass
class ContactAutomation:
    """One run of an automation for one contact; the emulated automation has one step, so runs end at once."""

    id: int
    contact_id: int
    automation_id: int
    adddate: str
    # The bulk import that started it, if one did.
    batch_id: str | None = None


@dataclass
class Webhook:
    """A webhook as the API stores it; the emulator never calls it (it sends nothing anywhere)."""

    id: int
    name: str
    url: str
    events: list[str]
    sources: list[str]
    listid: str
    cdate: str
