"""The typed forms a paused run waits for: one per failure code, built from its playbook's actions.

The Prefect server validates a submitted form against its JSON schema (action from the list, non-blank
group name, positive list id); `check` adds what a schema cannot say (which action needs which input).
Both the flow and `ac-sync resolve` apply it.

A form opens with the failure's suggestion (a preselected action, the group it asks "did you mean"): as
defaults of the generated model, because prefilling a field through `with_initial_data` drops its
constraints (prefect-notes.md), and a default keeps them.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from ac_sync.resolutions.playbooks import PLAYBOOKS

FieldTypes = Literal["text", "textarea", "date", "datetime", "dropdown", "radio", "listbox", "checkbox", "hidden"]

# Each input: (type, constraints of its Field); the default is the form's.
INPUT_SPECS: dict[str, tuple[Any, dict[str, Any]]] = {
    "group_name": (
        str | None,
        {"min_length": 1, "max_length": 255, "pattern": r"\S", "description": "Exact title of the user group"},
    ),
    "list_id": (int | None, {"ge": 1, "description": "Id of the list to sync into"}),
    "field": (
        str | None,
        {"min_length": 1, "max_length": 255, "pattern": r"\S", "description": "Perstag or id of a custom field"},
    ),
    "field_type": (FieldTypes | None, {"description": "Type of the custom field to create"}),
}
INPUT_FIELDS = tuple(INPUT_SPECS)


def form_for(code: str, defaults: dict[str, Any] | None = None) -> type[RunInput]:
    """The form of `code`'s actions; `defaults` (an action, inputs) preselect what the failure suggests."""
    return _form(code, tuple(sorted((defaults or {}).items(), key=lambda kv: kv[0])))


@cache
def _form(code: str, defaults: tuple[tuple[str, Any], ...]) -> type[RunInput]:
    book = PLAYBOOKS[code]
    names = tuple(a.name for a in book.actions)
    given = dict(defaults)
    used = {name for a in book.actions for name in a.inputs}
    action = given.get("action") if given.get("action") in names else ...
    fields: dict[str, Any] = {
        "action": (Literal.__getitem__(names), Field(action, description="How to continue the run")),  # type: ignore[attr-defined]
    }
    for name, (kind, constraints) in INPUT_SPECS.items():
        if name in used:
            fields[name] = (kind, Field(given.get(name), **constraints))
    model_name = "".join(part.title() for part in code.split("_")) + "Resolution"
    return create_model(model_name, __base__=RunInput, **fields)


def check(code: str, data: dict[str, Any]) -> str | None:
    """Why this resolution cannot be applied, or None when it can."""
    book = PLAYBOOKS[code]
    action = book.action(str(data.get("action")))
    if action is None:
        return f"action must be one of: {', '.join(a.name for a in book.actions)}"
    missing = [name for name in action.inputs if data.get(name) in (None, "")]
    if missing:
        return f"action {action.name!r} needs " + ", ".join(f"--set {m}=..." for m in missing)
    return None


def inputs_of(action: str) -> tuple[str, ...] | None:
    """The --set inputs `action` needs in every playbook that offers it (None: no playbook offers it)."""
    found = {tuple(a.inputs) for book in PLAYBOOKS.values() for a in book.actions if a.name == action}
    if not found:
        return None
    return found.pop() if len(found) == 1 else ()  # inputs that differ by failure are checked once it is known
