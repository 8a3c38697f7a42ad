"""`ac-sync consent --list NAME`: the list's consent record from its sync state, printed for the operator (it
names people, so it is never sent to Prefect)."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markup import escape

from ac_sync.engine.consent import consent_record


def print_consent(location: str, list_name: str, console: Console, as_json: bool, show: int) -> int:
    records = consent_record(location, list_name)
    if as_json:
        sys.stdout.write(json.dumps({"list": list_name, "states": [r.as_dict() for r in records]}) + "\n")
        return 0 if records and not any(r.opted_out_but_subscribed for r in records) else 1
    if not records:
        console.print(f"No sync state of a list named {escape(repr(list_name))} under {escape(location)}")
        return 1
    for record in records:
        console.print(f"[bold]{escape(record.list_name)}[/] ({escape(record.state)})")
        _part(console, "removed by this tool", record.removed, show, lambda r: f"at {r.get('removed_at') or '?'}")
        _part(
            console,
            "opted out by themselves (never re-subscribed)",
            record.opted_out,
            show,
            lambda r: f"{r.get('how')}" + (f" (last change {r['changed_at']})" if r.get("changed_at") else ""),
        )
        _part(
            console,
            "re-subscribed by this tool",
            record.resubscribed,
            show,
            lambda r: f"removed by it at {r.get('removed_at')}, no change since (last change {r.get('changed_at')})",
        )
        broken = record.opted_out_but_subscribed
        verdict = "[green]nobody who opted out was re-subscribed[/]" if not broken else f"[red]{len(broken)} who"
        console.print(f"  {verdict}" + ("" if not broken else " opted out were re-subscribed[/]"))
    return 0 if not any(r.opted_out_but_subscribed for r in records) else 1


def _part(console: Console, title: str, rows: list[dict[str, object]], show: int, line: object) -> None:
    console.print(f"  {title}: {len(rows)}")
    for row in rows[:show]:
        console.print(f"    {escape(str(row['email']))}: {escape(line(row))}", soft_wrap=True)  # type: ignore[operator]
    if len(rows) > show:
        console.print(f"    … {len(rows) - show} more (--show N, or --json for all)")
