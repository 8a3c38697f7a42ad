"""Step 1, get-details: run the audience query and prepare the valid, normalised, deduplicated rows."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from ac_sync_engine.audience import count_audience
from ac_sync_engine.settings import SyncSettings
from tasks.caching import run_scoped


@task(name="get-details", cache_key_fn=run_scoped("get-details", "audience", "workdir"), persist_result=True)
async def get_details(audience: str, workdir: str) -> dict[str, Any]:
    db_path = Path(workdir) / "audience.duckdb"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    settings = SyncSettings()
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    # DuckDB releases the GIL, so the event loop (and the Prefect heartbeat) keep going meanwhile. An audience
    # file is only counted here; upload-contacts prepares it, and can start sending before it has finished.
    summary = await asyncio.to_thread(count_audience, audience, db_path, database_url=database_url)
    get_run_logger().info(
        "Audience: %d rows, %d valid, %d invalid, %d duplicates",
        summary.rows,
        summary.valid,
        summary.invalid,
        summary.duplicates,
    )
    return {"db_path": str(db_path), **asdict(summary)}
