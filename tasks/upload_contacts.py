"""Step 5, upload-contacts: write what changed — bulk subscribe/unsubscribe, consent-safe re-subscribes."""

from __future__ import annotations

import contextlib
import time
from typing import Any
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.audience.mapping import MappingProblem, choices_from_document
from ac_sync.engine.progress import CONFIRMING, MAPPING, PREPARING, UPLOADING, Phase, Progress, publish
from ac_sync.engine.upload import MIRROR, ListSync, SyncOptions
from ac_sync.engine.upload.sync import Plan
from ac_sync.engine.verify import verify_due
from ac_sync.resolutions.classify import typed_failures
from ac_sync.resolutions.failures import AmbiguousField, SyncFailure, TooManyRemovals, UnknownField
from ac_sync.tasks.caching import run_scoped
from ac_sync.tasks.confirming import list_still_there
from ac_sync.tasks.locking import run_lock


class _UiProgress:
    """The run's progress artifact in the Prefect UI, and the notices the command line shows."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.artifact_id: UUID | None = None
        self._updated = 0.0

    async def start(self) -> None:
        publish(Phase(UPLOADING))
        publish(Progress(0, self.total, 0))
        self.artifact_id = await create_progress_artifact(0.0, description=f"Writing {self.total} contacts")

    async def update(self, done: int, total: int, batches: int) -> None:
        self.total = total
        publish(Progress(done, total, batches))
        # The artifact is a Prefect API call: once a second is plenty for the UI, and it keeps the
        # confirmation loop fast.
        if self.artifact_id is not None and time.monotonic() - self._updated >= 1.0:
            self._updated = time.monotonic()
            pct = min(100.0 * done / total if total else 100.0, 100.0)
            await update_progress_artifact(self.artifact_id, pct, description=f"{done} of {total} contacts")

    async def finish(self, batches: int) -> None:
        if self.artifact_id is not None:
            done = f"{self.total} of {self.total} contacts"
            await update_progress_artifact(self.artifact_id, 100.0, description=done)
        publish(Progress(self.total, self.total, batches))


PLAN_EXAMPLES = 25  # emails of each change a plan names (`ac-sync plan --show N` prints N of them)


def plan_examples(con: Any, n: int = PLAN_EXAMPLES) -> dict[str, list[str]]:
    """A few emails of each change, from the planner's tables, in audience order."""
    queries = {
        "adds": "SELECT email FROM to_send WHERE verdict = 'add' ORDER BY source_row",
        "updates": "SELECT email FROM (SELECT email, source_row FROM to_send WHERE verdict = 'update'"
        " UNION SELECT email, source_row FROM contact_writes) ORDER BY source_row",
        "removals": "SELECT email FROM leavers WHERE NOT opted_out ORDER BY email",
    }
    return {kind: [row[0] for row in con.execute(f"{sql} LIMIT {int(n)}").fetchall()] for kind, sql in queries.items()}


def mapping_failure(problem: MappingProblem) -> SyncFailure:
    kind = AmbiguousField if problem.kind == "ambiguous" else UnknownField
    return kind(
        str(problem),
        step="upload-contacts",
        column=problem.column,
        wanted=problem.wanted,
        candidates=[f"{f.perstag} (id {f.id})" for f in problem.candidates],
    )


async def planned(
    sync: ListSync, *, dry_run: bool, approve_removals: bool, list_name: str | None, label: str = ""
) -> Plan:
    """The list's plan: its pending batches confirmed first, its columns mapped (a mapping problem is a typed
    failure), and, outside a dry run (whose plan shows the removals), a mirror plan over its removal limit
    stopped as TOO_MANY_REMOVALS. `label` names the list in the phases the terminal shows (an account run)."""
    if not dry_run:
        queued = "what an earlier run left queued, if anything"
        publish(Phase(CONFIRMING, f"{label}: {queued}" if label else queued))
        await sync.resume()
    publish(Phase(MAPPING, label))
    try:
        await sync.map(dry_run=dry_run)
    except MappingProblem as problem:
        raise mapping_failure(problem) from None
    publish(Phase(PREPARING, label))
    plan = await sync.plan(dry_run=dry_run)
    removals, limit = plan.counts.removals, plan.max_removals
    if not dry_run and sync.options.mode == MIRROR and removals > limit and not approve_removals:
        raise TooManyRemovals(
            f"the sync would unsubscribe {removals} contacts, over the limit of {limit}",
            step="upload-contacts",
            list_id=sync.list_id,
            list_name=list_name,
            removals=removals,
            limit=limit,
        )
    return plan


@task(
    name="upload-contacts",
    cache_key_fn=run_scoped(
        "upload-contacts",
        "db_path",
        "list_id",
        "full_resync",
        "mode",
        "approve_removals",
        "dry_run",
        "fields",
        "create_fields",
        "clear_empty",
        "tags",
        "automations",
    ),
    persist_result=True,
)
async def upload_contacts(
    client: ACClient,
    db_path: str,
    list_id: int | None,
    state_location: str,
    batch_size: int = 250,
    full_resync: bool = False,
    mode: str = "upsert",
    max_removals: str | None = None,
    approve_removals: bool = False,
    dry_run: bool = False,
    list_created: bool = False,
    fields: dict[str, Any] | None = None,
    create_fields: dict[str, str] | None = None,
    clear_empty: bool = False,
    tags: str = "add",
    automations: str = "skip",
    confirm_timeout_s: float | None = None,
    list_name: str | None = None,
    group_name: str | None = None,
    verify_every: int = 0,
) -> dict[str, Any]:
    """With `dry_run`, only read: answer the plan. `list_id` None (dry run only): the list does not exist yet."""
    options = SyncOptions(
        batch_size=batch_size,
        full_resync=full_resync,
        mode=mode,
        max_removals=max_removals,
        tags=tags,
        automations=automations,
        clear_empty=clear_empty,
        confirm_timeout_s=confirm_timeout_s,
        choices=choices_from_document(fields, "the field mapping"),
        create_fields=dict(create_fields or {}),
    )
    log = get_run_logger()
    sync = ListSync(
        client,
        db_path,
        list_id,
        state_location,
        options,
        list_created=list_created,
        log=log,
        list_name=list_name,
        group_name=group_name,
    )
    try:
        # One run per list: a second run on this list waits for this one (AC_SYNC_LOCK_WAIT_S), then says who.
        async with (
            run_lock(sync.state) if sync.state and not dry_run else contextlib.nullcontext(),
            typed_failures("upload-contacts", client, list_id=list_id),
        ):
            plan = await planned(sync, dry_run=dry_run, approve_removals=approve_removals, list_name=list_name)
            if dry_run:
                if list_id is not None:
                    await list_still_there(client, state_location, list_id, list_name)  # as the run will
                return {"plan": {**plan.as_dict(), "examples": plan_examples(sync.con)}}
            progress = _UiProgress(plan.total)
            await progress.start()
            sent = await sync.send(plan, progress.update)
            await list_still_there(client, state_location, list_id, list_name)
            verified = await verify_due(client, list_id, sync.state, verify_every) if sync.state else None
    finally:
        sync.close()
    result = sent.result
    progress.total = sent.plan.total  # a first sync that started early knows its plan only now
    await progress.finish(result.batches_confirmed)
    if verified is not None and not verified.matches:
        log.warning(
            "The list differs from the sync state: %d missing, %d extra (put them back: ac-sync verify --list %r"
            " --group %r --repair)",
            len(verified.missing),
            len(verified.extra),
            list_name,
            group_name,
        )
    return {
        "verify": verified.as_dict() if verified is not None else None,
        "plan": sent.plan.as_dict(),
        **sent.counts(),
        "confirmed_at": result.confirmed_at,
    }
