"""The actions that continue a paused run, each a name with its effect: what it changes in the sync's decisions,
which step the sync goes back to, and whether the credentials are read again first.

The steps of a sync, in order: mapping, ensure-group, ensure-list, upload-contacts. An action with no step of
its own sends the sync back to the step that failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ac_sync.engine.errors import FailureRecord
from ac_sync.engine.syncs import Decisions

STEPS = ("mapping", "ensure-group", "ensure-list", "upload-contacts")

Decide = Callable[[Decisions, dict[str, Any], FailureRecord], Decisions]


def _same(decisions: Decisions, inputs: dict[str, Any], failure: FailureRecord) -> Decisions:
    return decisions


@dataclass(frozen=True)
class Action:
    name: str
    does: str  # what it does, in the playbook's words ({placeholders} as a playbook's text)
    inputs: dict[str, str] = field(default_factory=dict)  # --set KEY=VALUE the action needs, and what it is
    decide: Decide = _same
    again_from: str | None = None  # the step the sync goes back to (None: the one that failed)
    reload: bool = False  # read the URL and key again from their source first

    def step_after(self, failure: FailureRecord) -> str:
        return self.again_from or failure.step


def _column(failure: FailureRecord) -> str:
    return str(failure.context["column"])


def _fields(decisions: Decisions, column: str, target: str | None) -> dict[str, Any]:
    """The decisions' field choices with `column` sent to `target` (None: left to a field being created); a
    per-column clear_empty the sync asked for stays."""
    chosen = dict(decisions.fields)
    previous = chosen.pop(column, None)
    if target is not None:
        clear = previous.get("clear_empty") if isinstance(previous, dict) else None
        chosen[column] = target if clear is None else {"field": target, "clear_empty": clear}
    return chosen


def _use_field(decisions: Decisions, inputs: dict[str, Any], failure: FailureRecord) -> Decisions:
    column = _column(failure)
    creating = {k: v for k, v in decisions.create_fields.items() if k != column}
    return decisions.model_copy(
        update={"fields": _fields(decisions, column, str(inputs["field"])), "create_fields": creating}
    )


def _ignore_column(decisions: Decisions, inputs: dict[str, Any], failure: FailureRecord) -> Decisions:
    column = _column(failure)
    creating = {k: v for k, v in decisions.create_fields.items() if k != column}
    return decisions.model_copy(update={"fields": _fields(decisions, column, "-"), "create_fields": creating})


def _create_field(decisions: Decisions, inputs: dict[str, Any], failure: FailureRecord) -> Decisions:
    column = _column(failure)
    creating = {**decisions.create_fields, column: str(inputs["field_type"])}
    return decisions.model_copy(update={"fields": _fields(decisions, column, None), "create_fields": creating})


RETRY = Action(
    "retry",
    "Re-run the failed step as it is, after you fixed the cause outside this tool. Credentials and the API URL "
    "are reloaded from their source (environment, .env or the credentials block) first.",
    reload=True,
)
ABORT = Action("abort", "Stop the run here; it ends Failed. Completed work stays done and a later run continues it.")
FIND_LIST_AGAIN = Action(
    "retry",
    "Find or create the list again (a new list starts with an empty sync state) and send the audience to it; "
    "credentials are reloaded first.",
    decide=lambda d, i, f: d.model_copy(update={"list_id": None, "list_attempt": d.list_attempt + 1}),
    again_from="ensure-list",
    reload=True,
)
USE_GROUP = Action(
    "use-group",
    "Use this group title instead.",
    {"group_name": "the exact title of an existing group"},
    decide=lambda d, i, f: d.model_copy(update={"group_name": str(i["group_name"]), "create_group": False}),
    again_from="ensure-group",
)
CREATE_GROUP = Action(
    "create-group",
    "Create a user group titled {group_text} (exactly as the run names it), then continue (the key's user must "
    "be allowed to add groups).",
    decide=lambda d, i, f: d.model_copy(update={"create_group": True}),
    again_from="ensure-group",
)
USE_LIST = Action(
    "use-list",
    "Sync into this list.",
    {"list_id": "one of the ids above"},
    decide=lambda d, i, f: d.model_copy(update={"list_id": int(i["list_id"])}),
    again_from="ensure-list",
)
USE_EXISTING_LIST = Action(
    "use-list",
    "Sync into this existing list.",
    {"list_id": "the id of a list the group can see"},
    decide=USE_LIST.decide,
    again_from="ensure-list",
)
START_FRESH = Action(
    "start-fresh",
    "Set the old state aside and sync this list as a first sync.",
    decide=lambda d, i, f: d.model_copy(update={"start_fresh": True}),
    again_from="ensure-list",
)
APPROVE = Action(
    "approve",
    "Accept these removals for this run and continue.",
    decide=lambda d, i, f: d.model_copy(update={"approve_removals": True}),
)
USE_FIELD = Action(
    "use-field", "Send this column to this field.", {"field": "the id (or perstag) of a field above"}, _use_field
)
USE_EXISTING_FIELD = Action(
    "use-field", "Send this column to this field.", {"field": "an existing field's perstag or id"}, _use_field
)
IGNORE_COLUMN = Action(
    "ignore-column", "Send this column nowhere in this run (it is listed as unmapped).", decide=_ignore_column
)
CREATE_FIELD = Action(
    "create-field",
    "Create a custom field titled after the column, of this type, and send the column there.",
    {"field_type": "text, textarea, date, datetime, dropdown, radio, listbox, checkbox or hidden"},
    _create_field,
)
