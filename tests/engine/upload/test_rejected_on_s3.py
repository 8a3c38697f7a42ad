"""A sync state on an object store keeps its rejected rows there too: private objects beside the state, named
relative to it in the summary, pruned as set, and listed, printed and searched by `ac-sync rejected` from there;
nothing holding the audience is left on this machine."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import boto3
import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.engine.upload.conftest import S3
from tests.syncing import ac_sync_cli, sync

TOKEN = "qz6bucket"


def object_grants(s3: S3, bucket: str, key: str) -> list[tuple[str, str]]:
    """Who may do what with one object, as the store answers it (the owner's id or a group's URI)."""
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="eu-west-1",
    )
    grants = client.get_object_acl(Bucket=bucket.removeprefix("s3://"), Key=key)["Grants"]
    return [(g["Grantee"].get("URI") or g["Grantee"].get("Type", ""), g["Permission"]) for g in grants]


async def test_rejected_rows_of_a_state_on_s3_stay_in_the_bucket_private(
    sync_env: EmulatorProcess, s3: S3, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AC_SYNC_VERBOSE_LOG_PATH")  # the default: beside the sync state
    monkeypatch.setenv("AC_SYNC_STATE", f"{bucket}/state")
    monkeypatch.setenv("AC_SYNC_REJECTED_KEEP_RUNS", "1")
    named = []
    for run in range(2):
        sample = write_sample(tmp_path / f"a{run}.csv", 80, seed=run, salt=TOKEN, malformed_ratio=0.2)
        code, summary = await sync(audience=str(sample.path), list_name="On S3", group_name="Admin")
        assert code == 0 and summary["invalid"] > 0, summary
        assert summary["verbose_log_root"] == f"{bucket}/state", summary  # named relative to the state
        assert summary["verbose_log"].startswith("rejected/On S3/"), summary
        named.append(summary["verbose_log"])

    import s3fs

    store = s3fs.S3FileSystem(skip_instance_cache=True, **s3.options)  # type: ignore[arg-type]
    prefix = f"{bucket.removeprefix('s3://')}/state/rejected/On S3"
    kept = store.ls(prefix)
    assert [k.rsplit("/", 1)[-1] for k in kept] == [named[1].rsplit("/", 1)[-1]]  # AC_SYNC_REJECTED_KEEP_RUNS=1
    key = kept[0].split("/", 1)[1]
    # The owner alone: no grant to everyone or to any authenticated user.
    assert [permission for _, permission in object_grants(s3, bucket, key)] == ["FULL_CONTROL"]
    assert not any("AllUsers" in who or "AuthenticatedUsers" in who for who, _ in object_grants(s3, bucket, key))
    inputs = {f"a{run}.csv" for run in range(2)}
    here = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in inputs]
    assert not any(TOKEN in p.read_text(errors="replace") for p in here)  # nothing of the audience left here

    listed = ac_sync_cli("rejected", "--list", "On S3", "--json")
    assert listed.returncode == 0, listed.stderr
    (one,) = json.loads(listed.stdout)["files"]
    assert one["file"].startswith("s3://") and one["rows"] > 0
    printed = ac_sync_cli("rejected", named[1])  # by the name the summary gives
    assert printed.returncode == 0 and TOKEN in printed.stdout.lower(), printed.stderr
    digest = next(csv.DictReader(io.StringIO(printed.stdout)))["digest"]
    found = ac_sync_cli("rejected", "--find", digest)
    assert found.returncode == 0 and TOKEN in found.stdout.lower(), found.stderr
