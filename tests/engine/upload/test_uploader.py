"""How upload-contacts handles what the bulk import API answers: format 400s, failed batches, exclusions."""

from __future__ import annotations

import csv
from pathlib import Path

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.syncing import Admin, sync


def bulk_posts(log: list[dict]) -> list[dict]:
    return [r for r in log if r["method"] == "POST" and r["path"].endswith("/import/bulk_import")]


def rejected(path: Path) -> dict[str, str]:
    with path.open(newline="") as fh:
        return {r["email"]: r["reason"] for r in csv.DictReader(fh)}


async def test_format_400_moves_named_contacts_to_the_log_and_resends_the_rest(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 400, malformed_ratio=0, duplicate_ratio=0)
    # ActiveCampaign's own check may be stricter than ours: make it refuse contacts 3 and 7 of one batch.
    body = {
        "success": 0,
        "message": "JSON payload did not pass validation.",
        "failureReasons": [
            {"contact": 3, "failureReason": "Field' email' incorrect format"},
            {"contact": 7, "failureReason": "Field' email' incorrect format"},
        ],
    }
    admin.post(
        "/faults", {"rules": [{"method": "POST", "path": "bulk_import", "status": 400, "body": body, "times": 1}]}
    )
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0, summary
    first_batch = sorted(sample.valid, key=lambda e: int(e.split("@")[0].removeprefix("person")))[:250]
    refused = {first_batch[3], first_batch[7]}
    assert admin.members("L") == set(sample.valid) - refused
    reasons = rejected(tmp_path / "rejected.csv")
    assert {e: reasons[e] for e in refused} == {
        e: "rejected by ActiveCampaign: Field' email' incorrect format" for e in refused
    }
    statuses = [r["status"] for r in bulk_posts(admin.requests())]
    assert statuses == [400, 200, 200]  # the refused batch once, its rest once, the second batch once
    assert summary["rejected"] == 2


async def test_failed_and_interrupted_batches_are_resent(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 1000, malformed_ratio=0, duplicate_ratio=0)
    admin.post(
        "/faults",
        {
            "rules": [
                {"method": "POST", "path": "bulk_import", "import_status": "failed", "times": 1},
                {"method": "POST", "path": "bulk_import", "import_status": "interrupted", "times": 1},
            ]
        },
    )
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)
    assert len(bulk_posts(admin.requests())) == 4 + 2
    assert summary["batches_resent"] == 2


async def test_batch_failing_every_time_ends_in_the_log_not_lost(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 300, malformed_ratio=0, duplicate_ratio=0)
    admin.post("/faults", {"rules": [{"method": "POST", "path": "bulk_import", "import_status": "failed"}]})
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0, summary
    reasons = rejected(tmp_path / "rejected.csv")
    assert set(reasons) == set(sample.valid)
    assert all(r == "batch import ended failed 3 times" for r in reasons.values())
    assert len(bulk_posts(admin.requests())) == 2 * 3


async def test_excluded_addresses_are_reported_as_rejected_by_activecampaign(
    sync_env: EmulatorProcess, tmp_path: Path
) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 300, malformed_ratio=0, duplicate_ratio=0)
    excluded = sorted(sample.valid)[:3]
    admin.post("/exclusions", {"emails": excluded})
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid) - set(excluded)
    reasons = rejected(tmp_path / "rejected.csv")
    assert set(reasons) == set(excluded)
    assert all("not imported by ActiveCampaign" in r for r in reasons.values())


async def test_opted_out_contact_is_not_resubscribed(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    sample = write_sample(tmp_path / "a.csv", 300, malformed_ratio=0, duplicate_ratio=0)
    code, _ = await sync(audience=str(sample.path), list_name="L", group_name="Admin")
    assert code == 0
    list_id = admin.state()["lists"][0]["id"]
    opted_out = sorted(sample.valid)[0]
    admin.post("/contacts", {"contacts": [{"email": opted_out, "lists": {str(list_id): 2}}]})
    code, _ = await sync(audience=str(sample.path), list_name="L", group_name="Admin", full_resync=True)
    assert code == 0
    assert admin.members("L", status=2) == {opted_out}
    assert "/api/3/contactLists" not in [r["path"] for r in admin.requests()]
