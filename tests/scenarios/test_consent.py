"""Consent is decided by the present: a contact's latest list change, not the tool's ledger, says who may come back.

The story: a mirror sync removes some people; then some of them change their own status in ActiveCampaign
(re-subscribe, unsubscribe again); then they all come back into the audience. Only those whose latest change is
still the tool's own removal are re-subscribed.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.engine.consent import consent_record
from tests.scenarios.test_real_account import verify
from tests.syncing import Admin, api_request, sync

PEOPLE = [f"p{i}@example.com" for i in range(60)]


def write(path: Path, emails: list[str]) -> str:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "first_name"])
        out.writerows([e, e.split("@")[0]] for e in emails)
    return str(path)


def later() -> str:
    # A change made after the tool's removal, stamped plainly later (the API's clock has one-second steps).
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")


def list_writes(admin: Admin, since: int) -> list[dict[str, object]]:
    return [r for r in admin.requests()[since:] if r["method"] == "POST" and r["path"].endswith("/contactLists")]


# ActiveCampaign's clock against this machine's: the decision uses only ActiveCampaign's stamps, so it is the same.
# Four removals go through the contact API (the removal's own udate is read back), 24 in a bulk import (the
# Date of the answer that confirmed it).
@pytest.mark.parametrize("clock_offset_s", [0, 600, -600], ids=["same-clock", "ac-10-min-ahead", "ac-10-min-behind"])
@pytest.mark.parametrize("removals", [4, 24], ids=["contact-api", "bulk"])
async def test_remove_self_resubscribe_self_unsubscribe_then_return(
    sync_env: EmulatorProcess, tmp_path: Path, clock_offset_s: int, removals: int
) -> None:
    admin = Admin(sync_env.base_url)
    admin.post("/config", {"clock_offset_s": clock_offset_s})
    audience = tmp_path / "a.csv"
    common = {"audience": str(audience), "list_name": "Consent", "group_name": "Admin", "mode": "mirror"}
    write(audience, PEOPLE)
    code, summary = await sync(**common)
    assert code == 0, summary
    list_id = str(summary["list_id"])
    removed = PEOPLE[:removals]
    write(audience, PEOPLE[removals:])
    code, summary = await sync(**common, max_removals="50%")
    assert code == 0 and summary["unsubscribed"] == removals, summary

    back_untouched, came_and_went, came_back = removed[0], removed[1], removed[2]
    never_ours = PEOPLE[removals + 6]
    admin.post(
        "/contacts",
        {
            "contacts": [
                # re-subscribed themselves, then unsubscribed themselves again: the latest change is theirs
                {"email": came_and_went, "lists": {list_id: 2}, "list_udate": later()},
                # re-subscribed themselves and stayed
                {"email": came_back, "lists": {list_id: 1}, "list_udate": later()},
                # opted out by themselves while in the audience: never this tool's
                {"email": never_ours, "lists": {list_id: 2}, "list_udate": later()},
            ]
        },
    )
    since = len(admin.requests())
    write(audience, PEOPLE)
    code, summary = await sync(**common)
    assert code == 0, summary
    # Everyone removed but came_and_went (theirs is the latest change) and came_back (back by themselves).
    assert summary["resubscribed"] == removals - 2
    assert summary["held"] == 1  # came_and_went: counted, not guessed
    active, unsubscribed = admin.members("Consent"), admin.members("Consent", status=2)
    assert back_untouched in active and came_back in active
    assert came_and_went in unsubscribed and never_ours in unsubscribed
    assert set(removed[3:]) <= active
    # One contactLists write per re-subscription, with the source the reference asks for.
    writes = list_writes(admin, since)
    assert len(writes) == removals - 2  # came_and_went is left out
    contact_id = api_request(sync_env, "GET", "/contacts", params={"email": back_untouched})["contacts"][0]["id"]
    memberships = api_request(sync_env, "GET", f"/contacts/{contact_id}/contactLists")["contactLists"]
    assert [m["sourceid"] for m in memberships if m["list"] == list_id] == ["4"]

    # The person who changed their mind twice is remembered as opted out: the next run does not even ask.
    since = len(admin.requests())
    code, summary = await sync(**common)
    assert code == 0 and list_writes(admin, since) == []
    assert came_and_went in admin.members("Consent", status=2)

    # The consent record says who was removed, who opted out and how, and whom the tool re-subscribed on what.
    (record,) = consent_record(str(tmp_path / "state"), "Consent")
    opted = {r["email"]: r for r in record.opted_out}
    assert set(opted) == {came_and_went, never_ours}
    assert opted[came_and_went]["how"] == "their list status changed after this tool removed them"
    assert opted[came_and_went]["changed_at"] > opted[came_and_went]["removed_at"]
    assert opted[never_ours]["how"].startswith("unsubscribed from the list by themselves while in the audience")
    again = {r["email"]: r for r in record.resubscribed}
    assert set(again) == {back_untouched, *removed[3:]}
    assert all(r["changed_at"] and r["removed_at"] for r in again.values())
    assert record.opted_out_but_subscribed == []


async def test_opted_out_of_one_of_two_overlapping_lists(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    """In a merged account run: a contact who opted out of one list stays out of it and on the other, and one the
    mirror list removes keeps, on the other list, the values that list sends (the removal carries none)."""
    admin = Admin(sync_env.base_url)
    both = PEOPLE[:30]
    write(tmp_path / "news.csv", both)
    write(tmp_path / "vip.csv", both)
    spec = tmp_path / "syncs.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "defaults": {"group": "Admin"},
                "syncs": [
                    {"name": "vip", "audience": "vip.csv", "list": "VIP", "mode": "mirror"},
                    {"name": "news", "audience": "news.csv", "list": "News"},
                ],
            }
        )
    )
    code, summary = await sync(syncs=str(spec))
    assert code == 0, summary
    vip_id = str(summary["syncs"]["vip"]["list_id"])
    opted, leaving = both[0], both[1]
    admin.post("/contacts", {"contacts": [{"email": opted, "lists": {vip_id: 2}, "list_udate": later()}]})
    write(tmp_path / "vip.csv", [e for e in both if e != leaving])  # the mirror list drops one contact
    with (tmp_path / "news.csv").open("w", newline="") as fh:  # the other list renames everyone
        out = csv.writer(fh)
        out.writerow(["email", "first_name"])
        out.writerows([e, f"New {e.split('@')[0]}"] for e in both)
    code, summary = await sync(syncs=str(spec))
    assert code == 0, summary
    assert summary["syncs"]["vip"]["removed"] == 1 and summary["syncs"]["vip"]["resubscribed"] == 0
    assert opted in admin.members("VIP", status=2) and opted in admin.members("News")
    assert leaving in admin.members("VIP", status=2) and leaving in admin.members("News")
    contact = api_request(sync_env, "GET", "/contacts", params={"email": leaving})["contacts"][0]
    assert contact["firstName"] == f"New {leaving.split('@')[0]}"
    (record,) = consent_record(str(tmp_path / "state"), "VIP")
    assert {r["email"] for r in record.opted_out} == {opted} and record.opted_out_but_subscribed == []
    assert {r["email"] for r in record.removed} == {leaving}


async def test_verify_repair_puts_back_the_deleted_and_never_the_unsubscribed(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    audience = write(tmp_path / "a.csv", PEOPLE[:20])
    code, summary = await sync(audience=audience, list_name="Checked", group_name="Admin")
    assert code == 0, summary
    list_id = str(summary["list_id"])
    themselves, deleted = PEOPLE[:3], PEOPLE[3:5]
    admin.post(
        "/contacts", {"contacts": [{"email": e, "lists": {list_id: 2}, "list_udate": later()} for e in themselves]}
    )
    for email in deleted:
        contact_id = api_request(sync_env, "GET", "/contacts", params={"email": email})["contacts"][0]["id"]
        api_request(sync_env, "DELETE", f"/contacts/{contact_id}")
    code, report = await verify(list_name="Checked", group_name="Admin", repair_missing=True)
    assert code == 0 and (report["repaired"], report["opted_out"]) == (2, 3), report
    assert set(themselves) <= admin.members("Checked", status=2)
    assert admin.members("Checked") == set(PEOPLE[3:20])


async def test_a_campaign_sub_audience_keeps_the_same_consent(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    """A campaign's sub-audience lists go through the same rule: removed by the tool, then a change of their
    own, then back in the audience — only those whose latest change is the tool's removal are re-subscribed."""
    admin = Admin(sync_env.base_url)
    arm = {e: "treatment" if i % 2 else "control" for i, e in enumerate(PEOPLE[:40])}
    treatment = [e for e, a in arm.items() if a == "treatment"]

    def audience(members: list[str]) -> None:
        with (tmp_path / "spring.csv").open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["email", "arm"])
            out.writerows([e, arm[e]] for e in members)

    spec = tmp_path / "syncs.yaml"
    campaign = {
        "name": "spring",
        "audience": "spring.csv",
        "campaign": "Spring",
        "sub_audience": "arm",
        "list_template": "{campaign_name} – {sub_audience}",
        "mode": "mirror",
        "max_removals": "50%",
    }
    spec.write_text(yaml.safe_dump({"defaults": {"group": "Admin"}, "syncs": [campaign]}))
    audience(list(arm))
    code, summary = await sync(syncs=str(spec))
    assert code == 0, summary
    list_id = str(summary["syncs"]["spring"]["sub_audiences"]["treatment"]["list_id"])
    removed = treatment[:5]
    audience([e for e in arm if e not in removed])
    code, summary = await sync(syncs=str(spec))
    assert code == 0 and summary["syncs"]["spring"]["sub_audiences"]["treatment"]["unsubscribed"] == 5, summary

    came_and_went, came_back, never_ours = removed[0], removed[1], treatment[7]
    admin.post(
        "/contacts",
        {
            "contacts": [
                {"email": came_and_went, "lists": {list_id: 2}, "list_udate": later()},
                {"email": came_back, "lists": {list_id: 1}, "list_udate": later()},
                {"email": never_ours, "lists": {list_id: 2}, "list_udate": later()},
            ]
        },
    )
    audience(list(arm))
    code, summary = await sync(syncs=str(spec))
    assert code == 0, summary
    part = summary["syncs"]["spring"]["sub_audiences"]["treatment"]
    assert (part["resubscribed"], part["held"]) == (3, 1), part
    assert came_and_went in admin.members("Spring – treatment", status=2)
    assert never_ours in admin.members("Spring – treatment", status=2)
    assert admin.members("Spring – treatment") == set(treatment) - {came_and_went, never_ours}
    assert admin.members("Spring – control") == {e for e, a in arm.items() if a == "control"}
    (record,) = consent_record(str(tmp_path / "state"), "Spring – treatment")
    assert {r["email"] for r in record.opted_out} == {came_and_went, never_ours}
    assert record.opted_out_but_subscribed == []


@pytest.mark.parametrize("repair_bounced", [False, True], ids=["repair", "repair-bounced"])
async def test_verify_repair_leaves_bounced_contacts_off_unless_asked(
    sync_env: EmulatorProcess, tmp_path: Path, repair_bounced: bool
) -> None:
    admin = Admin(sync_env.base_url)
    audience = write(tmp_path / "a.csv", PEOPLE[:20])
    code, summary = await sync(audience=audience, list_name="Bounces", group_name="Admin")
    assert code == 0, summary
    list_id = str(summary["list_id"])
    bounced, deleted = PEOPLE[:3], PEOPLE[3:5]
    admin.post("/contacts", {"contacts": [{"email": e, "lists": {list_id: 3}} for e in bounced]})
    for email in deleted:
        contact_id = api_request(sync_env, "GET", "/contacts", params={"email": email})["contacts"][0]["id"]
        api_request(sync_env, "DELETE", f"/contacts/{contact_id}")
    code, report = await verify(
        list_name="Bounces", group_name="Admin", repair_missing=True, repair_bounced=repair_bounced
    )
    if repair_bounced:
        assert code == 0 and (report["repaired"], report["bounced"]) == (5, 0), report
        assert admin.members("Bounces") == set(PEOPLE[:20])
    else:
        # The deleted come back; the bounced stay bounced, and the list still differs by them.
        assert code == 1 and (report["repaired"], report["missing"], report["bounced"]) == (2, 3, 3), report
        assert admin.members("Bounces", status=3) == set(bounced)
        assert admin.members("Bounces") == set(PEOPLE[3:20])
