"""The run summary: its shape (the `--json` keys of interface.md), in one place, and its markdown artifact."""

from __future__ import annotations

from typing import Any

COUNTS = ("audience_rows", "valid", "invalid", "duplicates", "subscribed", "unsubscribed", "rejected")


def run_summary(status: str, flow_run_id: str | None, **known: Any) -> dict[str, Any]:
    """Every key a run's summary has, with what is known filled in and the rest empty (0, None)."""
    summary: dict[str, Any] = {
        "status": status,
        "flow_run_id": flow_run_id,
        "list_id": None,
        "group_id": None,
        **dict.fromkeys(COUNTS, 0),
        "requests": {"total": 0, "bulk_import": 0},
        "failure": None,
    }
    summary.update(known)
    return summary
