"""The resolution loop: a step that fails with a typed failure waits for the operator's answer, then runs again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.settings import SyncSettings
from ac_sync.flows.session import Session
from ac_sync.resolutions.failures import SyncFailure
from ac_sync.resolutions.pause import Resolution, await_resolution
from ac_sync.tasks.ensure_list import ensure_list

T = TypeVar("T")


class StartOver(Exception):
    """A resolution that sends the run back to finding its list (the list it wrote into is gone)."""


@dataclass
class Choices:
    """What resolutions can change for the rest of the run."""

    group_name: str
    create_group: bool = False
    list_id: int | None = None
    approve_removals: bool = False
    start_fresh: bool = False
    fields: dict[str, Any] = field(default_factory=dict)  # COLUMN -> FIELD (or {field, clear_empty}), "-" ignores
    create_fields: dict[str, str] = field(default_factory=dict)  # COLUMN -> the type of a field to create


async def resolvable(step: Callable[[], Awaitable[T]], session: Session, choices: Choices, timeout_s: int) -> T:
    """Run a step; on a typed failure, wait for a resolution, apply it, and run the step again."""
    while True:
        try:
            return await step()
        except SyncFailure as failed:
            failure = failed
            resolution = await await_resolution(failure, timeout_s=timeout_s)
        await apply(resolution, failure, session, choices)


async def apply(resolution: Resolution, failure: SyncFailure, session: Session, choices: Choices) -> None:
    if resolution.action == "retry":
        await session.open()  # the operator may have fixed the key or URL: reload them
        if failure.code == "LIST_GONE":
            choices.list_id = None
            raise StartOver
    elif resolution.action == "use-group":
        choices.group_name, choices.create_group = str(resolution.inputs["group_name"]), False
    elif resolution.action == "create-group":
        choices.create_group = True
    elif resolution.action == "use-list":
        choices.list_id = int(resolution.inputs["list_id"])
    elif resolution.action == "approve":
        choices.approve_removals = True
    elif resolution.action == "start-fresh":
        choices.start_fresh = True
    elif resolution.action in ("use-field", "ignore-column", "create-field"):
        column = str(failure.context["column"])
        choices.create_fields.pop(column, None)
        if resolution.action == "create-field":
            choices.create_fields[column] = str(resolution.inputs["field_type"])
            choices.fields.pop(column, None)
        else:
            target = "-" if resolution.action == "ignore-column" else str(resolution.inputs["field"])
            previous = choices.fields.get(column)
            clear = previous.get("clear_empty") if isinstance(previous, dict) else None
            choices.fields[column] = target if clear is None else {"field": target, "clear_empty": clear}


async def find_or_make_list(
    client: ACClient,
    list_name: str,
    group_id: int | None,
    state_location: str,
    choices: Choices,
    *,
    dry_run: bool,
    attempt: int,
) -> dict[str, Any]:
    """ensure-list with what the run's settings and the operator's resolutions say (the list id chosen, start
    fresh); `attempt` counts the times the list went away under the run (a new attempt is a new task run)."""
    settings = SyncSettings()
    return await ensure_list(
        client,
        list_name,
        group_id,
        state_location,
        settings.list_sender_url,
        settings.list_sender_reminder,
        choices.list_id,
        dry_run,
        choices.start_fresh,
        attempt,
    )
