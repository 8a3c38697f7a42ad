"""The in-memory ActiveCampaign account: its records and what keeps them consistent (ids, links, cascades)."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping

from .model import (
    ACTIVE,
    ADMIN_DESCRIPTION,
    ADMIN_GROUP_ID,
    ADMIN_USER_ID,
    AcList,
    Automation,
    Contact,
    ContactAutomation,
    ContactTag,
    CustomField,
    FieldOption,
    FieldRel,
    FieldValue,
    Group,
    ListGroup,
    Membership,
    Tag,
    User,
    Webhook,
    timestamp,
)


def email_key(email: str) -> str:
    # ActiveCampaign treats addresses case-insensitively; the first spelling seen is kept for display.
    return email.strip().lower()


class Account:
    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}
        self.users: dict[int, User] = {}
        # API keys of the users created with one; any other accepted key is the admin's (user 1).
        self.key_users: dict[str, int] = {}
        self.lists: dict[int, AcList] = {}
        self.contacts: dict[int, Contact] = {}
        self.by_email: dict[str, int] = {}
        self.memberships: dict[tuple[int, int], Membership] = {}
        # The same memberships by contact, so that one contact's lists are found without a scan.
        self._lists_of: dict[int, dict[int, Membership]] = {}
        self.list_groups: dict[int, ListGroup] = {}
        self.fields: dict[int, CustomField] = {}
        self.field_options: dict[int, FieldOption] = {}
        self.field_rels: dict[int, FieldRel] = {}
        self.field_values: dict[int, FieldValue] = {}
        self.tags: dict[int, Tag] = {}
        # The oldest tag of each lower-cased name: bulk import looks tags up by name for every contact.
        self._tag_named: dict[str, int] = {}
        self.contact_tags: dict[int, ContactTag] = {}
        self._tags_of: dict[int, dict[int, ContactTag]] = {}
        self.automations: dict[int, Automation] = {}
        self.contact_automations: dict[int, ContactAutomation] = {}
        self._runs_of: dict[int, list[int]] = {}
        # Every entry into a list that started automations, also those of contacts deleted since.
        self.automation_runs = 0
        # Contacts that users of each group created (what groupLimits.limitContact caps).
        self._contacts_by_group: Counter[int] = Counter()
        self.exclusions: list[str] = []
        self._excluded: set[str] = set()
        self.webhooks: dict[int, Webhook] = {}
        # A fresh account has only the Admin group, numbered 3 as in real accounts, and its user 1.
        self._ids = {
            kind: itertools.count(ADMIN_GROUP_ID + 1 if kind == "group" else 1)
            for kind in (
                "group",
                "user",
                "list",
                "contact",
                "membership",
                "list_group",
                "field",
                "field_option",
                "field_rel",
                "field_value",
                "tag",
                "contact_tag",
                "automation",
                "contact_automation",
                "webhook",
            )
        }
        self.groups[ADMIN_GROUP_ID] = Group(ADMIN_GROUP_ID, "Admin", ADMIN_DESCRIPTION, timestamp(), admin=True)
        self.create_user("admin", ADMIN_GROUP_ID, "Emulator", "Admin", "admin@example.com")  # ADMIN_USER_ID
        # One automation that starts when a contact subscribes to any list.
        automation_id = self._next("automation")
        self.automations[automation_id] = Automation(automation_id, "Welcome series", timestamp())

    def _next(self, kind: str) -> int:
        return next(self._ids[kind])

    # Groups and users

    def create_group(self, title: str, descript: str | None = None, perms: dict[str, str] | None = None) -> Group:
        group = Group(self._next("group"), title, descript, timestamp(), perms=dict(perms or {}))
        self.groups[group.id] = group
        return group

    def delete_group(self, group_id: int) -> None:
        del self.groups[group_id]
        for link_id in [lg.id for lg in self.list_groups.values() if lg.group_id == group_id]:
            self._unlink(link_id)

    def create_user(
        self, username: str, group_id: int, first_name: str = "", last_name: str = "", email: str = ""
    ) -> User:
        user = User(self._next("user"), username, group_id, first_name, last_name, email)
        self.users[user.id] = user
        return user

    def user_for_key(self, key: str | None) -> User:
        return self.users[self.key_users.get(key or "", ADMIN_USER_ID)]

    def group_of(self, user: User) -> Group | None:
        # None once the user's group was deleted: such a user has no rights at all.
        return self.groups.get(user.group_id)

    # Lists

    def create_list(
        self, name: str, stringid: str, sender_url: str, sender_reminder: str, creator_id: int = ADMIN_USER_ID
    ) -> AcList:
        now = timestamp()
        ac_list = AcList(self._next("list"), name, stringid, sender_url, sender_reminder, now, creator_id, udate=now)
        self.lists[ac_list.id] = ac_list
        return ac_list

    def update_list(self, ac_list: AcList, changes: Mapping[str, str]) -> None:
        """Change a list's name, stringid, sender_url or sender_reminder (the keys of `changes`)."""
        for key, value in changes.items():
            setattr(ac_list, key, value)
        ac_list.udate = timestamp()

    def stringid_for(self, name: str) -> str:
        """A URL-safe slug of `name` that no list has yet: "Spring Sale" -> spring-sale, then spring-sale-2."""
        base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "list"
        taken = {lst.stringid.lower() for lst in self.lists.values()}
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def delete_list(self, list_id: int) -> None:
        del self.lists[list_id]
        for key in [k for k in self.memberships if k[1] == list_id]:
            self._lists_of[key[0]].pop(list_id, None)
            del self.memberships[key]
        for link_id in [lg.id for lg in self.list_groups.values() if lg.list_id == list_id]:
            self._unlink(link_id)

    def link_list_group(self, list_id: int, group_id: int) -> tuple[ListGroup, bool]:
        """Answer the link and whether it is new."""
        for link in self.list_groups.values():
            if link.list_id == list_id and link.group_id == group_id:
                return link, False
        link = ListGroup(self._next("list_group"), list_id, group_id)
        self.list_groups[link.id] = link
        self.lists[list_id].group_ids.append(group_id)
        return link, True

    def _unlink(self, link_id: int) -> None:
        link = self.list_groups.pop(link_id)
        ac_list = self.lists.get(link.list_id)
        if ac_list is not None and link.group_id in ac_list.group_ids:
            ac_list.group_ids.remove(link.group_id)

    def lists_of_group(self, group_id: int) -> list[AcList]:
        """The lists a group has, as groupLimits.limitList counts them: linked to it or made by its users."""
        return [
            lst
            for lst in self.lists.values()
            if group_id in lst.group_ids or self.users[lst.creator_id].group_id == group_id
        ]

    # Contacts

    def find_contact(self, email: str) -> Contact | None:
        contact_id = self.by_email.get(email_key(email))
        return None if contact_id is None else self.contacts[contact_id]

    def create_contact(self, email: str, creator_id: int = ADMIN_USER_ID) -> Contact:
        contact = Contact(self._next("contact"), email.strip(), creator_id=creator_id)
        self.contacts[contact.id] = contact
        self.by_email[email_key(email)] = contact.id
        self._contacts_by_group[self.users[creator_id].group_id] += 1
        return contact

    def change_email(self, contact: Contact, email: str) -> None:
        del self.by_email[email_key(contact.email)]
        contact.email = email.strip()
        self.by_email[email_key(contact.email)] = contact.id

    def contacts_created_by_group(self, group_id: int) -> int:
        return self._contacts_by_group[group_id]

    def delete_contact(self, contact_id: int) -> None:
        """Remove the contact with everything that is its own: memberships, field values, tags, automation runs."""
        contact = self.contacts.pop(contact_id)
        del self.by_email[email_key(contact.email)]
        self._contacts_by_group[self.users[contact.creator_id].group_id] -= 1
        for list_id in self._lists_of.pop(contact_id, {}):
            del self.memberships[(contact_id, list_id)]
        for fv in contact.field_values.values():
            del self.field_values[fv.id]
        for contact_tag in self._tags_of.pop(contact_id, {}).values():
            del self.contact_tags[contact_tag.id]
        for run_id in self._runs_of.pop(contact_id, []):
            del self.contact_automations[run_id]

    def update_contact(
        self,
        contact: Contact,
        first_name: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
        field_values: Mapping[str, str | None] | None = None,
    ) -> None:
        if first_name is not None:
            contact.first_name = first_name
        if last_name is not None:
            contact.last_name = last_name
        if phone is not None:
            contact.phone = phone
        for field_id, value in (field_values or {}).items():
            self.set_field_value(contact, field_id, value)
        contact.udate = timestamp()

    # Memberships

    def set_status(
        self,
        contact_id: int,
        list_id: int,
        status: int,
        *,
        sourceid: int | None = None,
        udate: str | None = None,
        automations: bool = False,
        batch_id: str | None = None,
    ) -> Membership:
        """Record a status change (udate, and sdate on first subscription); a contact that enters the list
        (status 1 from anything else) starts the account's automations when `automations` says so."""
        now = udate or timestamp()
        membership = self.memberships.get((contact_id, list_id))
        entered = status == ACTIVE and (membership is None or membership.status != ACTIVE)
        if membership is None:
            membership = Membership(self._next("membership"), contact_id, list_id, status, None, now)
            self.memberships[(contact_id, list_id)] = membership
            self._lists_of.setdefault(contact_id, {})[list_id] = membership
        membership.status, membership.udate = status, now
        if status == ACTIVE and membership.sdate is None:
            membership.sdate = now
        if sourceid is not None:
            membership.sourceid = sourceid
        if entered and automations:
            self._run_automations(contact_id, batch_id)
        return membership

    def status_of(self, contact_id: int, list_id: int) -> int | None:
        membership = self.memberships.get((contact_id, list_id))
        return None if membership is None else membership.status

    def memberships_of(self, contact_id: int) -> list[Membership]:
        return sorted(self._lists_of.get(contact_id, {}).values(), key=lambda m: m.id)

    def list_ids_of(self, contact_id: int) -> set[int]:
        return set(self._lists_of.get(contact_id, {}))

    # Automations

    def _run_automations(self, contact_id: int, batch_id: str | None) -> None:
        self.automation_runs += 1
        for automation in self.automations.values():
            automation.entered += 1
            run = ContactAutomation(self._next("contact_automation"), contact_id, automation.id, timestamp(), batch_id)
            self.contact_automations[run.id] = run
            self._runs_of.setdefault(contact_id, []).append(run.id)

    def automations_of(self, contact_id: int) -> list[ContactAutomation]:
        return [self.contact_automations[i] for i in self._runs_of.get(contact_id, [])]

    # Custom fields

    def create_field(
        self,
        title: str,
        field_type: str,
        perstag: str,
        descript: str | None = None,
        isrequired: bool = False,
        defval: str | None = None,
        visible: bool = True,
        ordernum: int | None = None,
    ) -> CustomField:
        now = timestamp()
        order = ordernum if ordernum is not None else len(self.fields) + 1
        new = CustomField(
            self._next("field"), title, field_type, perstag, descript, isrequired, defval, visible, order, now, now
        )
        self.fields[new.id] = new
        return new

    def add_field_option(self, field_id: int, orderid: int, value: str, label: str, isdefault: bool) -> FieldOption:
        option = FieldOption(self._next("field_option"), field_id, orderid, value, label, isdefault, timestamp())
        self.field_options[option.id] = option
        self.fields[field_id].option_ids.append(option.id)
        return option

    def relate_field(self, field_id: int, relid: int) -> FieldRel:
        """Relate a field to a list (relid 0: to every list); relating it again answers the existing relation."""
        for rel_id in self.fields[field_id].rel_ids:
            if self.field_rels[rel_id].relid == relid:
                return self.field_rels[rel_id]
        rel = FieldRel(self._next("field_rel"), field_id, relid, timestamp())
        self.field_rels[rel.id] = rel
        self.fields[field_id].rel_ids.append(rel.id)
        return rel

    def options_of(self, custom_field: CustomField) -> list[FieldOption]:
        return [self.field_options[i] for i in custom_field.option_ids]

    def relids_of(self, custom_field: CustomField) -> set[int]:
        return {self.field_rels[i].relid for i in custom_field.rel_ids}

    def set_field_value(self, contact: Contact, field_id: str, value: str | None) -> FieldValue:
        now = timestamp()
        existing = contact.field_values.get(field_id)
        if existing is None:
            existing = FieldValue(self._next("field_value"), contact.id, field_id, value, now, now)
            contact.field_values[field_id] = existing
            self.field_values[existing.id] = existing
        else:
            existing.value, existing.udate = value, now
        return existing

    def delete_field_value(self, value_id: int) -> None:
        fv = self.field_values.pop(value_id)
        del self.contacts[fv.contact_id].field_values[fv.field]

    # Tags

    def find_tag(self, name: str) -> Tag | None:
        """The oldest tag of that name; names compare case-insensitively."""
        tag_id = self._tag_named.get(name.strip().lower())
        return None if tag_id is None else self.tags[tag_id]

    def create_tag(self, name: str, tag_type: str = "contact", description: str = "") -> Tag:
        tag = Tag(self._next("tag"), name.strip(), tag_type, description, timestamp())
        self.tags[tag.id] = tag
        self._tag_named.setdefault(tag.tag.lower(), tag.id)
        return tag

    def update_tag(self, tag: Tag, name: str | None, tag_type: str | None, description: str | None) -> None:
        if name is not None:
            self._forget_name(tag)
            tag.tag = name.strip()
            self._tag_named.setdefault(tag.tag.lower(), tag.id)
        if tag_type is not None:
            tag.tag_type = tag_type
        if description is not None:
            tag.description = description

    def delete_tag(self, tag_id: int) -> None:
        """Remove a tag and every contact's use of it."""
        self._forget_name(self.tags[tag_id])
        del self.tags[tag_id]
        for contact_tag in [ct for ct in self.contact_tags.values() if ct.tag_id == tag_id]:
            self.untag(contact_tag.id)

    def _forget_name(self, tag: Tag) -> None:
        """Stop finding `tag` by its name; another tag of that name (duplicate_tag_names=allow) takes over."""
        key = tag.tag.lower()
        if self._tag_named.get(key) != tag.id:
            return
        del self._tag_named[key]
        others = sorted(t.id for t in self.tags.values() if t.id != tag.id and t.tag.lower() == key)
        if others:
            self._tag_named[key] = others[0]

    def tag_contact(self, contact_id: int, tag_id: int) -> ContactTag:
        """Tag a contact; tagging it again with the same tag answers the existing contactTag."""
        own = self._tags_of.setdefault(contact_id, {})
        if tag_id not in own:
            own[tag_id] = ContactTag(self._next("contact_tag"), contact_id, tag_id, timestamp())
            self.contact_tags[own[tag_id].id] = own[tag_id]
        return own[tag_id]

    def add_tags(self, contact_id: int, names: Iterable[str]) -> None:
        """Tag a contact by names, creating the tags that do not exist yet; never removes a tag."""
        for name in names:
            tag = self.find_tag(name) or self.create_tag(name)
            self.tag_contact(contact_id, tag.id)

    def untag(self, contact_tag_id: int) -> None:
        contact_tag = self.contact_tags.pop(contact_tag_id)
        del self._tags_of[contact_tag.contact_id][contact_tag.tag_id]

    def tags_of(self, contact_id: int) -> list[ContactTag]:
        return sorted(self._tags_of.get(contact_id, {}).values(), key=lambda ct: ct.id)

    # Webhooks

    def create_webhook(self, name: str, url: str, events: list[str], sources: list[str], listid: str) -> Webhook:
        webhook = Webhook(self._next("webhook"), name, url, events, sources, listid, timestamp())
        self.webhooks[webhook.id] = webhook
        return webhook

    # Exclusions

    def set_exclusions(self, emails: list[str]) -> None:
        self.exclusions = list(emails)
        self._excluded = {email_key(e) for e in emails}

    def is_excluded(self, email: str) -> bool:
        return email_key(email) in self._excluded
