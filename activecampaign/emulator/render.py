"""Lists, contacts and memberships as the API reference's examples show them.

Key order, string ids, odd casings and all (users, groups and automations are in render_account, fields
and tags in render_fields).

Each endpoint family has its own variant of an object (a contact looks different in GET /contacts, in
POST /contacts and in POST /contact/sync), so each variant has its own function or flag here.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .model import AcList, Contact, ListGroup, Membership

LIST_LINKS = ("contactGoalLists", "user", "addressLists")
CONTACT_LINKS = (
    "bounceLogs",
    "contactAutomations",
    "contactData",
    "contactGoals",
    "contactLists",
    "contactLogs",
    "contactTags",
    "contactDeals",
    "deals",
    "fieldValues",
    "geoIps",
    "notes",
    "organization",
    "plusAppend",
    "trackingLogs",
    "scoreValues",
)
SYNC_CONTACT_LINKS = (*CONTACT_LINKS, "automationEntryCounts", "accountContacts")
CONTACT_LIST_LINKS = (
    "automation",
    "list",
    "contact",
    "form",
    "autosyncLog",
    "campaign",
    "unsubscribeAutomation",
    "message",
)


def links(base: str, kind: str, object_id: int, names: tuple[str, ...]) -> dict[str, str]:
    return {name: f"{base}/api/3/{kind}/{object_id}/{name}" for name in names}


def ac_list(lst: AcList, base: str) -> dict[str, Any]:
    return {
        "stringid": lst.stringid,
        "userid": str(lst.creator_id),
        "name": lst.name,
        "cdate": lst.cdate,
        "p_use_tracking": "1",
        "p_use_analytics_read": "0",
        "p_use_analytics_link": "0",
        "p_use_twitter": "0",
        "p_use_facebook": "0",
        "p_embed_image": "1",
        "p_use_captcha": "1",
        "send_last_broadcast": "0",
        "private": "0",
        "analytics_domains": None,
        "analytics_source": "",
        "analytics_ua": "",
        "twitter_token": "",
        "twitter_token_secret": "",
        "facebook_session": None,
        "carboncopy": None,
        "subscription_notify": None,
        "unsubscription_notify": None,
        "require_name": "0",
        "get_unsubscribe_reason": "0",
        "to_name": "Subscriber",
        "optinoptout": "1",
        "sender_name": "",
        "sender_addr1": "",
        "sender_addr2": "",
        "sender_city": "",
        "sender_state": "",
        "sender_zip": "",
        "sender_country": "",
        "sender_phone": "",
        "sender_url": lst.sender_url,
        "sender_reminder": lst.sender_reminder,
        "fulladdress": "",
        "optinmessageid": "0",
        "optoutconf": "0",
        "deletestamp": None,
        "udate": lst.udate,
        "links": links(base, "lists", lst.id, LIST_LINKS),
        "id": str(lst.id),
        "user": str(lst.creator_id),
    }


def list_created(lst: AcList, base: str) -> dict[str, Any]:
    return {
        "name": lst.name,
        "stringid": lst.stringid,
        "cdate": lst.cdate,
        "udate": lst.udate or lst.cdate,
        "links": links(base, "lists", lst.id, LIST_LINKS),
        "id": str(lst.id),
    }


def list_group(link: ListGroup, base: str) -> dict[str, Any]:
    # Integers here, unlike almost everywhere else: that is what the reference shows.
    return {
        "list": link.list_id,
        "group": link.group_id,
        "links": links(base, "listGroups", link.id, ("list", "group")),
        "id": str(link.id),
    }


def _hash(c: Contact) -> str:
    return hashlib.md5(c.email.lower().encode()).hexdigest()


def _contact_common(c: Contact) -> dict[str, Any]:
    return {
        "cdate": c.cdate,
        "email": c.email,
        "phone": c.phone,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "orgid": "0",
        "segmentio_id": "",
        "bounced_hard": "0",
        "bounced_soft": "0",
        "bounced_date": "0000-00-00",
        "ip": "0",
        "ua": "",
        "hash": _hash(c),
        "socialdata_lastcheck": "0000-00-00 00:00:00",
        "email_local": "",
        "email_domain": "",
        "sentcnt": "0",
        "rating_tstamp": "0000-00-00",
        "gravatar": "1",
        "deleted": "0",
        "anonymized": "0",
    }


def _read_stamps(c: Contact) -> dict[str, Any]:
    """What the current API adds to a contact it reads back, beyond the reference's examples, and what
    tap-activecampaign and Airbyte's connector read: *_timestamp in the style of the contactLists' ones, and
    email_empty as POST /contact/sync shows it."""
    return {"created_timestamp": plain(c.cdate), "updated_timestamp": plain(c.udate), "email_empty": not c.email}


def contact(c: Contact, base: str) -> dict[str, Any]:
    """A contact in GET /contacts."""
    return {
        **_contact_common(c),
        **_read_stamps(c),
        "udate": c.udate,
        "deleted_at": "0000-00-00 00:00:00",
        "scoreValues": [],
        "links": links(base, "contacts", c.id, CONTACT_LINKS),
        "id": str(c.id),
        "organization": None,
    }


def contact_echoed(c: Contact, base: str, with_edate: bool = False) -> dict[str, Any]:
    """A contact in the answer of a write about it: POST /contactLists, POST and PUT /fieldValues (with edate)."""
    return {
        **_contact_common(c),
        "adate": c.udate,
        "udate": c.udate,
        **({"edate": c.udate} if with_edate else {}),
        "deleted_at": "0000-00-00 00:00:00",
        "created_utc_timestamp": plain(c.cdate),
        "updated_utc_timestamp": plain(c.udate),
        "links": links(base, "contacts", c.id, CONTACT_LINKS),
        "id": str(c.id),
        "organization": None,
    }


def contact_created(c: Contact, base: str) -> dict[str, Any]:
    """The contact in the answer of POST /contacts."""
    return {
        "email": c.email,
        "cdate": c.cdate,
        "udate": c.udate,
        "orgid": "",
        "links": links(base, "contacts", c.id, CONTACT_LINKS),
        "id": str(c.id),
        "organization": "",
    }


def contact_synced(c: Contact, base: str) -> dict[str, Any]:
    """The contact in the answer of POST /contact/sync."""
    return {
        "email": c.email,
        "phone": c.phone,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "email_empty": False,
        "cdate": c.cdate,
        "udate": c.udate,
        "orgid": "",
        "orgname": "",
        "links": links(base, "contacts", c.id, SYNC_CONTACT_LINKS),
        "hash": _hash(c),
        "fieldValues": [str(fv.id) for fv in c.field_values.values()],
        "id": str(c.id),
        "organization": "",
    }


def contact_detail(c: Contact, memberships: list[Membership], automation_ids: list[int], base: str) -> dict[str, Any]:
    """The contact in GET /contacts/{id}."""
    common = _contact_common(c)
    del common["anonymized"]  # absent from this variant in the reference
    return {
        **common,
        **_read_stamps(c),
        "adate": None,
        "udate": c.udate,
        "edate": None,
        "contactAutomations": [str(i) for i in automation_ids],
        "contactLists": [str(m.id) for m in memberships],
        "fieldValues": [str(fv.id) for fv in c.field_values.values()],
        "geoIps": [],
        "deals": [],
        "accountContacts": [],
        "links": links(base, "contacts", c.id, CONTACT_LINKS),
        "id": str(c.id),
        "organization": None,
    }


# The variants of a contactList: echoed by POST /contactLists (status a number), read back by
# GET /contacts/{id}/contactLists, and inside GET /contacts/{id} (the read one without its *_timestamp/_by).
WRITTEN, READ, IN_DETAIL = "written", "read", "in_detail"


def contact_list(m: Membership, c: Contact, base: str, variant: str = READ) -> dict[str, Any]:
    written = variant == WRITTEN
    out: dict[str, Any] = {
        "contact": str(m.contact_id),
        "list": str(m.list_id),
        "form": None,
        "seriesid": "0",
        "sdate": m.sdate,
    }
    if not written:
        out["udate"] = m.udate
    out.update(
        {
            "status": m.status if written else str(m.status),
            "responder": "1",
            "sync": "0",
            "unsubreason": "" if written else None,
            "campaign": None,
            "message": None,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "ip4Sub": "0",
            "sourceid": str(m.sourceid),
            "autosyncLog": None,
            "ip4_last": "0",
            "ip4Unsub": "0",
        }
    )
    if variant == READ:
        out.update(
            {
                "created_timestamp": plain(m.sdate),
                "updated_timestamp": plain(m.udate),
                "created_by": None,
                "updated_by": None,
            }
        )
    out.update(
        {
            "unsubscribeAutomation": None,
            "links": links(base, "contactLists", m.id, CONTACT_LIST_LINKS),
            "id": str(m.id),
            "automation": None,
        }
    )
    return out


def exclusion(index: int, email: str) -> dict[str, Any]:
    return {
        "id": str(index),
        "matchPhrase": email,
        "matchType": "exact",
        "channel": "email",
        "hidden": False,
        "lists": [],
    }


def plain(stamp: str | None) -> str | None:
    """2018-10-01T08:40:10-05:00 -> 2018-10-01 08:40:10, the style of the *_timestamp fields."""
    return None if stamp is None else stamp[:19].replace("T", " ")
