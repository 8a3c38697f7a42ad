"""The in-memory ActiveCampaign account: groups, lists, contacts and their list statuses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

# Contact statuses on a list, as the API numbers them.
UNCONFIRMED, ACTIVE, UNSUBSCRIBED, BOUNCED = 0, 1, 2, 3

ADMIN_GROUP_ID = 3
ADMIN_DESCRIPTION = "This is a group for admin users (people that can manage content)"


def timestamp() -> str:
    """The API's timestamp style, e.g. 2018-09-20T10:51:14-05:00."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass
class Group:
    id: int
    title: str
    descript: str | None
    sdate: str
    admin: bool = False
    # Permission flags (pgListAdd, ...) as the API shows them: "0" or "1".
    perms: dict[str, str] = field(default_factory=dict)


@dataclass
class AcList:
    id: int
    name: str
    stringid: str
    sender_url: str
    sender_reminder: str
    cdate: str
    udate: str | None = None
    group_ids: list[int] = field(default_factory=list)


@dataclass
class FieldValue:
    id: int
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
    cdate: str = field(default_factory=timestamp)
    udate: str = field(default_factory=timestamp)
    field_values: dict[str, FieldValue] = field(default_factory=dict)


@dataclass
class Membership:
    """A contactList: one contact's status on one list."""

    id: int
    contact_id: int
    list_id: int
    status: int
    sdate: str
    udate: str


@dataclass
class ListGroup:
    id: int
    list_id: int
    group_id: int


def email_key(email: str) -> str:
    # ActiveCampaign treats addresses case-insensitively; the first spelling seen is kept for display.
    return email.strip().lower()


class Account:
    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}
        self.lists: dict[int, AcList] = {}
        self.contacts: dict[int, Contact] = {}
        self.by_email: dict[str, int] = {}
        self.memberships: dict[tuple[int, int], Membership] = {}
        self.list_groups: dict[int, ListGroup] = {}
        self.exclusions: list[str] = []
        self._excluded: set[str] = set()
        # A fresh account has only the Admin group, numbered 3 as in real accounts.
        self._group_ids = itertools.count(ADMIN_GROUP_ID + 1)
        self._list_ids = itertools.count(1)
        self._contact_ids = itertools.count(1)
        self._membership_ids = itertools.count(1)
        self._list_group_ids = itertools.count(1)
        self._field_value_ids = itertools.count(1)
        self.groups[ADMIN_GROUP_ID] = Group(ADMIN_GROUP_ID, "Admin", ADMIN_DESCRIPTION, timestamp(), admin=True)

    # Groups

    def create_group(self, title: str, descript: str | None = None, perms: dict[str, str] | None = None) -> Group:
        group = Group(next(self._group_ids), title, descript, timestamp(), perms=dict(perms or {}))
        self.groups[group.id] = group
        return group

    def delete_group(self, group_id: int) -> None:
        del self.groups[group_id]
        for link_id in [lg.id for lg in self.list_groups.values() if lg.group_id == group_id]:
            self._unlink(link_id)

    # Lists

    def create_list(self, name: str, stringid: str, sender_url: str, sender_reminder: str) -> AcList:
        ac_list = AcList(next(self._list_ids), name, stringid, sender_url, sender_reminder, timestamp())
        self.lists[ac_list.id] = ac_list
        return ac_list

    def delete_list(self, list_id: int) -> None:
        del self.lists[list_id]
        for key in [k for k in self.memberships if k[1] == list_id]:
            del self.memberships[key]
        for link_id in [lg.id for lg in self.list_groups.values() if lg.list_id == list_id]:
            self._unlink(link_id)

    def link_list_group(self, list_id: int, group_id: int) -> tuple[ListGroup, bool]:
        """Answer the link and whether it is new."""
        for link in self.list_groups.values():
            if link.list_id == list_id and link.group_id == group_id:
                return link, False
        link = ListGroup(next(self._list_group_ids), list_id, group_id)
        self.list_groups[link.id] = link
        self.lists[list_id].group_ids.append(group_id)
        return link, True

    def _unlink(self, link_id: int) -> None:
        link = self.list_groups.pop(link_id)
        ac_list = self.lists.get(link.list_id)
        if ac_list is not None and link.group_id in ac_list.group_ids:
            ac_list.group_ids.remove(link.group_id)

    # Contacts

    def find_contact(self, email: str) -> Contact | None:
        contact_id = self.by_email.get(email_key(email))
        return None if contact_id is None else self.contacts[contact_id]

    def create_contact(self, email: str) -> Contact:
        contact = Contact(next(self._contact_ids), email.strip())
        self.contacts[contact.id] = contact
        self.by_email[email_key(email)] = contact.id
        return contact

    def delete_contact(self, contact_id: int) -> None:
        contact = self.contacts.pop(contact_id)
        del self.by_email[email_key(contact.email)]
        for key in [k for k in self.memberships if k[0] == contact_id]:
            del self.memberships[key]

    def update_contact(
        self,
        contact: Contact,
        first_name: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
        field_values: dict[str, str | None] | None = None,
    ) -> None:
        if first_name is not None:
            contact.first_name = first_name
        if last_name is not None:
            contact.last_name = last_name
        if phone is not None:
            contact.phone = phone
        now = timestamp()
        for field_id, value in (field_values or {}).items():
            existing = contact.field_values.get(field_id)
            if existing is None:
                contact.field_values[field_id] = FieldValue(next(self._field_value_ids), field_id, value, now, now)
            else:
                existing.value, existing.udate = value, now
        contact.udate = now

    def set_status(self, contact_id: int, list_id: int, status: int) -> Membership:
        now = timestamp()
        membership = self.memberships.get((contact_id, list_id))
        if membership is None:
            membership = Membership(next(self._membership_ids), contact_id, list_id, status, now, now)
            self.memberships[(contact_id, list_id)] = membership
        else:
            membership.status, membership.udate = status, now
        return membership

    def status_of(self, contact_id: int, list_id: int) -> int | None:
        membership = self.memberships.get((contact_id, list_id))
        return None if membership is None else membership.status

    def memberships_of(self, contact_id: int) -> list[Membership]:
        return sorted((m for m in self.memberships.values() if m.contact_id == contact_id), key=lambda m: m.id)

    def set_exclusions(self, emails: list[str]) -> None:
        self.exclusions = list(emails)
        self._excluded = {email_key(e) for e in emails}

    def is_excluded(self, email: str) -> bool:
        return email_key(email) in self._excluded
