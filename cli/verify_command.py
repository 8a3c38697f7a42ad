"""`ac-sync verify`: compare a list's membership in ActiveCampaign with the sync state, and repair it.

It needs no Prefect server (only `--credentials-block` reads one): it talks to ActiveCampaign and the state.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from ac_sync.activecampaign.errors import ACError
from ac_sync.activecampaign.ratelimit import AccountLimits
from ac_sync.cli.display import RunDisplay
from ac_sync.cli.preflight import checked_settings
from ac_sync.engine.errors import ConfigError, SyncInputError
from ac_sync.engine.privacy import private_files
from ac_sync.engine.progress import VERIFYING, Phase
from ac_sync.engine.settings import load_credentials
from ac_sync.engine.upload.lock import ListLock
from ac_sync.engine.upload.rebuild import rebuild_state
from ac_sync.engine.upload.state import open_state
from ac_sync.engine.verify import ReadProgress, VerifyReport, repair, verify_cost, verify_list

EXIT_MATCHES, EXIT_DIFFERS, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class VerifyAsk:
    """What the command asks of one list: with `repair_missing`, repair it; with `rebuild`, first write the
    state anew from the list's members; with `sample`, check that many members only."""

    list_name: str
    group_name: str
    state: str | None = None
    repair_missing: bool = False
    sample: int | None = None
    credentials_block: str | None = None
    rebuild: bool = False
    repair_bounced: bool = False  # with repair_missing: bounced contacts too (made active again)


async def run_verify(ask: VerifyAsk, *, console: Console, as_json: bool) -> int:
    """Verify one list as asked; answers the exit code."""
    display = RunDisplay(console)
    every = 100 if display.live_capable else 5_000  # into a file or a pipe: a line now and then, not per page

    async def reading(read: int, expected: int) -> None:
        if read % every == 0 or read == expected:
            display.on_notice(Phase(VERIFYING, f"{read:,} members read (the sync state expects {expected:,})"))

    try:
        with display.shown(), private_files():  # --repair and --rebuild-state write the sync state
            report = await _verify(ask, reading, console)
    except SyncInputError as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        return EXIT_USAGE
    except ACError as exc:
        console.print(f"[red]failed:[/] {exc.message}", soft_wrap=True)
        return EXIT_DIFFERS
    summary: dict[str, Any] = {**report.as_dict(), "list_name": ask.list_name, "group_name": ask.group_name}
    summary["cost"] = verify_cost(report.members, len(report.opted_out))
    print_report(summary, console)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    return EXIT_MATCHES if report.matches else EXIT_DIFFERS


async def _verify(ask: VerifyAsk, reading: ReadProgress, console: Console) -> VerifyReport:
    list_name, group_name, sample = ask.list_name, ask.group_name, ask.sample
    settings = checked_settings()
    credentials = await load_credentials(ask.credentials_block, settings)
    limits = AccountLimits(time_scale=settings.time_scale)
    async with credentials.get_client(limits=limits, timeout_s=settings.request_timeout_s) as client:
        groups = [g for g in await client.groups() if g.title == group_name]
        if not groups:
            raise ConfigError(f"no user group is titled {group_name!r}")
        found = await client.lists_named(list_name)
        if len(found) != 1:
            raise ConfigError(f"{len(found)} lists are named {list_name!r}: verify needs exactly one")
        list_id = found[0].id
        sync_state = open_state(ask.state or settings.state, client.base_url, list_id)
        sync_state.list_name, sync_state.group_name = list_name, group_name
        if ask.rebuild:
            owner = f"ac-sync verify (pid {os.getpid()})"
            async with ListLock(sync_state, wait_s=settings.lock_wait_s, owner=owner):
                written = await rebuild_state(client, list_id, sync_state)
            console.print(
                f"Rebuilt the sync state of list {list_name!r} from its {written} members (active ones as sent"
                " with unknown values, unsubscribed ones as opted out); the next run compares each one once"
            )
        report = await verify_list(client, list_id, sync_state, sample=sample, progress=reading)
        if ask.repair_missing and report.missing:
            await client.link_list_to_group(list_id, groups[0].id)
            repaired = await repair(client, list_id, sync_state, report, bounced=ask.repair_bounced)
            again = await verify_list(client, list_id, sync_state, sample=sample, progress=reading)
            again.repaired = repaired
            report = again
    return report


def print_report(summary: dict[str, Any], console: Console) -> None:
    verdict = "[green]matches[/]" if summary["status"] == "completed" else "[red]differs[/]"
    checked = f" (a sample of {summary['sampled']})" if summary.get("sampled") is not None else ""
    console.print(
        f"List {summary['list_name']!r} (id {summary['list_id']}) {verdict} the sync state{checked}: "
        f"{summary['members']} active, {summary['expected']} subscribed by this tool"
    )
    console.print(
        f"  missing {summary['missing']} (of them bounced {summary['bounced']}), extra {summary['extra']}, "
        f"opted out {summary['opted_out']}, repaired {summary['repaired']}"
    )
    for kind in ("missing", "extra"):
        shown = summary["examples"][kind]
        if shown:
            console.print(f"  {kind}: " + ", ".join(shown) + (" …" if summary[kind] > len(shown) else ""))
    if summary["bounced"]:
        console.print(
            f"  {summary['bounced']} bounced: --repair leaves them off; --repair --repair-bounced puts them back"
            " (ActiveCampaign makes them active again, a risk to the sender's reputation)"
        )
    if summary["missing"] > summary["bounced"] and not summary["repaired"]:
        console.print(
            f"  put them back with: ac-sync verify --list '{summary['list_name']}' --group '{summary['group_name']}'"
            " --repair"
        )
