"""Step 4, ensure-list: find the list by exact name or create it, and make sure the group can see it."""

from __future__ import annotations

from prefect import get_run_logger, task

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.destination import StateMismatch, claim_list, slugify
from ac_sync.engine.progress import LIST, Phase, publish
from ac_sync.resolutions.classify import typed_failures
from ac_sync.resolutions.failures import AmbiguousListName, StateMismatchFailure
from ac_sync.tasks.caching import run_scoped
from ac_sync.tasks.locking import run_lock


@task(
    name="ensure-list",
    cache_key_fn=run_scoped("ensure-list", "list_name", "group_id", "list_id", "dry_run", "start_fresh", "attempt"),
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
    start_fresh: bool = False,
    attempt: int = 0,
) -> dict[str, int | bool | str | None]:
    """With `dry_run`, only read: answer what would be created or linked (list_id None if not found).

    `attempt` counts the times this run came back here because its list went away (LIST_GONE, retried).
    """
    log = get_run_logger()
    publish(Phase(LIST, list_name))
    created = False
    stringid: str | None = None
    async with typed_failures("ensure-list", client, list_name=list_name, group_id=group_id, list_id=list_id) as ctx:
        if list_id is None:
            found = await client.lists_named(list_name)
            if len(found) > 1:
                raise AmbiguousListName(
                    f"{len(found)} lists are named {list_name!r} (ids {', '.join(str(f.id) for f in found)})",
                    step="ensure-list",
                    list_name=list_name,
                    list_ids=[f.id for f in found],
                )
            if found:
                list_id, stringid = found[0].id, found[0].stringid
            elif dry_run:
                return {"list_id": None, "created": True, "linked": True, "sender_url": sender_url}
            else:
                new = await client.create_list(
                    name=list_name, stringid=slugify(list_name), sender_url=sender_url, sender_reminder=sender_reminder
                )
                list_id, stringid, created = new.id, new.stringid, True
                log.info("Created list %r (id %d) with sender URL %s", list_name, list_id, sender_url)
            ctx["list_id"] = list_id
        try:
            linked = await claim_list(
                client,
                state_location,
                list_id,
                group_id,
                list_name=list_name,
                stringid=stringid,
                created=created,
                start_fresh=start_fresh,
                dry_run=dry_run,
                hold=run_lock,
            )
        except StateMismatch as mismatch:
            raise StateMismatchFailure(
                str(mismatch), step="ensure-list", list_name=list_name, list_id=list_id
            ) from None
    if not dry_run:
        log.info("Linked list %d to group %d", list_id, group_id)
    return {"list_id": list_id, "created": created, "linked": linked, "sender_url": sender_url if created else None}
