"""The account's custom fields as mapping needs them: read once per run, created on request, related to lists."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.models import Field
from ac_sync.engine.audience.mapping import CHOICE_TYPES, MULTI_TYPES, AccountField


def _account_field(raw: Field) -> AccountField:
    lists = {int(i) for i in raw.list_ids} | ({0} if raw.all_lists else set())
    return AccountField(
        id=int(raw.id),
        title=str(raw.title or ""),
        perstag=str(raw.perstag or ""),
        type=str(raw.type or "text"),
        options=tuple(str(o.value) for o in raw.options),
        lists=frozenset(lists),
        required=bool(raw.isrequired),
    )


async def discover_fields(client: ACClient) -> list[AccountField]:
    """Every custom field of the account, with its type, options and list relations (all pages)."""
    return [_account_field(f) for f in await client.fields()]


def perstag_for(title: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", title.upper()).strip("_") or "FIELD"


async def create_field(client: ACClient, title: str, kind: str, options: Sequence[str] = ()) -> AccountField:
    """Create a custom field for a column (a create-field resolution); a list type gets the column's values as
    its options."""
    made = _account_field(await client.create_field(title, kind, perstag=perstag_for(title)))
    if options and (kind in CHOICE_TYPES or kind in MULTI_TYPES):
        await client.add_field_options(made.id, list(options))
        made = AccountField(made.id, made.title, made.perstag, made.type, tuple(options), made.lists, made.required)
    return made


async def relate_fields(client: ACClient, fields: Sequence[AccountField], list_id: int) -> None:
    for fld in fields:
        await client.relate_field(fld.id, list_id)
