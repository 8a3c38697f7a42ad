"""Step 4, ensure-list: find the list by exact name or create it, and make sure the group can see it."""

from __future__ import annotations

from prefect import get_run_logger, task

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.destination import find_or_make_list
from ac_sync.engine.progress import LIST, Phase, publish
from ac_sync.engine.results import GroupTarget, ListTarget
from ac_sync.engine.syncs import Decisions, RunOptions
from ac_sync.tasks.caching import run_scoped
from ac_sync.tasks.locking import run_lock


@task(
    name="ensure-list",
    cache_key_fn=run_scoped("ensure-list", "name", "group", "decisions", "options"),
    persist_result=True,
)
async def ensure_list(
    client: ACClient, name: str, group: GroupTarget, decisions: Decisions, options: RunOptions
) -> ListTarget:
    """The list chosen by the operator (`decisions.list_id`), else the one named; `decisions.list_attempt`
    counts the times the list went away under the run (each a new find-or-create, so a new task run)."""
    publish(Phase(LIST, name))
    return await find_or_make_list(
        client,
        name,
        group,
        options,
        list_id=decisions.list_id,
        start_fresh=decisions.start_fresh,
        hold=lambda state: run_lock(state, options),
        log=get_run_logger(),
    )
