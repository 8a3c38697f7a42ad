"""Step 4, ensure-list: find the list by exact name or create it, and make sure the group can see it."""

from __future__ import annotations

import re
import secrets
import unicodedata

from prefect import get_run_logger, task

from ac_sync.state import SyncState, destination_key
from activecampaign.client import ACClient, as_int
from activecampaign.errors import ACError
from resolutions.classify import typed_failure
from resolutions.failures import AmbiguousListName
from tasks.caching import run_scoped


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "list"
    # stringid must be unique per account; a name alone is not (two lists may share it).
    return f"{slug}-{secrets.token_hex(3)}"


async def _ensure_linked(client: ACClient, state: SyncState, list_id: int, group_id: int, dry_run: bool) -> bool:
    """Link once: the link cannot be read back through the API, so the sync state remembers it."""
    meta = state.read_meta()
    linked = set(meta.get("linked_groups", []))
    if group_id in linked:
        return False
    if dry_run:
        return True
    await client.link_list_to_group(list_id, group_id)
    state.write_meta({**meta, "linked_groups": sorted(linked | {group_id})})
    return True


@task(
    name="ensure-list",
    cache_key_fn=run_scoped("ensure-list", "list_name", "group_id", "list_id", "dry_run"),
    persist_result=True,
)
async def ensure_list(
    client: ACClient,
    list_name: str,
    group_id: int,
    state_location: str,
    sender_url: str,
    sender_reminder: str,
    list_id: int | None = None,
    dry_run: bool = False,
) -> dict[str, int | bool | None]:
    """With `dry_run`, only read: answer what would be created or linked (list_id None if not found)."""
    log = get_run_logger()
    created = False
    try:
        if list_id is None:
            found = await client.lists_named(list_name)
            if len(found) > 1:
                raise AmbiguousListName(
                    f"{len(found)} lists are named {list_name!r} (ids {', '.join(str(f['id']) for f in found)})",
                    step="ensure-list",
                    list_name=list_name,
                    list_ids=[as_int(f["id"]) for f in found],
                )
            if found:
                list_id = as_int(found[0]["id"])
            elif dry_run:
                return {"list_id": None, "created": True, "linked": True}
            else:
                new = await client.create_list(
                    name=list_name,
                    stringid=slugify(list_name),
                    sender_url=sender_url,
                    sender_reminder=sender_reminder,
                )
                list_id, created = as_int(new["id"]), True
                log.info("Created list %r (id %d)", list_name, list_id)
        state = SyncState(state_location, destination_key(client.base_url, list_id))
        linked = await _ensure_linked(client, state, list_id, group_id, dry_run)
    except ACError as exc:
        failure = await typed_failure(
            exc, step="ensure-list", client=client, list_name=list_name, group_id=group_id, list_id=list_id
        )
        raise (failure or exc) from None
    if linked and not dry_run:
        log.info("Linked list %d to group %d", list_id, group_id)
    return {"list_id": list_id, "created": created, "linked": linked}
