"""Step 1, get-details: run the audience query and count its rows (valid, invalid, duplicates); a campaign's
audience is split into its sub-audiences, each counted the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect import get_run_logger, task

from ac_sync.engine.audience import count_audience, pending_counts
from ac_sync.engine.audience.count import split_audience
from ac_sync.engine.audience.sandbox import QueryPolicy
from ac_sync.engine.results import AudienceDetails
from ac_sync.engine.settings import SyncSettings
from ac_sync.engine.syncs import SyncSpec
from ac_sync.tasks.caching import run_scoped


@task(name="get-details", cache_key_fn=run_scoped("get-details", "sync", "workdir"), persist_result=True)
async def get_details(sync: SyncSpec, workdir: str) -> AudienceDetails:
    db_path = Path(workdir) / "audience.duckdb"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    settings = SyncSettings()
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    # DuckDB releases the GIL, so the event loop (and the Prefect heartbeat) keep going meanwhile. The audience
    # is only counted here; upload-contacts prepares it, and can start sending before it has finished.
    policy = QueryPolicy.from_settings(settings)
    summary = await asyncio.to_thread(count_audience, sync.audience, db_path, database_url=database_url, policy=policy)
    for note in summary.notes:
        get_run_logger().warning(note)
    get_run_logger().info(
        "Audience: %d rows, %d valid, %d invalid, %d duplicates",
        summary.rows,
        summary.valid,
        summary.invalid,
        summary.duplicates,
    )
    parts: dict[str, AudienceDetails] = {}
    if sync.sub_audience:
        split = await asyncio.to_thread(split_audience, db_path, sync.sub_audience, Path(workdir) / "sub-audiences")
        for value, path in split.items():
            counted = pending_counts(path) or {}
            parts[value] = AudienceDetails(db_path=str(path), columns=summary.columns, **counted)
    return AudienceDetails(
        db_path=str(db_path),
        rows=summary.rows,
        valid=summary.valid,
        invalid=summary.invalid,
        duplicates=summary.duplicates,
        columns=summary.columns,
        parts=parts,
    )
