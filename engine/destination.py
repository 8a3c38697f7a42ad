"""The list a sync writes into: a slug for a new one, its link to the group, and the identity its state records.

The state of a list is the record of what this tool sent to *that* list, so a state is only trusted for the
list it was written for: a list this run created starts with an empty state (an account reset can hand out the
same id again), and one whose stringid differs from the state's record is reported (StateMismatch) rather than
believed. The link to the group cannot be read back through the API, so it is made again on every run (the API
answers an existing link as such): a link someone removed is restored.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.upload.state import SyncState, open_state


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "list"
    # stringid must be unique per account; a name alone is not (two lists may share it).
    return f"{slug}-{secrets.token_hex(3)}"


@dataclass
class StateMismatch(Exception):
    """The state at this list id was written for another list (its stringid differs)."""

    list_id: int
    recorded: str
    found: str

    def __str__(self) -> str:
        return (
            f"the sync state for list {self.list_id} was written for the list {self.recorded!r}, but list "
            f"{self.list_id} is now {self.found!r} (the account was reset, or the list re-created)"
        )


async def claim_list(
    client: ACClient,
    state_location: str,
    list_id: int,
    group_id: int,
    *,
    list_name: str,
    stringid: str | None,
    created: bool,
    start_fresh: bool = False,
    dry_run: bool = False,
    hold: Callable[[SyncState], contextlib.AbstractAsyncContextManager[Any]] | None = None,
) -> bool:
    """Make the state this list's own and link the list to the group; answers whether a link was (or, in a dry
    run, would be) requested. `hold`: the list's lock, held while the state's record is read and written."""
    state = open_state(state_location, client.base_url, list_id)
    async with hold(state) if hold and not dry_run else contextlib.nullcontext():
        return await _claim(client, state, list_id, group_id, list_name, stringid, created, start_fresh, dry_run)


async def _claim(
    client: ACClient,
    state: SyncState,
    list_id: int,
    group_id: int,
    list_name: str,
    stringid: str | None,
    created: bool,
    start_fresh: bool,
    dry_run: bool,
) -> bool:
    meta = state.read_meta()
    recorded = meta.get("stringid")
    if not (created or start_fresh) and recorded and stringid and recorded != stringid:
        raise StateMismatch(list_id, f"{meta.get('list_name')} ({recorded})", f"{list_name} ({stringid})")
    if dry_run:
        return True
    if created or start_fresh:
        state.set_aside("replaced")
        meta = {}
    await client.link_list_to_group(list_id, group_id)
    linked = sorted({*meta.get("linked_groups", []), group_id})
    state.write_meta({**meta, "list_name": list_name, "stringid": stringid or recorded, "linked_groups": linked})
    return True


@dataclass
class ListGone(Exception):
    """The list the run wrote into is no longer the one it was: deleted, or the account was reset under it."""

    list_id: int
    list_name: str
    found: str | None  # what the id holds now ("name (stringid)"), None when nothing

    def __str__(self) -> str:
        now = f"list {self.list_id} is now {self.found}" if self.found else f"list {self.list_id} no longer exists"
        return f"the list {self.list_name!r} was deleted or replaced while the sync ran: {now}"


async def confirm_list(client: ACClient, state_location: str, list_id: int, list_name: str) -> None:
    """Before a run says "completed": the list it wrote into still exists and is the one its state was for."""
    found = await client.get_list(list_id)
    recorded = open_state(state_location, client.base_url, list_id).read_meta().get("stringid")
    if found is None:
        raise ListGone(list_id, list_name, None)
    if recorded and found.stringid and found.stringid != recorded:
        raise ListGone(list_id, list_name, f"{found.name!r} ({found.stringid})")
