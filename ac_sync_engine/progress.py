"""Notices from a running flow to whoever runs it in this process (the CLI's progress bar and prompts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    done: int  # contacts confirmed (subscribed or unsubscribed) plus contacts rejected
    total: int  # contacts to write in this run
    batches_confirmed: int


@dataclass(frozen=True)
class Paused:
    """A typed failure stopped the run; it waits for a resolution (or has stopped, when `waiting` is False)."""

    code: str
    flow_run_id: str
    playbook: str  # markdown
    waiting: bool


Notice = Progress | Paused
Listener = Callable[[Notice], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def publish(notice: Notice) -> None:
    for listener in list(_listeners):
        listener(notice)
