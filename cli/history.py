"""`ac-sync history --list NAME`: a list's past runs, from the Prefect API (its runs' tags and summary tables)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from ac_sync.flows.records import SUMMARY_PREFIX, list_key, list_tag

SHOWN = ("added", "updated", "removed", "rejected")


async def list_history(list_name: str, limit: int = 20) -> list[dict[str, Any]]:
    """The list's last `limit` runs, newest first: when, status, the counts, duration, run id and name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[list_tag(list_name)])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
        )
        counts: dict[str, dict[str, Any]] = {}
        if runs:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[SUMMARY_PREFIX + list_key(list_name)]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs]),
                )
            )
            for artifact in found:
                data = artifact.data if isinstance(artifact.data, list) else json.loads(str(artifact.data or "[]"))
                counts[str(artifact.flow_run_id)] = {row.get(""): row.get("count") for row in data}
    out = []
    for run in runs:
        table = counts.get(str(run.id), {})
        started = run.start_time or run.expected_start_time
        ended = run.end_time
        out.append(
            {
                "flow_run_id": str(run.id),
                "name": run.name,
                "when": started.isoformat() if started else None,
                "status": (run.state.name if run.state else "?"),
                **{key: table.get(key) for key in SHOWN},
                "seconds": round((ended - started).total_seconds(), 1) if started and ended else None,
            }
        )
    return out


def print_history(list_name: str, rows: list[dict[str, Any]], console: Console, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"list_name": list_name, "runs": rows}) + "\n")
        return
    if not rows:
        console.print(f"No runs of list {list_name!r} in this Prefect API's history (runs are tagged list:NAME).")
        return
    table = Table(title=f"Runs of list {list_name!r}, newest first")
    for column in ("when (UTC)", "status", *SHOWN, "duration", "flow run"):
        table.add_column(column, justify="right" if column in SHOWN or column == "duration" else "left")
    for row in rows:
        when = datetime.fromisoformat(row["when"]).strftime("%Y-%m-%d %H:%M") if row["when"] else "?"
        numbers = ["–" if row[key] is None else str(row[key]) for key in SHOWN]
        took = "–" if row["seconds"] is None else f"{row['seconds']:.0f} s"
        table.add_row(when, row["status"], *numbers, took, row["flow_run_id"][:8])
    console.print(table)
