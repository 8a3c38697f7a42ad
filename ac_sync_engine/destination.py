"""The list a sync writes into: a slug for a new one, and its link to the group, remembered in the sync state."""

from __future__ import annotations

import re
import secrets
import unicodedata

from ac_sync_engine.upload.state import SyncState, destination_key
from activecampaign.client import ACClient


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "list"
    # stringid must be unique per account; a name alone is not (two lists may share it).
    return f"{slug}-{secrets.token_hex(3)}"


async def ensure_linked(
    client: ACClient, state_location: str, list_id: int, group_id: int, *, dry_run: bool = False
) -> bool:
    """Link the list to the group once; answer whether it was (or, in a dry run, would be) linked now.

    The link cannot be read back through the API, so the sync state remembers it.
    """
    state = SyncState(state_location, destination_key(client.base_url, list_id))
    meta = state.read_meta()
    linked = set(meta.get("linked_groups", []))
    if group_id in linked:
        return False
    if dry_run:
        return True
    await client.link_list_to_group(list_id, group_id)
    state.write_meta({**meta, "linked_groups": sorted(linked | {group_id})})
    return True
