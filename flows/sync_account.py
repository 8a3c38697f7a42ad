"""The `sync-account` flow: an account's syncs (a syncs file) as one plan — one rate budget, one import per contact.

Each sync's audience is read and counted (a campaign's split into its sub-audiences), the account's user groups
and custom fields are read once, each list is mapped, found or created and linked, and then every ready list is
planned on its own and the imports are shared. Any failure of one sync sets it aside while the others go on;
then it waits for its resolution (a typed one) and continues alone. A run in which a sync failed ends Failed,
naming each (flows/orchestration.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from ac_sync.engine.secrets import install_redaction
from ac_sync.engine.settings import SyncSettings
from ac_sync.engine.syncs import RunOptions, load_syncs
from ac_sync.flows.alerts import alerting
from ac_sync.flows.records import run_name
from ac_sync.flows.running import run_plan
from ac_sync.flows.summary import run_summary
from ac_sync.resolutions.pause import begin_execution, where
from ac_sync.resolutions.quiet_logs import quiet_expected_tracebacks


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
    async with alerting([f"account {Path(syncs).stem}"]):
        begin_execution()
        quiet_expected_tracebacks()
        spec = load_syncs(syncs)
        options = RunOptions.of(
            SyncSettings(),
            state=state or spec.account.state,
            pause_timeout=pause_timeout,
            dry_run=dry_run,
            full_resync=full_resync,
            batch_size=batch_size,
        )
        return await run_plan(
            spec.selected(only),
            options,
            credentials_block or spec.account.credentials_block,
            lambda outcome, opts, run_id: run_summary(outcome, opts, run_id, where=where()),
        )
