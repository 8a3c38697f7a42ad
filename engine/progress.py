"""Notices from a running flow to whoever runs it in this process (the CLI's live display and prompts).

The flow and its steps `publish` notices; the command line `subscribe`s. Three kinds:

- `Phase(name, detail)`: the run moved on to one of PHASES (the first, READING, also names the flow run);
- `Progress(done, total, batches_confirmed)`: contacts written so far while uploading;
- `Paused(...)`: a typed failure stopped the run; it waits for a resolution until `deadline` (or has stopped).

`Launch` goes the other way: how the command line started this run (the command that continues it, whether
a Prefect UI shows it), so that a playbook's advice fits the run it is read in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

READING = "reading the audience"
CREDENTIALS = "checking credentials"
GROUP = "finding the group"
LIST = "finding the list"
CONFIRMING = "confirming"
MAPPING = "mapping columns"
PREPARING = "preparing"
UPLOADING = "uploading"
VERIFYING = "verifying the list"
PHASES = (READING, CREDENTIALS, GROUP, LIST, CONFIRMING, MAPPING, PREPARING, UPLOADING, VERIFYING)


@dataclass(frozen=True)
class Phase:
    name: str  # one of PHASES
    detail: str = ""  # what it is about, in a few words (the group's title, the list's name, ...)
    flow_run_id: str | None = None  # given by the first phase, so a stopped run can be told apart


@dataclass(frozen=True)
class Progress:
    done: int  # contacts confirmed (subscribed or unsubscribed) plus contacts rejected
    total: int  # contacts to write in this run
    batches_confirmed: int
    list_key: str = ""  # the sync (or sub-audience) it is about, in a run of several lists
    added: int = 0  # of the done: new to the list, values updated, unsubscribed, from earlier runs' batches
    updated: int = 0
    removed: int = 0
    confirmed_earlier: int = 0


@dataclass(frozen=True)
class Paused:
    """A typed failure stopped the run; it waits for a resolution (or has stopped, when `waiting` is False)."""

    code: str
    flow_run_id: str
    playbook: str  # markdown
    waiting: bool
    deadline: datetime | None = None  # when an unanswered pause ends (aware, UTC)
    title: str = ""  # the failure's title, e.g. "No user group has that name"


@dataclass(frozen=True)
class Stopped:
    """A signal stopped the run; `summary` says what it had done (what the API had confirmed stands)."""

    summary: dict[str, Any]


Notice = Phase | Progress | Paused | Stopped
Listener = Callable[[Notice], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def publish(notice: Notice) -> None:
    for listener in list(_listeners):
        listener(notice)


@dataclass(frozen=True)
class Launch:
    """How this process started the run it executes (unknown for a worker's run of a deployment)."""

    command: tuple[str, ...] = ()  # the `ac-sync run ...` words that start it again, continuing it
    ui_url: str | None = None  # the Prefect UI that shows the run, when there is one


_launch = Launch()


def set_launch(launch: Launch) -> Callable[[], None]:
    global _launch
    before, _launch = _launch, launch

    def restore() -> None:
        global _launch
        _launch = before

    return restore


def launch() -> Launch:
    return _launch
