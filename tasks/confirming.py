"""The check before a step says "completed": the list it wrote into is still there, as a typed failure if not."""

from __future__ import annotations

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.destination import ListGone, confirm_list
from ac_sync.resolutions.failures import ListGoneFailure


async def list_still_there(client: ACClient, state_location: str, list_id: int, list_name: str | None) -> None:
    """ListGoneFailure (its playbook: run again, a new list is made) when the list was deleted or replaced."""
    name = list_name or f"list {list_id}"
    try:
        await confirm_list(client, state_location, list_id, name)
    except ListGone as gone:
        raise ListGoneFailure(str(gone), step="upload-contacts", list_id=list_id, list_name=name) from None
