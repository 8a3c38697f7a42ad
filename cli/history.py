"""`ac-sync history --list NAME`: a list's past runs, from the Prefect API (its runs' tags and summary tables)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from ac_sync.flows.records import PLAN_TAG, SUMMARY_PREFIX, list_key, list_tag, summary_table

SHOWN = ("added", "updated", "removed", "rejected")


async def list_history(list_name: str, limit: int = 20, *, plans: bool = False) -> list[dict[str, Any]]:
    """The list's last `limit` runs, newest first: when, status, the counts, duration, run id and name. A plan
    (a dry run) adds nothing: it is left out, or, with `plans`, listed with `"kind": "plan"` and no counts."""
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
            limit=limit if plans else limit * 4,  # plans, left out here, are among them
        )
        if not plans:
            runs = [r for r in runs if PLAN_TAG not in (r.tags or [])][:limit]
        counts: dict[str, dict[str, Any]] = {}
        if runs:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[SUMMARY_PREFIX + list_key(list_name)]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs]),
                )
            )
            for artifact in found:
                counts[str(artifact.flow_run_id)] = summary_table(artifact.data)
    out = []
    for run in runs:
        table = counts.get(str(run.id), {})
        started = run.start_time or run.expected_start_time
        ended = run.end_time
        kind = "plan" if PLAN_TAG in (run.tags or []) else "run"
        out.append(
            {
                "flow_run_id": str(run.id),
                "name": run.name,
                "kind": kind,
                "when": started.isoformat() if started else None,
                "status": (run.state.name if run.state else "?"),
                **{key: table.get(key) if kind == "run" else None for key in SHOWN},
                "confirmed_earlier": table.get("confirmed from earlier batches") if kind == "run" else None,
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
    for column in ("when (UTC)", "kind", "status", *SHOWN, "duration", "flow run"):
        table.add_column(column, justify="right" if column in SHOWN or column == "duration" else "left")
    for row in rows:
        when = datetime.fromisoformat(row["when"]).strftime("%Y-%m-%d %H:%M") if row["when"] else "?"
        numbers = ["–" if row[key] is None else str(row[key]) for key in SHOWN]
        took = "–" if row["seconds"] is None else f"{row['seconds']:.0f} s"
        table.add_row(when, row["kind"], row["status"], *numbers, took, row["flow_run_id"][:8])
    console.print(table)
