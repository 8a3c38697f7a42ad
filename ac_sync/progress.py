"""Progress listeners: the CLI's Rich bar subscribes here; the upload step publishes to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    done: int  # contacts confirmed (subscribed or unsubscribed) plus contacts rejected
    total: int  # contacts to write in this run
    batches_confirmed: int


Listener = Callable[[Progress], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def publish(progress: Progress) -> None:
    for listener in list(_listeners):
        listener(progress)
