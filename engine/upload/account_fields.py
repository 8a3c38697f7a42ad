"""The account's custom fields as mapping needs them: read once per run, created on request, related to lists, and
the mapping of an audience's columns onto them."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.models import Field
from ac_sync.engine.audience.count import distinct_values, pending_columns, prepared_mapping
from ac_sync.engine.audience.mapping import (
    CHOICE_TYPES,
    MULTI_TYPES,
    AccountField,
    ColumnChoice,
    ColumnMapping,
    map_columns,
)


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


async def map_audience(
    client: ACClient,
    db_path: str,
    fields: list[AccountField],
    choices: Mapping[str, ColumnChoice],
    create_fields: Mapping[str, str],
    *,
    clear_empty: bool,
    dry_run: bool,
    log: logging.Logger | logging.LoggerAdapter[Any],
) -> ColumnMapping:
    """Which column feeds which field, decided before anything is written: AmbiguousField, UnknownField, or an
    AudienceError for a field two columns claim, when it cannot be. A create-field resolution's field is made
    here (not in a plan), or found made already by an earlier attempt; `fields` then holds it for the next
    sync of the run. An audience an earlier attempt prepared keeps the mapping it was prepared with."""
    columns = pending_columns(db_path)
    if columns is None:
        stored = prepared_mapping(db_path)
        if stored is None:
            raise RuntimeError(f"no audience columns recorded for {db_path}")
        return stored
    chosen = dict(choices)
    for column, kind in create_fields.items():
        if dry_run:
            continue
        made = next((f for f in fields if f.perstag == perstag_for(column)), None)
        if made is None:
            options = (
                await asyncio.to_thread(distinct_values, db_path, column, split=kind in MULTI_TYPES)
                if kind in CHOICE_TYPES or kind in MULTI_TYPES
                else []
            )
            made = await create_field(client, column, kind, options)
            fields.append(made)
            log.info("Created custom field %s (%s, id %d) for column %r", made.perstag, kind, made.id, column)
        chosen[column] = ColumnChoice(str(made.id), chosen.get(column, ColumnChoice("")).clear_empty)
    mapping = map_columns(columns, fields, chosen, clear_empty=clear_empty)
    for name in mapping.unmapped:
        log.warning(
            "Column %r matches no contact field and no custom field: it is not sent (map it with"
            " --field %s=FIELD, or --field %s=- to say so)",
            name,
            name,
            name,
        )
    return mapping
