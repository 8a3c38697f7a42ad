"""Users, groups, group limits and automations as the API reference's examples show them."""

from __future__ import annotations

from typing import Any

from .model import PERMISSIONS, Automation, ContactAutomation, Group, User
from .render import links

GROUP_LINKS = (
    "userGroups",
    "groupLimit",
    "dealGroupGroups",
    "listGroups",
    "addressGroups",
    "automationGroups",
)
USER_LINKS = ("lists", "userGroup", "dealGroupTotals", "dealGroupUsers", "configs")
CREATED_USER_LINKS = (*USER_LINKS, "dealConnection", "userConversationsPermission", "seatUser")
AUTOMATION_LINKS = ("campaigns", "contactGoals", "contactAutomations", "blocks", "goals", "sms", "sitemessages")
CONTACT_AUTOMATION_LINKS = ("automation", "contact", "contactGoals")


def user(u: User, base: str) -> dict[str, Any]:
    """A user in GET /users/me, GET /users and GET /users/{id}."""
    return {
        "username": u.username,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "email": u.email,
        "phone": "",
        "signature": None,
        "links": links(base, "users", u.id, USER_LINKS),
        "id": str(u.id),
    }


def user_created(u: User, base: str) -> dict[str, Any]:
    """The user in the answer of POST /users."""
    return {
        "username": u.username,
        "email": u.email,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "lang": "english",
        "localZoneid": "America/New_York",
        "cdate": u.cdate,
        "udate": u.cdate,
        "links": links(base, "users", u.id, CREATED_USER_LINKS),
        "id": str(u.id),
    }


def group(g: Group, base: str) -> dict[str, Any]:
    perms = {name: g.perms.get(name, "1" if g.admin else "0") for name in PERMISSIONS}
    if g.admin:
        perms["pgContactActions"] = g.perms.get("pgContactActions", "0")
    return {
        "title": g.title,
        "descript": g.descript,
        "unsubscribelink": "0",
        "optinconfirm": "0",
        "p_admin": "1" if g.admin else "0",
        **perms,
        "sdate": g.sdate,
        "reqApproval": "0",
        "reqApproval1st": "2",
        "reqApprovalNotify": "",
        "socialdata": "0",
        "links": links(base, "groups", g.id, GROUP_LINKS),
        "id": str(g.id),
    }


def group_created(g: Group, base: str) -> dict[str, Any]:
    # The reference's create answer is much shorter than the read one, and p_admin is a number there.
    return {
        "title": g.title,
        "p_admin": 1 if g.admin else 0,
        "links": links(base, "groups", g.id, GROUP_LINKS),
        "id": str(g.id),
    }


def group_limit(g: Group, base: str) -> dict[str, Any]:
    # One groupLimit per group, numbered as its group (as in the reference's example).
    return {
        "groupid": str(g.id),
        "limitMail": "0",
        "limitMailType": "month",
        "limitContact": str(g.limit_contact),
        "limitList": str(g.limit_list),
        "limitCampaign": "0",
        "limitCampaignType": "month",
        "limitAttachment": "-1",
        "limitUser": "0",
        "abuseRatio": "4",
        "forceSenderInfo": "0",
        "links": links(base, "groupLimits", g.id, ("group",)),
        "id": str(g.id),
        "group": str(g.id),
    }


def automation(a: Automation, base: str) -> dict[str, Any]:
    return {
        "name": a.name,
        "cdate": a.cdate,
        "mdate": a.cdate,
        "userid": "1",
        "status": "1",
        "entered": str(a.entered),
        # Its only step ends it: whoever entered has also left.
        "exited": str(a.entered),
        "hidden": "0",
        "defaultscreenshot": "http://img-us1.com/default-series.gif",
        "screenshot": "http://img-us1.com/default-series.gif",
        "links": links(base, "automations", a.id, AUTOMATION_LINKS),
        "id": str(a.id),
    }


def automation_start(a: Automation) -> dict[str, str]:
    """An entry of GET /automations' meta.starts: what starts the automation."""
    return {"id": str(a.id), "series": str(a.id), "type": "subscribe"}


# The variants of a contactAutomation: in GET /contactAutomations, in GET /contacts/{id}/contactAutomations
# and inside GET /contacts/{id}; they differ in keys and in whether the element counts are numbers.
LISTED, OF_CONTACT, IN_DETAIL = "listed", "of_contact", "in_detail"


def contact_automation(run: ContactAutomation, base: str, variant: str = LISTED) -> dict[str, Any]:
    counts_are_numbers = variant == OF_CONTACT
    out: dict[str, Any] = {
        "contact": str(run.contact_id),
        "seriesid": str(run.automation_id),
        "startid": "0",
        # 2: completed; the emulated automation ends as soon as it starts.
        "status": "2",
    }
    if variant != IN_DETAIL:
        out["batchid"] = run.batch_id
    out.update({"adddate": run.adddate, "remdate": run.adddate, "timespan": "0", "lastblock": "1"})
    if variant != IN_DETAIL:
        out["lastlogid"] = "0"
    out["lastdate"] = run.adddate
    if variant == OF_CONTACT:
        out["in_als"] = "0"
    out.update(
        {
            "completedElements": 1 if counts_are_numbers else "1",
            "totalElements": 1 if counts_are_numbers else "1",
            "completed": 1,
            "completeValue": 100,
            "links": links(
                base,
                "contactAutomations",
                run.id,
                (*CONTACT_AUTOMATION_LINKS, "automationLogs") if variant == OF_CONTACT else CONTACT_AUTOMATION_LINKS,
            ),
            "id": str(run.id),
            "automation": str(run.automation_id),
        }
    )
    return out
