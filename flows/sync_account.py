"""The `sync-account` flow: an account's syncs (a syncs file) as one plan — one rate budget, one import per contact.

Each sync's audience is read and counted (a campaign's split into its sub-audiences), the account's user groups
and custom fields are read once, each list is found or created and linked, and then every list is planned on its
own and the imports are shared (tasks/upload_account.py). A typed failure of one sync (its group is wrong, its
list ambiguous, a column matches two fields) sets that sync aside while the others go on; then the run waits for
its resolution, as a single-list run would, and continues that sync alone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from ac_sync.engine.audience import count_rejected
from ac_sync.engine.errors import AudienceError
from ac_sync.engine.progress import READING, Phase, publish
from ac_sync.engine.secrets import install_redaction
from ac_sync.engine.settings import SyncSettings
from ac_sync.engine.syncs import SyncSpec, load_syncs
from ac_sync.engine.upload.stores import check_location
from ac_sync.flows.alerts import alerting, completed
from ac_sync.flows.continuing import Choices, StartOver, apply, find_or_make_list, resolvable
from ac_sync.flows.records import publish_run, rejected_log_path, run_name, tag_run
from ac_sync.flows.session import Session
from ac_sync.flows.summary import COUNTS, run_summary
from ac_sync.resolutions.failures import FAILURES, SyncFailure
from ac_sync.resolutions.pause import await_resolution, begin_execution
from ac_sync.resolutions.quiet_logs import quiet_expected_tracebacks
from ac_sync.tasks.ensure_group import ensure_group
from ac_sync.tasks.get_details import get_details
from ac_sync.tasks.upload_account import upload_account
from ac_sync.tasks.validate_credentials import validate_credentials


@dataclass
class Target:
    """One list of the run: a sync, or one sub-audience of a campaign sync."""

    key: str
    sync: SyncSpec
    list_name: str
    details: dict[str, Any]
    choices: Choices
    group_id: int | None = None
    listed: dict[str, Any] = field(default_factory=dict)
    failure: SyncFailure | None = None
    result: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0

    def upload_spec(self, full_resync: bool, settings: SyncSettings) -> dict[str, Any]:
        return {
            "key": self.key,
            "db_path": self.details["db_path"],
            "list_id": self.listed.get("list_id"),
            "list_name": self.list_name,
            "group_name": self.choices.group_name,
            "list_created": bool(self.listed.get("created")),
            "mode": self.sync.mode,
            "fields": self.choices.fields,
            "create_fields": self.choices.create_fields,
            "clear_empty": self.sync.clear_empty,
            "tags": self.sync.tags,
            "automations": self.sync.automations or settings.automations,  # as a one-list run: AC_SYNC_AUTOMATIONS
            "max_removals": self.sync.max_removals,
            "approve_removals": self.choices.approve_removals,
            "full_resync": full_resync,
        }


def _failure_from(data: dict[str, Any]) -> SyncFailure:
    kind = FAILURES[data["code"]]
    context = {k: v for k, v in data.items() if k not in ("code", "title", "step", "message", "key")}
    return kind(data["message"], step=data["step"], **context)


@flow(name="sync-account", flow_run_name=run_name, log_prints=False)
async def sync_account(
    syncs: str,
    only: list[str] | None = None,
    state: str | None = None,
    credentials_block: str | None = None,
    pause_timeout: int | None = None,
    dry_run: bool = False,
    full_resync: bool = False,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Run the syncs of the syncs file `syncs` (all, or those named in `only`) as one plan for the account."""
    install_redaction()  # also in a deployment's flow-run process, which ac-sync's runner never sees
    async with alerting(syncs):
        log = get_run_logger()
        begin_execution()
        quiet_expected_tracebacks()
        spec = load_syncs(syncs)
        chosen = spec.selected(only)
        settings = SyncSettings()
        state_location = state or spec.account.state or settings.state
        if not dry_run:
            check_location(state_location)
        timeout_s = 0 if dry_run else settings.pause_timeout if pause_timeout is None else pause_timeout
        run_id = str(flow_run.id or "local")
        workdir = Path(".ac-sync/work") / run_id
        session = Session(credentials_block or spec.account.credentials_block)
        shared = Choices(chosen[0].group)

        targets: list[Target] = []
        publish(Phase(READING, flow_run_id=run_id))
        for sync in chosen:
            details = await get_details(sync.audience, str(workdir / sync.name), sync.sub_audience)
            parts = details.get("parts") or {None: details}
            for value, part in parts.items():
                key = sync.name if value is None else f"{sync.name}/{value}"
                choices = Choices(sync.group, fields=dict(sync.fields or {}))
                targets.append(Target(key, sync, sync.list_name(value), part, choices))

        async def destination(target: Target, *, wait: bool) -> None:
            """Find the target's group and list; with `wait`, a typed failure waits for its resolution."""
            client = session.client
            choices = target.choices

            async def group_step() -> int:
                return await ensure_group(client, choices.group_name, choices.create_group and not dry_run, groups)

            async def list_step() -> dict[str, Any]:
                return await find_or_make_list(
                    client,
                    target.list_name,
                    target.group_id,
                    state_location,
                    choices,
                    dry_run=dry_run,
                    attempt=target.attempt,
                )

            if wait:
                target.group_id = await resolvable(group_step, session, choices, timeout_s)
                target.listed = await resolvable(list_step, session, choices, timeout_s)
            else:
                target.group_id = await group_step()
                target.listed = await list_step()

        async def upload(batch: list[Target]) -> None:
            done = await resolvable(
                lambda: upload_account(
                    session.client,
                    [t.upload_spec(full_resync, settings) for t in batch],
                    state_location,
                    batch_size or settings.batch_size,
                    dry_run,
                    settings.confirm_timeout_s,
                ),
                session,
                shared,
                timeout_s,
            )
            imports.append(done.get("imports") or {})
            for target in batch:
                target.result = done["lists"].get(target.key, {})
                failed = done["failures"].get(target.key)
                target.failure = _failure_from(failed) if failed else None

        imports: list[dict[str, Any]] = []
        await tag_run([t.list_name for t in targets])
        await resolvable(session.open, session, shared, timeout_s)
        try:
            await resolvable(lambda: validate_credentials(session.client), session, shared, timeout_s)
            groups = await session.client.groups()  # once for the account
            for target in targets:
                try:
                    await destination(target, wait=False)
                except SyncFailure as failure:
                    target.failure = failure
            await upload([t for t in targets if t.failure is None])
            # Each sync set aside waits for its resolution now, the others done, and goes on alone.
            for target in [t for t in targets if t.failure is not None]:
                while target.failure is not None:
                    failure = target.failure
                    try:
                        resolution = await await_resolution(failure, timeout_s=timeout_s)
                    except SyncFailure as stopped:
                        target.failure = stopped
                        log.error("Sync %s stopped: %s", target.key, stopped.message)
                        break
                    try:
                        await apply(resolution, failure, session, target.choices)
                    except StartOver:
                        target.attempt += 1
                    if failure.step in ("ensure-group", "ensure-list") or target.attempt:
                        await destination(target, wait=True)
                    await upload([target])
            requests = session.client.stats.as_dict()
        finally:
            await session.close()
        summary = account_summary(targets, requests, imports, run_id, dry_run)
        template = settings.verbose_log_path if settings.verbose_log else None
        for target in targets:
            name, _, sub = target.key.partition("/")
            one = summary["syncs"][name]["sub_audiences"][sub] if sub else summary["syncs"][name]
            log_path = rejected_log_path(template, target.list_name, run_id) if template else None
            await publish_run(one, target.details.get("db_path"), log_path)
            await completed(one, settings.alert_rejected_share)
        shutil.rmtree(workdir, ignore_errors=True)
        return summary


def _rejected(target: Target) -> int:
    """Rows not synced (invalid, duplicate, refused by ActiveCampaign), as a single-list run counts them."""
    try:
        return count_rejected(target.details["db_path"])[0]
    except (AudienceError, KeyError):
        return int(target.result.get("rejected", 0))


def account_summary(
    targets: list[Target], requests: dict[str, Any], imports: list[dict[str, Any]], run_id: str, dry_run: bool
) -> dict[str, Any]:
    """`syncs` by name (a campaign's sub-audiences under its `sub_audiences`), the account's requests and imports."""
    per_sync: dict[str, dict[str, Any]] = {}
    for target in targets:
        status = "planned" if dry_run else "completed"
        if target.failure is not None:
            status = "failed"
        result = target.result
        one = run_summary(
            status,
            run_id,
            list_name=target.list_name,
            list_id=target.listed.get("list_id"),
            group_name=target.choices.group_name,
            group_id=target.group_id,
            audience_rows=target.details.get("rows", 0),
            valid=target.details.get("valid", 0),
            invalid=target.details.get("invalid", 0),
            duplicates=target.details.get("duplicates", 0),
            subscribed=result.get("subscribed", 0),
            unsubscribed=result.get("unsubscribed", 0),
            resubscribed=result.get("resubscribed", 0),
            rejected=_rejected(target),
            plan=result.get("plan"),
            failure=target.failure.as_dict() if target.failure else None,
        )
        name, _, sub = target.key.partition("/")
        if not sub:
            per_sync[name] = one
            continue
        campaign = per_sync.setdefault(name, run_summary(status, run_id, sub_audiences={}))
        campaign["sub_audiences"][sub] = one
        for count in COUNTS:
            campaign[count] += one[count]
        if one["status"] != campaign["status"]:
            campaign["status"] = "failed"
    statuses = {s["status"] for s in per_sync.values()}
    # Planned shared imports, the imports one list at a time, contacts changed, imports sent, values disagreed on.
    keys = ("bulk_import", "one_by_one", "changed_contacts", "sent", "conflicts")
    imports_total = {key: sum(i.get(key, 0) for i in imports) for key in keys}
    status = "failed"
    if statuses <= {"completed"}:
        status = "completed"
    elif dry_run and statuses == {"planned"}:
        status = "planned"
    return {
        "status": status,
        "flow_run_id": run_id,
        "syncs": per_sync,
        "requests": requests,
        "imports": imports_total,
        "failure": next((s["failure"] for s in per_sync.values() if s.get("failure")), None),
    }
