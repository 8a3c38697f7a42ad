"""Step 3, ensure-group: the id of the user group whose title is exactly the given name."""

from __future__ import annotations

import difflib

from prefect import get_run_logger, task

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.models import Group
from ac_sync.engine.progress import GROUP, Phase, publish
from ac_sync.resolutions.classify import typed_failures
from ac_sync.resolutions.failures import InvalidGroupName
from ac_sync.tasks.caching import run_scoped

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


def suggestions(name: str, titles: list[str]) -> list[str]:
    """Case-insensitive matches first, then near spellings."""
    same = [t for t in titles if t.strip().casefold() == name.strip().casefold()]
    near = difflib.get_close_matches(name, titles, n=3, cutoff=0.6)
    return list(dict.fromkeys(same + near))


@task(name="ensure-group", cache_key_fn=run_scoped("ensure-group", "group_name", "create"), persist_result=True)
async def ensure_group(
    client: ACClient, group_name: str, create: bool = False, known: list[Group] | None = None
) -> int:
    """`known`: the account's groups, when the caller read them already (an account run reads them once)."""
    publish(Phase(GROUP, group_name))
    async with typed_failures("ensure-group", client, group_name=group_name):
        groups = known if known is not None and not create else await client.groups()
        # No title filter is documented: match locally, exactly (case and spaces included).
        matches = [g for g in groups if g.title == group_name]
        if matches:
            return matches[0].id
        if create:
            created = await client.create_group(group_name, GROUP_DESCRIPTION, permissions=LIST_USER_RIGHTS)
            get_run_logger().info("Created user group %r (id %s)", group_name, created.id)
            return created.id
    titles = [g.title for g in groups]
    hints = suggestions(group_name, titles)
    hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
    raise InvalidGroupName(
        f"no user group is titled {group_name!r}.{hint}",
        step="ensure-group",
        group_name=group_name,
        suggestions=hints,
        available_groups=titles[:50],
    )
