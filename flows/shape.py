"""The summary's shape: the counts every list's summary has (interface.md's `--json` keys), and the summary of a
run that ended before any list was known. Light on purpose: the command line's one-line refusals use it before
anything heavier is imported."""

from __future__ import annotations

from typing import Any

COUNTS = (
    "audience_rows",
    "valid",
    "invalid",
    "duplicates",
    "added",
    "updated",
    "removed",
    "subscribed",
    "unsubscribed",
    "resubscribed",
    "held",
    "confirmed_earlier",
    "unchanged",
    "opted_out",
    "rejected",
    "rejected_values",
    "unconfirmed",
    "batches",
    "batches_resent",
)


def empty_summary(status: str, flow_run_id: str | None, **known: Any) -> dict[str, Any]:
    """The summary of a run that ended before any list was known (a bad setting, a stop before the start)."""
    return {
        "status": status,
        "flow_run_id": flow_run_id,
        "list_id": None,
        "group_id": None,
        **dict.fromkeys(COUNTS, 0),
        "requests": {"total": 0, "bulk_import": 0},
        "failure": None,
        **known,
    }
