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


def summary_markdown(summary: dict[str, Any]) -> str:
    req = summary["requests"]
    lines = [
        f"# ac-sync: {summary['status']}",
        "",
        f"List **{summary.get('list_name')}** (id {summary.get('list_id')}) for group "
        f"**{summary.get('group_name')}** (id {summary.get('group_id')}).",
        "",
        "| | count |",
        "|---|---:|",
    ]
    lines += [f"| {key.replace('_', ' ')} | {summary.get(key, 0)} |" for key in COUNTS]
    lines += [
        "",
        f"Requests: {req.get('total', 0)} in all, {req.get('bulk_import', 0)} bulk imports, "
        f"{req.get('429', 0)} answered 429.",
    ]
    return "\n".join(lines)
