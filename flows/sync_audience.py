"""The `sync-audience` flow: the five steps, composed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from ac_sync.audience import rejected_rows, write_rejected_csv
from ac_sync.credentials import load_credentials
from ac_sync.errors import ConfigError
from ac_sync.settings import SyncSettings
from activecampaign.client import ACClient
from activecampaign.ratelimit import AccountLimits
from tasks.ensure_group import ensure_group
from tasks.ensure_list import ensure_list
from tasks.get_details import get_details
from tasks.upload_contacts import upload_contacts
from tasks.validate_credentials import validate_credentials


def summary_markdown(summary: dict[str, Any]) -> str:
    req = summary["requests"]
    lines = [
        f"# ac-sync: {summary['status']}",
        "",
        f"List **{summary.get('list_name')}** (id {summary.get('list_id')}) for group "
        f"**{summary.get('group_name')}** (id {summary.get('group_id')}).",
        "",
        "| | count |",
        "|---|---:|",
    ]
    for key in ("audience_rows", "valid", "invalid", "duplicates", "subscribed", "unsubscribed", "rejected"):
        lines.append(f"| {key.replace('_', ' ')} | {summary.get(key, 0)} |")
    lines += [
        "",
        f"Requests: {req.get('total', 0)} in all, {req.get('bulk_import', 0)} bulk imports, "
        f"{req.get('429', 0)} answered 429.",
    ]
    return "\n".join(lines)


@flow(name="sync-audience", log_prints=False)
async def sync_audience(
    audience: str,
    list_name: str | None = None,
    group_name: str | None = None,
    state: str | None = None,
    verbose_log: str | None = None,
    credentials_block: str | None = None,
    batch_size: int | None = None,
    full_resync: bool = False,
) -> dict[str, Any]:
    """Send the rows of `audience` into the list `list_name` that the user group `group_name` can see."""
    log = get_run_logger()
    settings = SyncSettings()
    list_name = list_name or settings.list_name
    group_name = group_name or settings.group_name
    if not list_name or not group_name:
        raise ConfigError("name the list and the group (--list/--group, or AC_SYNC_LIST_NAME/AC_SYNC_GROUP_NAME)")
    state_location = state or settings.state
    run_id = str(flow_run.id or "local")
    workdir = Path(".ac-sync/work") / run_id

    details = await get_details(audience, str(workdir))
    api_url, api_key = await load_credentials(credentials_block, settings)
    summary: dict[str, Any] = {
        "status": "completed",
        "flow_run_id": run_id,
        "list_name": list_name,
        "group_name": group_name,
        "audience_rows": details["rows"],
        "valid": details["valid"],
        "invalid": details["invalid"],
        "duplicates": details["duplicates"],
        "failure": None,
    }
    async with ACClient(api_url, api_key, limits=AccountLimits(time_scale=settings.time_scale)) as client:
        await validate_credentials(client)
        group_id = await ensure_group(client, group_name)
        listed = await ensure_list(
            client,
            list_name,
            group_id,
            state_location,
            settings.list_sender_url,
            settings.list_sender_reminder,
        )
        uploaded = await upload_contacts(
            client,
            details["db_path"],
            int(listed["list_id"]),
            state_location,
            batch_size=batch_size or settings.batch_size,
            full_resync=full_resync,
        )
        summary["requests"] = client.stats.as_dict()
    con = duckdb.connect(details["db_path"], read_only=True)
    rejected_total = con.execute("SELECT count(*) FROM rejected").fetchone()[0]  # type: ignore[index]
    con.close()
    summary.update(
        group_id=group_id,
        list_id=int(listed["list_id"]),
        list_created=bool(listed["created"]),
        subscribed=uploaded["subscribed"],
        unsubscribed=uploaded["unsubscribed"],
        rejected=rejected_total,
        batches=uploaded["batches"],
        batches_resent=uploaded["batches_resent"],
    )
    log_path = verbose_log or (str(settings.verbose_log_path) if settings.verbose_log else None)
    if log_path:
        written = write_rejected_csv(Path(details["db_path"]), Path(log_path))
        summary["verbose_log"] = log_path
        log.info("Wrote %d rejected rows to %s", written, log_path)
        if written:
            await create_table_artifact(
                rejected_rows(Path(details["db_path"]), 1000),
                key="rejected-rows",
                description=f"Rejected rows (first 1000 of {written}); full list in {log_path}",
            )
    await create_markdown_artifact(summary_markdown(summary), key="sync-summary", description="ac-sync run summary")
    shutil.rmtree(workdir, ignore_errors=True)
    return summary
