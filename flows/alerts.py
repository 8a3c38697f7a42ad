"""The events behind the alerts `ac-sync setup` installs (deploy/failure-alert.yaml), beyond a typed failure's own
(resolutions/pause.py announces those with their playbook): any other failure, too many rejected rows, and a
list's recovery after a failed or crashed run. A crash cannot announce itself: Prefect's own Crashed event is
the alert's trigger for that.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from prefect.events import emit_event
from prefect.runtime import flow_run

from ac_sync.engine.errors import SyncInputError, one_line
from ac_sync.flows.records import PLAN_TAG, SUMMARY_PREFIX, list_key, list_tag, summary_table
from ac_sync.flows.summary import RunFailed

RUN_FAILED = "ac-sync.run.failed"
REJECTED_SHARE = "ac-sync.rejected-share"
RECOVERED = "ac-sync.recovered"


def _emit(event: str, payload: dict[str, Any]) -> None:
    if not flow_run.id:
        return
    run_id = str(flow_run.id)
    emit_event(
        event=event,
        resource={"prefect.resource.id": f"ac-sync.flow-run.{run_id}"},
        related=[{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}],
        payload=payload,
    )


@contextlib.asynccontextmanager
async def alerting(what: list[str]) -> AsyncIterator[None]:
    """Announce a run's failure of any cause but a typed one (whose playbook announced it already); `what`: the
    lists (or the syncs file) the alert names. A run whose syncs failed announces the untyped failures only."""
    try:
        yield
    except RunFailed as failed:
        untyped = [f for f in failed.failures if f.kind != "typed"]
        if untyped:
            lists = sorted({str(f.context.get("list_name") or f.sync) for f in untyped})
            reason = "; ".join(f"{f'sync {f.sync}: ' if f.sync else ''}{f.message}" for f in untyped)
            _emit(RUN_FAILED, {"message": reason, "error": untyped[0].code, "lists": lists})
        raise
    except Exception as exc:
        reason = str(exc) if isinstance(exc, SyncInputError) else f"{type(exc).__name__}: {one_line(exc)}"
        _emit(RUN_FAILED, {"message": reason, "error": type(exc).__name__, "lists": what})
        raise


async def completed(summary: dict[str, Any], rejected_share: float | None) -> None:
    """After a completed run of one list: a notice when too much of the audience was rejected, and one when the
    list's previous run had failed or crashed (it has recovered)."""
    name = summary.get("list_name")
    if not name or summary.get("status") != "completed":
        return
    rows, rejected = int(summary.get("audience_rows") or 0), int(summary.get("rejected") or 0)
    if rejected_share is not None and rows and rejected / rows > rejected_share:
        _emit(
            REJECTED_SHARE,
            {
                "code": "REJECTED_SHARE",
                "list": name,
                "rejected": rejected,
                "rows": rows,
                "text": f"ac-sync: {rejected} of {rows} rows of list {name!r} were rejected ({rejected / rows:.1%},"
                f" over AC_SYNC_ALERT_REJECTED_SHARE {rejected_share:.1%}); see {summary.get('verbose_log')}"
                + (" beside the sync state" if summary.get("verbose_log_root") else ""),
            },
        )
    if await _previous_run_failed(name):
        _emit(
            RECOVERED,
            {
                "code": "RECOVERED",
                "list": name,
                "rejected": rejected,
                "rows": rows,
                "text": f"ac-sync: list {name!r} synced again after a failed run (recovered)",
            },
        )


async def _previous_run_failed(list_name: str) -> bool:
    """Whether the list's last run before this one failed or crashed. A run of several lists failed for this
    one only if its summary of this list says so (or it left none, stopped by the failure before it)."""
    if not flow_run.id:
        return False
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    with contextlib.suppress(Exception):  # a notice, never the reason a sync fails
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[list_tag(list_name)])),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=10,
            )
            earlier = [
                r
                for r in runs
                if str(r.id) != str(flow_run.id) and r.state and r.state.is_final() and PLAN_TAG not in (r.tags or [])
            ]
            if not earlier or earlier[0].state is None:
                return False
            last = earlier[0]
            if last.state.type.value == "CRASHED":
                return True
            if last.state.type.value != "FAILED":
                return False
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[SUMMARY_PREFIX + list_key(list_name)]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[last.id]),
                )
            )
            statuses = [summary_table(a.data).get("status") for a in found]
            return not statuses or statuses[-1] == "failed"
    return False
