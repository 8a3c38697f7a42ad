"""Every column reaches ActiveCampaign: a marketer's export synced end to end, counted in the emulator's log."""

from __future__ import annotations

import asyncio
import csv
import math
import random
from pathlib import Path
from typing import Any

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.resolve import resolve
from tests.syncing import Admin, PauseWatch, create_field, sync

HEADER = ["Email", "First Name", "Last Name", "Phone Number", "Company", "Signup Date", "Plan", "Interests", "Notes"]
PLANS = ["Free", "pro", "Team", "Gold"]  # "pro" is the option Pro; "Gold" is no option
INTERESTS = ["news", "events; news", "offers, events", ""]


def write_export(path: Path, rows: int, *, company_suffix: dict[int, str] | None = None) -> list[list[str]]:
    rnd = random.Random(3)
    out = []
    for i in range(rows):
        suffix = (company_suffix or {}).get(i, "")
        out.append(
            [
                f"person{i}@example.com",
                f"First{i}",
                f"Last{i}",
                f"0{rnd.randrange(10**8, 10**9)}",
                f"Company {i % 17}{suffix}",
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 50 else "05/03/2024",
                PLANS[i % 4],
                INTERESTS[i % 4],
                f"note {i}",
            ]
        )
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(out)
    return out


@pytest.fixture
def fields(sync_env: EmulatorProcess) -> dict[str, int]:
    return {
        "COMPANY": create_field(sync_env, "Company", perstag="COMPANY"),
        "SIGNUP_DATE": create_field(sync_env, "Signup Date", "date", perstag="SIGNUP_DATE"),
        "PLAN": create_field(sync_env, "Plan", "dropdown", ["Free", "Pro", "Team"], perstag="PLAN"),
        "INTERESTS": create_field(sync_env, "Interests", "listbox", ["news", "events", "offers"], perstag="INTERESTS"),
    }


def rejected(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


async def test_a_spreadsheet_export_arrives_typed_and_changes_take_one_import_per_250(
    sync_env: EmulatorProcess, fields: dict[str, int], tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    export = tmp_path / "export.csv"
    rows = write_export(export, 2000)
    code, summary = await sync(audience=str(export), list_name="Customers", group_name="Admin")
    assert code == 0, summary
    assert admin.members("Customers") == {r[0] for r in rows}
    assert summary["mapping"] == {
        "Email": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Phone Number": "phone",
        "Company": "COMPANY",
        "Signup Date": "SIGNUP_DATE",
        "Plan": "PLAN",
        "Interests": "INTERESTS",
    }
    assert summary["unmapped"] == ["Notes"]
    one = admin.contact("person1@example.com")
    assert (one["first_name"], one["last_name"]) == ("First1", "Last1")
    assert one["fields"] == {
        str(fields["COMPANY"]): "Company 1",
        str(fields["SIGNUP_DATE"]): "2024-02-02",
        str(fields["PLAN"]): "Pro",
        str(fields["INTERESTS"]): "||events||news||",
    }
    # Row 3 (index 3): plan Gold, no option; its other values are there.
    gold = admin.contact("person3@example.com")
    assert str(fields["PLAN"]) not in gold["fields"] and gold["fields"][str(fields["COMPANY"])] == "Company 3"
    log = rejected(tmp_path / "rejected.csv")
    bad_plans = [r for r in log if r["column"] == "Plan"]
    bad_dates = [r for r in log if r["column"] == "Signup Date"]
    assert len(bad_plans) == 500 and {r["value"] for r in bad_plans} == {"Gold"}
    assert len(bad_dates) == 40 and {r["value"] for r in bad_dates} == {"05/03/2024"}
    assert summary["rejected"] == 0 and summary["rejected_values"] == 540

    since = len(admin.requests())
    changed = {i: " (new)" for i in range(0, 2000, 2000 // 300)[:300]}
    write_export(export, 2000, company_suffix=changed)
    code, summary = await sync(audience=str(export), list_name="Customers", group_name="Admin")
    assert code == 0, summary
    assert summary["plan"]["updates"] == 300
    assert admin.accepted_bulk(since) == math.ceil(300 / 250)
    assert admin.contact("person0@example.com")["fields"][str(fields["COMPANY"])] == "Company 0 (new)"


async def test_an_unchanged_export_writes_nothing(
    sync_env: EmulatorProcess, fields: dict[str, int], tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    export = tmp_path / "export.csv"
    write_export(export, 300)
    assert (await sync(audience=str(export), list_name="Customers", group_name="Admin"))[0] == 0
    since = len(admin.requests())
    code, summary = await sync(audience=str(export), list_name="Customers", group_name="Admin")
    assert code == 0 and summary["plan"]["unchanged"] == 300
    # The only write is the list's link to the group, made again on every run (the API cannot show it).
    assert [r["path"] for r in admin.requests()[since:] if r["method"] != "GET"] == ["/api/3/listGroups"]


async def test_ambiguous_and_unknown_fields_pause_before_any_write(
    sync_env: EmulatorProcess, pauses: PauseWatch, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    create_field(sync_env, "Plan", "text", perstag="PLAN_NAME")
    plan_2024 = create_field(sync_env, "Plan 2024", "text", perstag="PLAN")
    export = tmp_path / "export.csv"
    export.write_text("email,Plan,Region\na@example.com,Pro,North\nb@example.com,Free,South\n")
    task = asyncio.ensure_future(
        sync(audience=str(export), list_name="Plans", group_name="Admin", fields={"Region": "REGION"})
    )
    notice = await pauses.paused("AMBIGUOUS_FIELD")
    assert admin.count("POST", "bulk_import") == 0 and admin.count("POST", "contact/sync") == 0
    await resolve(notice.flow_run_id, "use-field", [f"field={plan_2024}"])
    notice = await pauses.paused("UNKNOWN_FIELD")
    assert "REGION" in notice.playbook
    await resolve(notice.flow_run_id, "create-field", ["field_type=dropdown"])
    code, summary = await task
    assert code == 0, summary
    assert summary["mapping"]["Plan"] == "PLAN" and summary["mapping"]["Region"] == "REGION"
    region = plan_2024 + 1  # the field create-field made
    assert admin.contact("b@example.com")["fields"] == {str(plan_2024): "Free", str(region): "South"}


async def test_clear_empty_and_tag_mirror_go_through_the_contact_api(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    company = create_field(sync_env, "Company", perstag="COMPANY")
    export = tmp_path / "export.csv"
    header = "email,first_name,Company,tags\n"
    export.write_text(header + 'a@example.com,Ann,Initech,"vip, spring"\nb@example.com,Bob,Globex,news\n')
    assert (await sync(audience=str(export), list_name="Tagged", group_name="Admin"))[0] == 0
    # Someone else tags Ann by hand; the tool must never take that one off.
    admin.post("/contacts", {"contacts": [{"email": "a@example.com", "tags": ["hand-made"]}]})
    export.write_text(header + "a@example.com,Ann,,vip\nb@example.com,,Globex,news\n")
    since = len(admin.requests())
    code, summary = await sync(
        audience=str(export), list_name="Tagged", group_name="Admin", clear_empty=True, tags="mirror"
    )
    assert code == 0, summary
    plan: dict[str, Any] = summary["plan"]
    assert (plan["clears"], plan["untags"]) == (2, 1)
    assert admin.accepted_bulk(since) == 0
    assert admin.count("POST", "/contact/sync", since) == 2
    assert admin.count("DELETE", "", since) == 1
    ann, bob = admin.contact("a@example.com"), admin.contact("b@example.com")
    assert ann["fields"].get(str(company), "") == "" and sorted(ann["tags"]) == ["hand-made", "vip"]
    assert bob["first_name"] == ""
    # Done once: the next run writes nothing.
    since = len(admin.requests())
    code, _ = await sync(audience=str(export), list_name="Tagged", group_name="Admin", clear_empty=True, tags="mirror")
    assert code == 0 and [r["path"] for r in admin.requests()[since:] if r["method"] != "GET"] == ["/api/3/listGroups"]


async def test_batches_stay_under_the_byte_limit_with_large_values(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    create_field(sync_env, "Biography", "textarea", perstag="BIO")
    export = tmp_path / "export.csv"
    with export.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "Biography"])
        writer.writerows([f"p{i}@example.com", "é" * 2500] for i in range(600))
    code, summary = await sync(audience=str(export), list_name="Long", group_name="Admin")
    assert code == 0, summary
    bulk = admin.bulk_imports()
    # ~5 KB a contact: about 75 a batch, not 250; none refused for its size.
    assert len(bulk) == summary["plan"]["requests"]["bulk_import"] > math.ceil(600 / 250)
    assert all(r["status"] == 200 for r in bulk)
    assert len(admin.members("Long")) == 600


async def test_a_field_the_list_cannot_show_is_related_before_the_first_import(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    admin.config(unrelated_field="ignore")
    company = create_field(sync_env, "Company", perstag="COMPANY")
    export = tmp_path / "export.csv"
    export.write_text("email,Company\na@example.com,Initech\n")
    code, summary = await sync(audience=str(export), list_name="Related", group_name="Admin")
    assert code == 0, summary
    log = admin.requests()
    rel = next(i for i, r in enumerate(log) if r["path"].endswith("/fieldRels"))
    first_write = next(
        i for i, r in enumerate(log) if r["method"] == "POST" and r["path"].endswith(("bulk_import", "contact/sync"))
    )
    assert rel < first_write
    assert admin.contact("a@example.com")["fields"] == {str(company): "Initech"}


@pytest.mark.parametrize("kind", ["dropdown", "listbox", "radio"])
async def test_a_choice_field_with_no_options_is_values_not_sent_never_a_parser_error(
    sync_env: EmulatorProcess, tmp_path: Path, kind: str
) -> None:
    admin = Admin(sync_env.base_url)
    create_field(sync_env, "Plan", kind, [], perstag="PLAN")  # retyped to a choice, its options not made yet
    export = tmp_path / "export.csv"
    export.write_text("email,Plan\na@example.com,Pro\nb@example.com,Free\nc@example.com,\n")
    code, summary = await sync(audience=str(export), list_name="Choices", group_name="Admin")
    assert code == 0, summary
    assert admin.members("Choices") == {"a@example.com", "b@example.com", "c@example.com"}
    assert summary["rejected_values"] == 2, summary
    assert admin.contact("a@example.com")["fields"] == {}
