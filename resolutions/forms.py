"""The typed forms a paused run waits for: one per failure code, built from its playbook's actions.

The Prefect server validates a submitted form against its JSON schema (action from the list, non-blank
group name, positive list id); `check` adds what a schema cannot say (which action needs which input).
Both the flow and `ac-sync resolve` apply it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from resolutions.playbooks import PLAYBOOKS

INPUT_FIELDS: dict[str, Any] = {
    "group_name": (
        str | None,
        Field(None, min_length=1, max_length=255, pattern=r"\S", description="Exact title of the user group"),
    ),
    "list_id": (int | None, Field(None, ge=1, description="Id of the list to sync into")),
    "field": (
        str | None,
        Field(None, min_length=1, max_length=255, pattern=r"\S", description="Perstag or id of a custom field"),
    ),
    "field_type": (
        Literal["text", "textarea", "date", "datetime", "dropdown", "radio", "listbox", "checkbox", "hidden"] | None,
        Field(None, description="Type of the custom field to create"),
    ),
}


@cache
def form_for(code: str) -> type[RunInput]:
    book = PLAYBOOKS[code]
    names = tuple(a.name for a in book.actions)
    used = {name for a in book.actions for name in a.inputs}
    fields: dict[str, Any] = {
        "action": (Literal.__getitem__(names), Field(..., description="How to continue the run")),  # type: ignore[attr-defined]
        **{name: spec for name, spec in INPUT_FIELDS.items() if name in used},
    }
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
