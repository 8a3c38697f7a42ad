"""Run the sync flow in this process: progress bar, summary, and the exit code the interface promises."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ac_sync.quiet_errors import quiet_expected
from ac_sync_engine import progress as progress_events
from ac_sync_engine.errors import SyncInputError
from ac_sync_engine.secrets import install_redaction, kept_from_children, scrub
from flows.summary import run_summary
from resolutions.failures import SyncFailure
from resolutions.playbooks import render

EXIT_OK, EXIT_OTHER, EXIT_USAGE, EXIT_TYPED = 0, 1, 2, 3


def print_summary(summary: dict[str, Any], console: Console) -> None:
    req = summary.get("requests") or {}
    console.print(
        f"[bold]{summary['status']}[/]: list {summary.get('list_name')!r} (id {summary.get('list_id')}), "
        f"group {summary.get('group_name')!r} (id {summary.get('group_id')})"
    )
    console.print(
        f"  audience rows {summary['audience_rows']}, valid {summary['valid']}, invalid {summary['invalid']}, "
        f"duplicates {summary['duplicates']}"
    )
    console.print(
        f"  subscribed {summary['subscribed']}, unsubscribed {summary['unsubscribed']}, "
        f"rejected {summary['rejected']}"
        + (f" (see {summary['verbose_log']})" if summary.get("verbose_log") and summary["rejected"] else "")
    )
    if summary.get("rejected_values"):
        console.print(
            f"  values left out of synced contacts (they do not fit their field): {summary['rejected_values']}"
            + (f" (see {summary['verbose_log']})" if summary.get("verbose_log") else "")
        )
    console.print(
        f"  requests {req.get('total', 0)} ({req.get('bulk_import', 0)} bulk imports, {req.get('429', 0)} × 429)"
    )
    if summary.get("mapping"):
        console.print("  mapping: " + ", ".join(f"{col} → {to}" for col, to in summary["mapping"].items()))
    for column in summary.get("unmapped") or []:
        console.print(
            f"  [yellow]not sent:[/] column {column!r} matches no field (map it with --field '{column}=FIELD',"
            f" or --field '{column}=-' to say so)"
        )
    plan = summary.get("plan") or {}
    if plan.get("no_state_members"):
        console.print(
            f"  [yellow]no sync state[/] for this list here, but it has {plan['no_state_members']} members: every row"
            " counts as an add, and mirror mode removes nobody; if its state lives elsewhere, give --state"
        )
    checked = summary.get("verify")
    if checked:
        verdict = "matches the state" if checked["status"] == "completed" else "[red]differs from the state[/]"
        console.print(
            f"  verified (every Nth run): the list {verdict}: missing {checked['missing']}, extra {checked['extra']}"
            + (
                f" — put them back: ac-sync verify --list '{summary.get('list_name')}' --group"
                f" '{summary.get('group_name')}' --repair"
                if checked["missing"]
                else ""
            )
        )
    if summary.get("new_list"):
        made = "will be created" if summary["status"] == "planned" else "was created"
        console.print(
            f"  the list {made} with sender URL {summary['new_list']['sender_url']} and reminder"
            f" {summary['new_list']['sender_reminder']!r} (AC_SYNC_LIST_SENDER_URL, AC_SYNC_LIST_SENDER_REMINDER)"
        )
    if summary["status"] == "planned":
        will = plan.get("requests", {})
        console.print(
            f"  plan ({summary.get('mode')}): {plan.get('adds', 0)} adds, {plan.get('updates', 0)} updates, "
            f"{plan.get('removals', 0)} removals (limit {plan.get('max_removals')}), "
            f"{plan.get('resubscribes', 0)} re-subscribes, {plan.get('opted_out', 0)} opted-out skips, "
            f"{plan.get('unchanged', 0)} unchanged, {plan.get('clears', 0)} with values to clear, "
            f"{plan.get('untags', 0)} with tags to take off"
        )
        console.print(
            f"  the run will make {will.get('bulk_import', 0)} bulk imports, "
            f"{will.get('contactLists', 0)} contact-list writes, {will.get('contact_sync', 0)} contact writes, "
            f"{will.get('contactTags', 0)} contact-tag requests, {will.get('fieldRels', 0)} field relations, "
            f"{will.get('lists', 0)} list creations, {will.get('listGroups', 0)} group links, "
            f"{will.get('reads', 0)} reads plus status polls: "
            f"about {plan.get('seconds_at_limits', 0)} s at ActiveCampaign's limits"
        )
    elif plan.get("opted_out"):
        console.print(f"  {plan['opted_out']} contacts opted out of the list themselves: skipped, not re-subscribed")


async def run_sync(
    params: dict[str, Any], *, as_json: bool, console: Console, quiet: bool = False, account: bool = False
) -> tuple[int, dict[str, Any]]:
    """Run `sync-audience` (or, with `account`, `sync-account` for a syncs file) in this process."""
    from flows.sync_account import sync_account
    from flows.sync_audience import sync_audience

    bar = Progress(
        TextColumn("uploading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet,
    )
    task_id = bar.add_task("upload", total=None)

    def on_notice(notice: progress_events.Notice) -> None:
        if isinstance(notice, progress_events.Progress):
            bar.update(task_id, completed=notice.done, total=notice.total)
            return
        # A typed failure: the playbook, not a traceback; while the run waits, the exact resolve commands.
        console.print(Markdown(notice.playbook))
        if notice.waiting and as_json:
            paused = {"status": "paused", "flow_run_id": notice.flow_run_id, "failure": {"code": notice.code}}
            sys.stdout.write(json.dumps(paused) + "\n")
            sys.stdout.flush()

    unsubscribe = progress_events.subscribe(on_notice)
    install_redaction()  # before the flow: Prefect logs about the run in this process too
    try:
        # Secrets out of os.environ while the run lasts: Prefect's temporary server is a child started with it.
        with bar, quiet_expected((SyncInputError, SyncFailure)), kept_from_children():
            state = await (sync_account if account else sync_audience)(**params, return_state=True)
    finally:
        unsubscribe()
    run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
    if state.is_completed():
        summary = await state.result()
        code = EXIT_OK if summary["status"] in ("completed", "planned") else EXIT_TYPED
        if not quiet:
            for name, one in (summary.get("syncs") or {"": summary}).items():
                if name:
                    console.print(f"[bold]sync {name}[/]")
                for part in (one.get("sub_audiences") or {None: one}).values():
                    print_summary(part, console)
            if summary.get("imports"):
                imports = summary["imports"]
                console.print(
                    f"account: {imports.get('bulk_import', 0)} shared bulk imports (one list at a time:"
                    f" {imports.get('one_by_one', 0)}), {summary['requests'].get('total', 0)} requests"
                )
    else:
        exc = await state.result(raise_on_failure=False)
        summary = run_summary("failed", run_id)
        message = scrub(str(exc))
        if not isinstance(exc, SyncFailure):
            summary["error"] = message  # one line (typed failures have their own entry)
        if isinstance(exc, SyncInputError):
            code = EXIT_USAGE
            console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
        elif isinstance(exc, SyncFailure):
            code = EXIT_TYPED
            summary["failure"] = {**exc.as_dict(), "playbook": render(exc, run_id)}
            console.print(f"[red]{exc.code}[/] in step {exc.step}: {escape(exc.message)}", soft_wrap=True)
        else:
            code = EXIT_OTHER
            console.print(f"[red]failed:[/] {type(exc).__name__}: {escape(message)}", soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
        sys.stdout.flush()
    return code, summary
