"""The `sync-audience` flow: one audience into one list — an account plan of one sync, run by the same code as
`sync-account` (flows/orchestration.py), its five steps get-details, validate-credentials, ensure-group,
ensure-list and upload-contacts."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from ac_sync.engine.secrets import install_redaction
from ac_sync.engine.settings import SyncSettings
from ac_sync.engine.syncs import RUN_PARAMETERS, RunOptions, one_list_sync
from ac_sync.flows.alerts import alerting
from ac_sync.flows.records import run_name
from ac_sync.flows.running import run_plan
from ac_sync.flows.summary import one_list_summary
from ac_sync.resolutions.pause import begin_execution, where
from ac_sync.resolutions.quiet_logs import quiet_expected_tracebacks


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
    given = {k: v for k, v in locals().items() if k != "credentials_block"}
    install_redaction()  # also in a deployment's flow-run process, which ac-sync's runner never sees
    async with alerting([name for name in (list_name or campaign,) if name]):
        begin_execution()
        quiet_expected_tracebacks()
        settings = SyncSettings()
        # One carrier each: the run's parameters make its options, the others its one sync.
        sync = one_list_sync(settings=settings, **{k: v for k, v in given.items() if k not in RUN_PARAMETERS})
        options = RunOptions.of(settings, **{k: v for k, v in given.items() if k in RUN_PARAMETERS})
        return await run_plan(
            [sync],
            options,
            credentials_block,
            lambda outcome, opts, run_id: one_list_summary(outcome, opts, run_id, where=where()),
        )
