"""The resolution loop: a step that fails with a typed failure waits for the operator's answer, then runs again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from flows.session import Session
from resolutions.failures import SyncFailure
from resolutions.pause import Resolution, await_resolution

T = TypeVar("T")


@dataclass
class Choices:
    """What resolutions can change for the rest of the run."""

    group_name: str
    create_group: bool = False
    list_id: int | None = None
    approve_removals: bool = False


async def resolvable(step: Callable[[], Awaitable[T]], session: Session, choices: Choices, timeout_s: int) -> T:
    """Run a step; on a typed failure, wait for a resolution, apply it, and run the step again."""
    while True:
        try:
            return await step()
        except SyncFailure as failure:
            resolution = await await_resolution(failure, timeout_s=timeout_s)
        await apply(resolution, session, choices)


async def apply(resolution: Resolution, session: Session, choices: Choices) -> None:
    if resolution.action == "retry":
        await session.open()  # the operator may have fixed the key or URL: reload them
    elif resolution.action == "use-group":
        choices.group_name, choices.create_group = str(resolution.inputs["group_name"]), False
    elif resolution.action == "create-group":
        choices.create_group = True
    elif resolution.action == "use-list":
        choices.list_id = int(resolution.inputs["list_id"])
    elif resolution.action == "approve":
        choices.approve_removals = True
