"""What both flows do around the one orchestration: check where the records go, run the syncs, record each list
(summary and rejected-rows artifacts, alerts), and end honestly — Failed when any sync failed, naming each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.runtime import flow_run

from ac_sync.engine.privacy import private_files
from ac_sync.engine.progress import Stopped as StoppedNotice
from ac_sync.engine.progress import publish
from ac_sync.engine.syncs import RunOptions, SyncSpec
from ac_sync.engine.upload.stores import check_location, check_output_file
from ac_sync.engine.workspace import work_folder
from ac_sync.flows.alerts import completed
from ac_sync.flows.orchestration import RunOutcome, Stopped, run_syncs
from ac_sync.flows.records import publish_run, rejected_log_path, tag_run
from ac_sync.flows.session import Session
from ac_sync.flows.summary import RunFailed, list_summary
from ac_sync.resolutions.pause import where


async def run_plan(
    syncs: list[SyncSpec],
    options: RunOptions,
    credentials_block: str | None,
    summarise: Callable[[RunOutcome, RunOptions, str], dict[str, Any]],
) -> dict[str, Any]:
    """Run the syncs; answer the summary `summarise` makes of them, or raise RunFailed carrying it. Everything
    the run writes is private (umask 077); its working copy of the audiences goes when it completes or is
    stopped, and stays (private) for a Retry when it fails, until a later run completes its lists (workspace.py)."""
    with private_files():
        log = get_run_logger()
        run_id = str(flow_run.id or "local")
        list_names = [s.list or s.name for s in syncs]
        if not options.dry_run:  # before anything is read or written: where the state and the rejected rows go
            check_location(options.state)
            if options.rejected_log:
                for name in list_names:
                    check_output_file(rejected_log_path(options.rejected_log, name, run_id, options.state))
        await tag_run(list_names, plan=options.dry_run)
        # What a kept working copy is for: a later run that completes these lists makes it stale (workspace.py).
        scope = [f"{credentials_block or ''}|{options.state}|{name}" for name in list_names]
        with work_folder(
            Path(".ac-sync/work"), run_id, scope, keep_days=options.work_keep_days, retires=not options.dry_run
        ) as workdir:
            try:
                outcome = await run_syncs(syncs, options, Session(credentials_block), workdir, run_id)
            except Stopped as stop:
                summary = await _record(stop.outcome, options, run_id, summarise)
                publish(StoppedNotice(summary))
                raise asyncio.CancelledError from None
            summary = await _record(outcome, options, run_id, summarise)
            for target in outcome.targets:
                if target.outcome is not None and target.outcome.sent.unconfirmed:
                    log.warning(
                        "%s: %d contacts are still queued at ActiveCampaign after %.0f s (AC_SYNC_CONFIRM_TIMEOUT_S):"
                        " the next run confirms them, or sends them again",
                        target.key,
                        target.outcome.sent.unconfirmed,
                        options.confirm_timeout_s or 0,
                    )
            failures = [t.failure for t in outcome.targets if t.failure is not None]
            if failures:  # inside: a failed run keeps its working copy for a Retry (workspace.py)
                raise RunFailed(summary, failures)
        return summary


async def _record(
    outcome: RunOutcome,
    options: RunOptions,
    run_id: str,
    summarise: Callable[[RunOutcome, RunOptions, str], dict[str, Any]],
) -> dict[str, Any]:
    """Each list's artifacts and notices; the summary, with each list's rejected-rows file named in it."""
    summary = summarise(outcome, options, run_id)
    log = get_run_logger()
    shown = where()
    for target in outcome.targets:
        one = list_summary(target, options, run_id, where=shown, stopped=outcome.stopped)
        log_path = (
            rejected_log_path(options.rejected_log, target.list_name, run_id, options.state)
            if options.rejected_log
            else None
        )
        db_path = target.details.db_path if target.details else None
        written = await publish_run(one, db_path, log_path, options)
        if written:
            log.info("Wrote %d rejected rows to %s", written, log_path)
        _name_log(summary, target.key, one)
        await completed(one, options.alert_rejected_share)
    return summary


def _name_log(summary: dict[str, Any], key: str, one: dict[str, Any]) -> None:
    """The list's rejected-rows file (records.shown_path's name and folder), in the summary that holds the
    list (the run's own, or its sync's)."""
    named = {k: one[k] for k in ("verbose_log", "verbose_log_root") if k in one}
    if not named:
        return
    name, _, sub = key.partition("/")
    syncs = summary.get("syncs")
    if syncs is None:
        summary.update(named)
    elif sub:
        syncs[name]["sub_audiences"][sub].update(named)
    else:
        syncs[name].update(named)
