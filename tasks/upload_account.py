"""Step 5 of an account run, upload-contacts for many lists: each list planned on its own, the imports shared.

A list that cannot be planned (a column two fields match, removals over its limit) is handed back as a failure
for the flow to resolve; the others are sent meanwhile, so one list's problem never holds the account's back.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prefect import get_run_logger, task

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.audience.mapping import choices_from_document
from ac_sync.engine.progress import UPLOADING, Phase, publish
from ac_sync.engine.upload import ListSync, SyncOptions
from ac_sync.engine.upload.account import Target, import_savings, send_account
from ac_sync.engine.upload.account_fields import discover_fields
from ac_sync.resolutions.classify import typed_failures
from ac_sync.resolutions.failures import ListGoneFailure, SyncFailure
from ac_sync.tasks.caching import run_scoped
from ac_sync.tasks.confirming import list_still_there
from ac_sync.tasks.locking import run_lock
from ac_sync.tasks.upload_contacts import planned


def _options(spec: dict[str, Any], batch_size: int, confirm_timeout_s: float | None) -> SyncOptions:
    return SyncOptions(
        batch_size=batch_size,
        full_resync=bool(spec.get("full_resync")),
        mode=spec.get("mode", "upsert"),
        max_removals=spec.get("max_removals"),
        tags=spec.get("tags", "add"),
        automations=spec.get("automations") or "skip",
        clear_empty=bool(spec.get("clear_empty")),
        choices=choices_from_document(spec.get("fields"), f"sync {spec['key']}: fields"),
        create_fields=dict(spec.get("create_fields") or {}),
        confirm_timeout_s=confirm_timeout_s,
    )


def _failure(failure: SyncFailure, key: str) -> dict[str, Any]:
    return {"key": key, **failure.as_dict()}


@task(name="upload-contacts", cache_key_fn=run_scoped("upload-account", "targets", "dry_run"), persist_result=True)
async def upload_account(
    client: ACClient,
    targets: list[dict[str, Any]],
    state_location: str,
    batch_size: int = 250,
    dry_run: bool = False,
    confirm_timeout_s: float | None = None,
) -> dict[str, Any]:
    """`targets`: one dict per list (key, db_path, list_id, list_name, list_created, the sync's options and
    resolutions). Answers per key either `plan` (and what was sent) or `failure`, plus the shared imports."""
    log = get_run_logger()
    out: dict[str, Any] = {"lists": {}, "failures": {}}
    async with typed_failures("upload-contacts", client):
        fields = await discover_fields(client)  # once for the account, not once per list
    ready: list[Target] = []
    async with contextlib.AsyncExitStack() as closing:
        for spec in targets:
            key = spec["key"]
            sync = ListSync(
                client,
                spec["db_path"],
                spec["list_id"],
                state_location,
                _options(spec, batch_size, confirm_timeout_s),
                list_created=bool(spec.get("list_created")),
                log=log,
                fields=fields,
                list_name=spec["list_name"],
                group_name=spec.get("group_name"),
                early=False,
            )
            closing.callback(sync.close)
            if sync.state is not None and not dry_run:
                await closing.enter_async_context(run_lock(sync.state))
            try:
                async with typed_failures("upload-contacts", client, list_id=spec["list_id"], sync=key):
                    plan = await planned(
                        sync,
                        dry_run=dry_run,
                        approve_removals=bool(spec.get("approve_removals")),
                        list_name=spec["list_name"],
                        label=key,
                    )
            except SyncFailure as failure:
                out["failures"][key] = _failure(failure, key)
                continue
            out["lists"][key] = {"plan": plan.as_dict()}
            if spec["list_id"] is not None or dry_run:  # a plan counts the imports of lists still to create
                ready.append(Target(key, sync, plan))
        savings = import_savings(ready, batch_size) if ready else {"bulk_import": 0, "one_by_one": 0}
        out["imports"] = savings
        if dry_run or not ready:
            return out
        publish(Phase(UPLOADING, f"{len(ready)} lists"))
        async with typed_failures("upload-contacts", client):
            sent = await send_account(client, ready, batch_size=batch_size, confirm_timeout_s=confirm_timeout_s)
            names = {spec["key"]: spec["list_name"] for spec in targets}
            for target in ready:
                try:
                    await list_still_there(client, state_location, target.list_id, names[target.key])
                except ListGoneFailure as failure:
                    out["failures"][target.key] = _failure(failure, target.key)
    log.info(
        "Shared imports: %d for %d lists (one list at a time: %d); %d values two lists disagreed on",
        sent.merged_imports,
        len(ready),
        sent.one_by_one_imports,
        sent.conflicts,
    )
    for key, done in sent.per_list.items():
        out["lists"][key].update(done.counts())
    out["imports"].update(sent=sent.merged_imports, conflicts=sent.conflicts)
    return out
