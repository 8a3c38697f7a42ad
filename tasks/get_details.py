"""Step 1, get-details: run the audience query and prepare the valid, normalised, deduplicated rows."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from ac_sync.engine.audience import count_audience, pending_counts
from ac_sync.engine.audience.count import split_audience
from ac_sync.engine.settings import SyncSettings
from ac_sync.tasks.caching import run_scoped


@task(
    name="get-details",
    cache_key_fn=run_scoped("get-details", "audience", "workdir", "sub_audience"),
    persist_result=True,
)
async def get_details(audience: str, workdir: str, sub_audience: str | None = None) -> dict[str, Any]:
    """With `sub_audience` (a column), also the audience split by its values: `parts`, each counted the same."""
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
    details: dict[str, Any] = {"db_path": str(db_path), **asdict(summary)}
    if sub_audience:
        parts = await asyncio.to_thread(split_audience, db_path, sub_audience, Path(workdir) / "sub-audiences")
        details["parts"] = {
            value: {"db_path": str(path), **(pending_counts(path) or {})} for value, path in parts.items()
        }
    return details
