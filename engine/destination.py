"""Where a sync writes: the user group found (or created), the list found or created, linked to the group, and
the identity its state records; each typed failure raised here, where it is found out.

The state of a list is the record of what this tool sent to *that* list, so a state is only trusted for the
list it was written for: a list this run created starts with an empty state (an account reset can hand out the
same id again), and one whose stringid differs from the state's record is reported (StateMismatch) rather than
believed. The link to the group cannot be read back through the API, so it is made again on every run (the API
answers an existing link as such): a link someone removed is restored.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.errors import PermissionDeniedError
from ac_sync.activecampaign.models import Group, MailingList
from ac_sync.engine.errors import AmbiguousListName, InvalidGroupName, ListGone, ListPermissionDenied, StateMismatch
from ac_sync.engine.results import GroupTarget, ListTarget
from ac_sync.engine.syncs import RunOptions
from ac_sync.engine.upload.lock import ListLock
from ac_sync.engine.upload.state import SyncState, account_key, open_state

GROUP_DESCRIPTION = "Created by ac-sync to see the lists it syncs"
# What the users of a group made by create-group need to work with the list this tool fills: see and edit it,
# and its contacts. A group made without flags has none, and nobody in it could use the list.
LIST_USER_RIGHTS = (
    "pgListAdd",
    "pgListEdit",
    "pgContactAdd",
    "pgContactEdit",
    "pgContactImport",
    "pgContactExport",
    "pgContactSync",
    "pgContactFilters",
    "pgContactFields",
)

Hold = Callable[[SyncState], contextlib.AbstractAsyncContextManager[Any]]


def suggestions(name: str, titles: list[str]) -> list[str]:
    """Case-insensitive matches first, then near spellings."""
    same = [t for t in titles if t.strip().casefold() == name.strip().casefold()]
    near = difflib.get_close_matches(name, titles, n=3, cutoff=0.6)
    return list(dict.fromkeys(same + near))


async def find_group(
    client: ACClient, title: str, *, create: bool, known: Sequence[Group] | None = None, log: logging.Logger
) -> GroupTarget:
    """The user group titled exactly `title` (no title filter is documented: matched here, case and spaces
    included), created when asked; `known`: the account's groups, when the run read them already."""
    groups = list(known) if known is not None and not create else await client.groups()
    match = next((g for g in groups if g.title == title), None)
    if match is not None:
        return GroupTarget(id=match.id, title=match.title)
    if create:
        made = await client.create_group(title, GROUP_DESCRIPTION, permissions=LIST_USER_RIGHTS)
        log.info("Created user group %r (id %s)", title, made.id)
        return GroupTarget(id=made.id, title=made.title or title, created=True)
    titles = [g.title for g in groups]
    hints = suggestions(title, titles)
    hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
    raise InvalidGroupName(
        f"no user group is titled {title!r}.{hint}", group_name=title, suggestions=hints, available_groups=titles[:50]
    )


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "list"
    # stringid must be unique per account; a name alone is not (two lists may share it).
    return f"{slug}-{secrets.token_hex(3)}"


async def find_or_make_list(
    client: ACClient,
    name: str,
    group: GroupTarget,
    options: RunOptions,
    *,
    list_id: int | None = None,
    start_fresh: bool = False,
    hold: Hold | None = None,
    log: logging.Logger,
) -> ListTarget:
    """The list named `name` (or the one `list_id` the operator chose), created when there is none, linked to
    the group, its state made its own. In a plan, nothing is written: a missing list is one to create."""
    created = False
    stringid: str | None = None
    try:
        if list_id is None:
            found = await _named(client, name)
            if not found and not options.dry_run:
                # Runs that may create the list take the account's lock on its name, then look again: of
                # concurrent first runs one creates it, and the others find it.
                async with ListLock(_name_lock(options.state, client.base_url, name), **_lock_terms(options)):
                    found = await _named(client, name)
                    if not found:
                        new = await client.create_list(
                            name=name,
                            stringid=slugify(name),
                            sender_url=options.sender_url,
                            sender_reminder=options.sender_reminder,
                        )
                        found, created = [new], True
                        log.info("Created list %r (id %d) with sender URL %s", name, new.id, options.sender_url)
            if found:
                list_id, stringid = found[0].id, found[0].stringid
            else:
                return ListTarget(  # a plan: the list to create
                    list_id=None,
                    name=name,
                    created=True,
                    linked=True,
                    sender_url=options.sender_url,
                    sender_reminder=options.sender_reminder,
                )
        state = open_state(options.state, client.base_url, list_id)
        async with hold(state) if hold and not options.dry_run else contextlib.nullcontext():
            await _claim(client, state, list_id, group.id, name, stringid, created, start_fresh, options.dry_run)
    except PermissionDeniedError as refused:
        raise ListPermissionDenied(
            refused.message, list_name=name, list_id=list_id, group_id=group.id, right=refused.right
        ) from None
    if not options.dry_run:
        log.info("Linked list %d to group %d", list_id, group.id)
    return ListTarget(
        list_id=list_id,
        name=name,
        created=created,
        linked=True,
        stringid=stringid,
        sender_url=options.sender_url if created else None,
        sender_reminder=options.sender_reminder if created else None,
    )


async def _named(client: ACClient, name: str) -> list[MailingList]:
    """The lists named `name`: none or one; several are AmbiguousListName."""
    found = await client.lists_named(name)
    if len(found) > 1:
        raise AmbiguousListName(
            f"{len(found)} lists are named {name!r} (ids {', '.join(str(f.id) for f in found)})",
            list_name=name,
            list_ids=[f.id for f in found],
        )
    return found


def _name_lock(location: str, api_base_url: str, name: str) -> SyncState:
    """Where the lock on creating a list of this name in this account lives: beside the account's list states
    (the name as a digest: a file name holds any list name)."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return SyncState(location, f"{account_key(api_base_url)}/new-list-{digest}")


def _lock_terms(options: RunOptions) -> dict[str, Any]:
    return {"wait_s": options.lock_wait_s, "owner": f"ac-sync (pid {os.getpid()}, creating a list)"}


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
) -> None:
    """Make the state this list's own and link the list to the group (a plan only checks the state's record)."""
    meta = state.read_meta()
    recorded = meta.get("stringid")
    if not (created or start_fresh) and recorded and stringid and recorded != stringid:
        was, now = f"{meta.get('list_name')} ({recorded})", f"{list_name} ({stringid})"
        raise StateMismatch(
            f"the sync state for list {list_id} was written for the list {was!r}, but list {list_id} is now {now!r}"
            " (the account was reset, or the list re-created)",
            list_name=list_name,
            list_id=list_id,
        )
    if dry_run:
        return
    if created or start_fresh:
        state.set_aside("replaced")
        meta = {}
    await client.link_list_to_group(list_id, group_id)
    linked = sorted({*meta.get("linked_groups", []), group_id})
    state.write_meta({**meta, "list_name": list_name, "stringid": stringid or recorded, "linked_groups": linked})


async def confirm_list(client: ACClient, state_location: str, list_id: int, list_name: str) -> None:
    """Before a run says "completed": the list it wrote into still exists and is the one its state was for
    (ListGone, whose retry finds or creates the list again, when it is not)."""
    found = await client.get_list(list_id)
    recorded = open_state(state_location, client.base_url, list_id).read_meta().get("stringid")
    now: str | None = None
    if found is None:
        now = f"list {list_id} no longer exists"
    elif recorded and found.stringid and found.stringid != recorded:
        now = f"list {list_id} is now {found.name!r} ({found.stringid})"
    if now is not None:
        raise ListGone(
            f"the list {list_name!r} was deleted or replaced while the sync ran: {now}",
            list_id=list_id,
            list_name=list_name,
        )
