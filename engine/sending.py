"""upload-contacts' engine, for one list or many: each list resumed, planned and checked on its own, then sent —
one list alone (a large first sync starts sending early), several with their imports shared — and each list
confirmed still there; a list that cannot go on is handed back with its failure while the others are sent.

One run per list: each list's lock is held from its resume to its last checkpoint (`hold`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.audience.mapping import ColumnMapping
from ac_sync.engine.destination import Hold, confirm_list
from ac_sync.engine.errors import record_of
from ac_sync.engine.progress import CONFIRMING, PREPARING, UPLOADING, Phase, publish
from ac_sync.engine.results import (
    AudienceDetails,
    ImportSavings,
    ListTarget,
    SentCounts,
    UploadOutcome,
    UploadOutcomes,
)
from ac_sync.engine.syncs import Decisions, RunOptions, SyncSpec
from ac_sync.engine.upload import ListSync, SyncOptions
from ac_sync.engine.upload.account import Target, import_savings, send_account
from ac_sync.engine.upload.sync import Plan, Sent, sent_counts
from ac_sync.engine.upload.uploader import UploadResult
from ac_sync.engine.verify import verify_due

STEP = "upload-contacts"
PLAN_EXAMPLES = 25  # emails of each change a plan names (`ac-sync plan --show N` prints N of them)
# (list key, contacts done, contacts to write, the list's upload result so far)
ListProgress = Callable[[str, int, int, UploadResult], Awaitable[None]]
# (list key, members read, members expected): a list's verify (every Nth run) as it reads the list
VerifyProgress = Callable[[str, int, int], Awaitable[None]]


@dataclass(frozen=True)
class ListUpload:
    """One list of the upload: its sync, the operator's decisions, its audience, list, group and mapping."""

    key: str  # the sync's name, or "name/sub-audience"
    sync: SyncSpec
    decisions: Decisions
    details: AudienceDetails
    target: ListTarget
    group_name: str
    mapping: ColumnMapping


@dataclass
class _Planned:
    upload: ListUpload
    sync: ListSync
    plan: Plan


def plan_examples(con: Any, n: int = PLAN_EXAMPLES) -> dict[str, list[str]]:
    """A few emails of each change, from the planner's tables, in audience order."""
    queries = {
        "adds": "SELECT email FROM to_send WHERE verdict = 'add' ORDER BY source_row",
        "updates": "SELECT email FROM (SELECT email, source_row FROM to_send WHERE verdict = 'update'"
        " UNION SELECT email, source_row FROM contact_writes) ORDER BY source_row",
        "removals": "SELECT email FROM leavers WHERE NOT opted_out ORDER BY email",
    }
    return {kind: [row[0] for row in con.execute(f"{sql} LIMIT {int(n)}").fetchall()] for kind, sql in queries.items()}


async def upload_lists(
    client: ACClient,
    uploads: Sequence[ListUpload],
    options: RunOptions,
    *,
    log: logging.Logger | logging.LoggerAdapter[Any],
    hold: Hold | None = None,
    on_progress: ListProgress | None = None,
    on_verify: VerifyProgress | None = None,
) -> UploadOutcomes:
    """Every list's plan (a plan only reads) and, outside a plan, its writes; per list its outcome."""
    outcomes: dict[str, UploadOutcome] = {}
    ready: list[_Planned] = []
    alone = len(uploads) == 1
    async with contextlib.AsyncExitStack() as closing:
        for up in uploads:
            label = "" if alone else up.key
            sync = ListSync(
                client,
                up.details.db_path,
                up.target.list_id,
                options.state,
                SyncOptions.of(up.sync, up.decisions, options),
                mapping=up.mapping,
                list_created=up.target.created,
                log=log,
                list_name=up.target.name,
                group_name=up.group_name,
                early=alone,
            )
            closing.callback(sync.close)
            try:
                if sync.state is not None and not options.dry_run and hold is not None:
                    await closing.enter_async_context(hold(sync.state))
                if not options.dry_run:
                    queued = "what an earlier run left queued, if anything"
                    publish(Phase(CONFIRMING, f"{label}: {queued}" if label else queued))
                    await sync.resume()
                publish(Phase(PREPARING, label))
                plan = await sync.plan(dry_run=options.dry_run)
                if options.dry_run and up.target.list_id is not None:
                    await confirm_list(client, options.state, up.target.list_id, up.target.name)  # as the run will
            except Exception as exc:
                outcomes[up.key] = _failed(up, sync, exc)
                continue
            if options.dry_run:
                outcomes[up.key] = UploadOutcome(
                    key=up.key,
                    plan=plan.summary(examples=plan_examples(sync.con)),
                    unchanged=plan.counts.unchanged,
                )
            ready.append(_Planned(up, sync, plan))
        targets = [Target(p.upload.key, p.sync, p.plan) for p in ready]
        savings = _savings(targets, options)
        if options.dry_run or not ready:
            return UploadOutcomes(lists=outcomes, imports=savings)
        publish(Phase(UPLOADING, "" if alone else f"{len(ready)} lists"))
        try:
            if len(ready) == 1:
                only = ready[0]
                sent = {only.upload.key: await only.sync.send(only.plan, _progress(only.upload.key, on_progress))}
                shared = 0
            else:
                merged = await send_account(
                    client, targets, batch_size=options.batch_size, confirm_timeout_s=options.confirm_timeout_s
                )
                sent, shared = merged.per_list, merged.merged_imports
                savings = savings.model_copy(update={"sent": merged.merged_imports, "conflicts": merged.conflicts})
                log.info(
                    "Shared imports: %d for %d lists (one list at a time: %d); %d values two lists disagreed on",
                    shared,
                    len(ready),
                    merged.one_by_one_imports,
                    merged.conflicts,
                )
        except Exception as exc:
            for p in ready:
                outcomes[p.upload.key] = _failed(p.upload, p.sync, exc, p.plan)
            return UploadOutcomes(lists=outcomes, imports=savings)
        for p in ready:
            done = sent[p.upload.key]
            if on_progress is not None:
                await on_progress(p.upload.key, done.plan.total, done.plan.total, done.result)
            outcomes[p.upload.key] = await _finished(client, p, done, options, on_verify)
    return UploadOutcomes(lists=outcomes, imports=savings)


def _savings(targets: Sequence[Target], options: RunOptions) -> ImportSavings:
    if len(targets) < 2:
        own = sum(t.plan.requests.get("bulk_import", 0) for t in targets)
        return ImportSavings(bulk_import=own, one_by_one=own)
    return ImportSavings(**import_savings(targets, options.batch_size))


def _progress(key: str, on_progress: ListProgress | None) -> Callable[[int, int, UploadResult], Awaitable[None]] | None:
    if on_progress is None:
        return None

    async def progressed(done: int, total: int, result: UploadResult) -> None:
        await on_progress(key, done, total, result)

    return progressed


async def _finished(
    client: ACClient, planned: _Planned, sent: Sent, options: RunOptions, on_verify: VerifyProgress | None
) -> UploadOutcome:
    """A sent list's outcome: its counts stand; the list checked still there (else LIST_GONE); verified when due."""
    up, sync = planned.upload, planned.sync
    counts = sent.counts()
    plan = sent.plan.summary()
    unchanged = max(sent.plan.counts.unchanged - sync.earlier_unchanged, 0)
    assert up.target.list_id is not None
    try:
        await confirm_list(client, options.state, up.target.list_id, up.target.name)
        reading = (lambda read, total: on_verify(up.key, read, total)) if on_verify is not None else None
        verified = (
            await verify_due(client, up.target.list_id, sync.state, options.verify_every, reading)
            if sync.state
            else None
        )
    except Exception as exc:
        failure = record_of(exc, step=STEP, sync=up.key, list_id=up.target.list_id, list_name=up.target.name)
        return UploadOutcome(key=up.key, plan=plan, sent=counts, unchanged=unchanged, failure=failure)
    if verified is not None and not verified.matches:
        sync.log.warning(
            "The list differs from the sync state: %d missing, %d extra (put them back: ac-sync verify --list %r"
            " --group %r --repair)",
            len(verified.missing),
            len(verified.extra),
            up.target.name,
            up.group_name,
        )
    return UploadOutcome(
        key=up.key,
        plan=plan,
        sent=counts,
        unchanged=unchanged,
        verify=verified.summary() if verified is not None else None,
    )


def _failed(up: ListUpload, sync: ListSync, exc: Exception, plan: Plan | None = None) -> UploadOutcome:
    """A list that stopped: its failure, and what it had confirmed until then (which stands, in its state)."""
    failure = record_of(exc, step=STEP, sync=up.key, list_id=up.target.list_id, list_name=up.target.name)
    sent = sent_counts(sync.uploader.result) if sync.uploader is not None else SentCounts()
    return UploadOutcome(key=up.key, plan=plan.summary() if plan else None, sent=sent, failure=failure)
