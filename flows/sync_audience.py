"""The `sync-audience` flow: the five steps, composed, each continuable after a typed failure."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from ac_sync.engine.audience import count_rejected
from ac_sync.engine.errors import ConfigError
from ac_sync.engine.progress import CREDENTIALS, READING, Phase, publish
from ac_sync.engine.secrets import install_redaction
from ac_sync.engine.settings import SyncSettings
from ac_sync.engine.upload.stores import check_location, check_output_file
from ac_sync.flows.alerts import alerting, completed
from ac_sync.flows.continuing import Choices, StartOver, find_or_make_list, resolvable
from ac_sync.flows.records import publish_run, rejected_log_path, run_name, tag_run
from ac_sync.flows.session import Session
from ac_sync.flows.summary import run_summary
from ac_sync.resolutions.pause import begin_execution
from ac_sync.resolutions.quiet_logs import quiet_expected_tracebacks
from ac_sync.tasks.ensure_group import ensure_group
from ac_sync.tasks.get_details import get_details
from ac_sync.tasks.upload_contacts import upload_contacts
from ac_sync.tasks.validate_credentials import validate_credentials

T = TypeVar("T")


def list_name_for(list_name: str | None, campaign: str | None, template: str | None, group_name: str) -> str | None:
    """`--list` as given, or the campaign list named by the template ({campaign_name}, {group_name})."""
    if not template:
        return list_name
    if not campaign:
        raise ConfigError("--list-template needs --campaign NAME")
    try:
        name = template.format(campaign_name=campaign, group_name=group_name)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"--list-template {template!r} is not valid: use only {{campaign_name}} and {{group_name}} ({exc})"
        ) from None
    if not name.strip():
        raise ConfigError("--list-template gives an empty list name")
    return name.strip()


@flow(name="sync-audience", flow_run_name=run_name, log_prints=False)
async def sync_audience(
    audience: str,
    list_name: str | None = None,
    group_name: str | None = None,
    state: str | None = None,
    verbose_log: str | None = None,
    credentials_block: str | None = None,
    batch_size: int | None = None,
    full_resync: bool = False,
    pause_timeout: int | None = None,
    mode: Literal["upsert", "mirror"] = "upsert",
    max_removals: str | None = None,
    dry_run: bool = False,
    campaign: str | None = None,
    list_template: str | None = None,
    fields: dict[str, Any] | None = None,
    clear_empty: bool = False,
    tags: Literal["add", "mirror"] = "add",
    automations: Literal["skip", "run", "new-only"] | None = None,
    verify_every: int = 0,
) -> dict[str, Any]:
    """Send the rows of `audience` into the list `list_name` that the user group `group_name` can see.

    `fields` maps columns to fields beyond what their names say (COLUMN: perstag, title or id; `-` ignores
    a column; `{field: ..., clear_empty: true}` per column). `clear_empty` makes an emptied cell clear a value
    this tool had sent; `tags` mirror also takes off the tags this tool added that have left a row.
    `automations` (default AC_SYNC_AUTOMATIONS, skip): whether contacts entering the list start the account's
    automations — skip, run, or new-only (contacts new to the list after its first sync).

    `mode` upsert adds and updates; mirror also unsubscribes those who left the audience (at most
    `max_removals`, `N` or `P%`, default 10 %, unless approved). `dry_run` makes read requests only and
    answers the plan. On a typed failure the run writes the playbook, emits an `ac-sync.failure.<CODE>`
    event and pauses for `pause_timeout` seconds (0: stop at once) waiting for a resolution form.
    `verify_every` N > 0: every Nth run (counted in the list's state) also compares the whole list with the
    state, as `ac-sync verify` does, and reports it in the summary's `verify` (a deployment's drift check).
    """
    install_redaction()  # also in a deployment's flow-run process, which ac-sync's runner never sees
    async with alerting(list_name or campaign):
        log = get_run_logger()
        begin_execution()
        quiet_expected_tracebacks()
        settings = SyncSettings()
        group_name = group_name or settings.group_name
        if not group_name:
            raise ConfigError("name the group (--group, or AC_SYNC_GROUP_NAME)")
        list_name = list_name_for(list_name or settings.list_name, campaign, list_template, group_name)
        if not list_name:
            raise ConfigError("name the list (--list, --campaign with --list-template, or AC_SYNC_LIST_NAME)")
        state_location = state or settings.state
        run_id = str(flow_run.id or "local")
        template = verbose_log or (settings.verbose_log_path if settings.verbose_log else None)
        log_path = rejected_log_path(template, list_name, run_id) if template else None
        if not dry_run:  # before anything is read or written: where the state and the rejected rows go
            check_location(state_location)
            if log_path:
                check_output_file(log_path)
        timeout_s = 0 if dry_run else settings.pause_timeout if pause_timeout is None else pause_timeout
        await tag_run([list_name])
        workdir = Path(".ac-sync/work") / run_id
        choices = Choices(group_name, fields=dict(fields or {}))
        session = Session(credentials_block)

        publish(Phase(READING, flow_run_id=run_id))
        details = await get_details(audience, str(workdir))
        summary = run_summary(
            "planned" if dry_run else "completed",
            run_id,
            mode=mode,
            list_name=list_name,
            audience_rows=details["rows"],
            valid=details["valid"],
            invalid=details["invalid"],
            duplicates=details["duplicates"],
        )

        def resolving(step: Callable[[], Awaitable[T]]) -> Awaitable[T]:
            return resolvable(step, session, choices, timeout_s)

        def upload(listed: dict[str, Any]) -> Awaitable[dict[str, Any]]:
            return resolving(
                lambda: upload_contacts(
                    session.client,
                    details["db_path"],
                    listed["list_id"],
                    state_location,
                    batch_size=batch_size or settings.batch_size,
                    full_resync=full_resync,
                    mode=mode,
                    max_removals=max_removals,
                    approve_removals=choices.approve_removals,
                    dry_run=dry_run,
                    list_created=bool(listed["created"]),
                    fields=choices.fields,
                    create_fields=choices.create_fields,
                    clear_empty=clear_empty,
                    tags=tags,
                    automations=automations or settings.automations,
                    confirm_timeout_s=settings.confirm_timeout_s,
                    list_name=list_name,
                    group_name=choices.group_name,
                    verify_every=0 if dry_run else verify_every,
                )
            )

        publish(Phase(CREDENTIALS))
        await resolving(session.open)
        try:
            await resolving(lambda: validate_credentials(session.client))
            group_id = await resolving(
                lambda: ensure_group(session.client, choices.group_name, choices.create_group and not dry_run)
            )
            attempt = 0
            while True:
                try:
                    listed = await resolving(
                        lambda attempt=attempt: find_or_make_list(
                            session.client,
                            list_name,
                            group_id,
                            state_location,
                            choices,
                            dry_run=dry_run,
                            attempt=attempt,
                        )
                    )
                    uploaded = await upload(listed)
                    break
                except StartOver:
                    attempt += 1  # the list went away under the run: find or create it again
            list_id = listed["list_id"]
            summary["requests"] = session.client.stats.as_dict()
        finally:
            await session.close()
        plan = uploaded["plan"]
        if dry_run:
            # What the run will add to the writes this plan made no room for: the list and its link. A list it
            # creates is not read (nobody can have unsubscribed from it yet), so the reads are these.
            plan["requests"].update(lists=int(bool(listed["created"])), listGroups=int(bool(listed["linked"])))
            # The reads the plan itself made, those the contact-API work reads as it goes (lookups, tags), and, for a
            # list the run creates, the read that confirms it is still there at the end (the plan read it otherwise).
            will = plan["requests"]
            plan["requests"]["reads"] = (
                summary["requests"]["total"]
                + will.get("contacts", 0)
                + will.get("tags", 0)
                + int(bool(listed["created"]))
            )
        rejected_rows_count, rejected_values = count_rejected(details["db_path"])
        summary.update(
            group_name=choices.group_name,
            group_id=group_id,
            list_id=list_id,
            list_created=bool(listed["created"]),
            # What a new list is given (AC_SYNC_LIST_SENDER_URL/_REMINDER): said in the plan and the first run.
            new_list=(
                {"sender_url": settings.list_sender_url, "sender_reminder": settings.list_sender_reminder}
                if listed["created"]
                else None
            ),
            subscribed=uploaded.get("subscribed", 0),
            unsubscribed=uploaded.get("unsubscribed", 0),
            resubscribed=uploaded.get("resubscribed", 0),
            opted_out=plan["opted_out"],
            rejected=rejected_rows_count,
            rejected_values=rejected_values,
            unconfirmed=uploaded.get("unconfirmed", 0),
            verify=uploaded.get("verify"),
            automations=plan.get("automations"),
            mapping=plan.get("mapping", {}),
            unmapped=plan.get("unmapped", []),
            batches=uploaded.get("batches", 0),
            batches_resent=uploaded.get("batches_resent", 0),
            plan=plan,
        )
        if summary["unconfirmed"]:
            log.warning(
                "%d contacts are still queued at ActiveCampaign after %.0f s (AC_SYNC_CONFIRM_TIMEOUT_S): the next run"
                " confirms them, or sends them again",
                summary["unconfirmed"],
                settings.confirm_timeout_s,
            )
        written = await publish_run(summary, details["db_path"], log_path)
        if written:
            log.info("Wrote %d rejected rows to %s", written, log_path)
        await completed(summary, settings.alert_rejected_share)
        shutil.rmtree(workdir, ignore_errors=True)
        return summary
