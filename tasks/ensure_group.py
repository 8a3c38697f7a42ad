"""Step 3, ensure-group: the user group whose title is exactly the sync's group (created on the operator's word)."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.models import Group
from ac_sync.engine.destination import find_group
from ac_sync.engine.progress import GROUP, Phase, publish
from ac_sync.engine.results import GroupTarget
from ac_sync.tasks.caching import run_scoped


@task(name="ensure-group", cache_key_fn=run_scoped("ensure-group", "title", "create"), persist_result=True)
async def ensure_group(
    client: ACClient, title: str, create: bool = False, known: Sequence[Group] | None = None
) -> GroupTarget:
    """`known`: the account's groups, when the run read them already (an account run reads them once)."""
    publish(Phase(GROUP, title))
    return await find_group(client, title, create=create, known=known, log=get_run_logger())
