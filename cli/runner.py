"""Run the sync flow in this process: live display, playbooks, summary, signals, and the promised exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from ac_sync.cli.display import RunDisplay, plural, print_markdown
from ac_sync.cli.quiet_errors import quiet_expected
from ac_sync.cli.stopping import Stop, Stopper
from ac_sync.engine import progress as progress_events
from ac_sync.engine.errors import SyncInputError
from ac_sync.engine.rejected_files import located
from ac_sync.engine.secrets import install_redaction, kept_from_children, scrub
from ac_sync.flows.records import list_shown
from ac_sync.flows.shape import empty_summary
from ac_sync.flows.summary import RunFailed

EXIT_OK, EXIT_OTHER, EXIT_USAGE, EXIT_TYPED = 0, 1, 2, 3
PLANNED_REQUESTS = (
    ("bulk_import", "bulk import"),
    ("contactLists", "contact-list write"),
    ("contact_sync", "contact write"),
    ("contactTags", "contact-tag request"),
    ("fieldRels", "field relation"),
    ("lists", "list creation"),
    ("listGroups", "group link"),
)
EXAMPLE_KINDS = (("adds", "would be added"), ("updates", "would be changed"), ("removals", "would be removed"))


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def print_summary(summary: dict[str, Any], console: Console, *, show: int = 0) -> None:
    """The run's summary: one word per concept, and who refused what said with it."""
    req = summary.get("requests") or {}
    plan = summary.get("plan") or {}
    group_id = f" (id {summary['group_id']})" if summary.get("group_id") is not None else ""
    console.print(
        f"[bold]{summary['status']}[/]: list {escape(repr(summary.get('list_name')))} ({list_shown(summary)}), "
        f"group {escape(repr(summary.get('group_name')))}{group_id}",
        soft_wrap=True,
    )
    console.print(
        f"  audience: {plural(summary['audience_rows'], 'row')}, {_n(summary['valid'])} valid, "
        f"{plural(summary['invalid'], 'invalid email')}, {plural(summary['duplicates'], 'duplicate')}",
        soft_wrap=True,
    )
    if summary["status"] != "planned":
        sent = (
            f"  sent: {_n(summary['added'])} added, {_n(summary['updated'])} updated, {_n(summary['removed'])} removed"
        )
        if summary.get("resubscribed"):
            sent += f", {_n(summary['resubscribed'])} re-subscribed"
        if summary.get("confirmed_earlier"):
            sent += f" ({_n(summary['confirmed_earlier'])} of them from batches an earlier run queued, confirmed now)"
        sent += f"; {_n(summary['unchanged'])} unchanged (not sent again)"
        if summary.get("opted_out"):
            sent += f"; {_n(summary['opted_out'])} opted out of the list themselves (skipped, never re-subscribed)"
        if summary.get("held"):
            sent += (
                f"; {_n(summary['held'])} held for consent (removed by this tool, then changed by themselves, or"
                f" ActiveCampaign could not say: not re-subscribed; ac-sync consent --list NAME says why)"
            )
        console.print(sent, soft_wrap=True)
        if summary.get("unconfirmed"):
            console.print(
                f"  [yellow]still queued at ActiveCampaign:[/] {plural(summary['unconfirmed'], 'contact')}"
                " (the next run confirms them, or sends them again)",
                soft_wrap=True,
            )
    _print_not_synced(summary, console)
    console.print(
        f"  requests: {_n(req.get('total'))} ({plural(req.get('bulk_import'), 'bulk import')},"
        f" {_n(req.get('429'))} × 429)"
    )
    if summary.get("mapping"):
        console.print(
            "  mapping: " + ", ".join(f"{escape(col)} → {escape(to)}" for col, to in summary["mapping"].items()),
            soft_wrap=True,
        )
    for column in summary.get("unmapped") or []:
        console.print(
            f"  [yellow]not sent:[/] column {escape(repr(column))} matches no field (map it with"
            f" --field '{escape(column)}=FIELD', or --field '{escape(column)}=-' to say so)",
            soft_wrap=True,
        )
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
        _print_plan(summary, plan, console, show)


def _rejected_file(summary: dict[str, Any]) -> str:
    """Where the list's rejected rows are, as a path to open on this machine (the summary names it relative to
    the state's folder)."""
    if not summary.get("verbose_log"):
        return ""
    return f" — see {located(summary['verbose_log'], summary.get('verbose_log_root'))}"


def _print_not_synced(summary: dict[str, Any], console: Console) -> None:
    rejected = int(summary.get("rejected") or 0)
    if rejected:
        # `rejected` counts every row not synced: this tool's refusals and ActiveCampaign's.
        refused = max(rejected - int(summary["invalid"] or 0) - int(summary["duplicates"] or 0), 0)
        where = _rejected_file(summary)
        console.print(
            f"  not synced: {plural(rejected, 'row')} ({plural(summary['invalid'], 'invalid email')}, "
            f"{plural(summary['duplicates'], 'duplicate')}, {_n(refused)} refused by ActiveCampaign){escape(where)}",
            soft_wrap=True,
        )
    if summary.get("rejected_values"):
        where = _rejected_file(summary)
        console.print(
            f"  values left out of synced contacts (they do not fit their field): {_n(summary['rejected_values'])}"
            + escape(where),
            soft_wrap=True,
        )


def _print_plan(summary: dict[str, Any], plan: dict[str, Any], console: Console, show: int) -> None:
    will = plan.get("requests", {})
    console.print(
        f"  plan ({summary.get('mode')}): {_n(plan.get('adds'))} adds, {_n(plan.get('updates'))} updates, "
        f"{_n(plan.get('removals'))} removals (limit {plan.get('max_removals')}), "
        f"{_n(plan.get('resubscribes'))} re-subscribes, {_n(plan.get('opted_out'))} opted-out skips, "
        f"{_n(plan.get('unchanged'))} unchanged, {_n(plan.get('clears'))} with values to clear, "
        f"{_n(plan.get('untags'))} with tags to take off",
        soft_wrap=True,
    )
    console.print(
        "  the run will make "
        + ", ".join(plural(will.get(key), word) for key, word in PLANNED_REQUESTS)
        + f", {plural(will.get('reads'), 'read')} plus status polls: "
        f"about {plan.get('seconds_at_limits', 0)} s at ActiveCampaign's limits",
        soft_wrap=True,
    )
    if show:
        examples = plan.get("examples") or {}
        for kind, says in EXAMPLE_KINDS:
            emails = list(examples.get(kind) or [])[:show]
            total = int(plan.get(kind) or 0)
            if not total:
                continue
            more = f" (and {_n(total - len(emails))} more)" if total > len(emails) else ""
            shown = ", ".join(escape(e) for e in emails) or "(none to show)"
            console.print(f"  {says}: {shown}{more}", soft_wrap=True)


async def run_sync(
    params: dict[str, Any],
    *,
    as_json: bool,
    console: Console,
    quiet: bool = False,
    display: RunDisplay | None = None,
    show: int = 0,
    account: bool = False,
) -> tuple[int, dict[str, Any]]:
    """Run `sync-audience` (or, with `account`, `sync-account` for a syncs file) here; answer (exit code,
    summary). A caller that shows its own `display` passes it."""
    from ac_sync.flows.sync_account import sync_account
    from ac_sync.flows.sync_audience import sync_audience

    own = display is None
    shown = display or RunDisplay(console, enabled=not quiet)

    def on_notice(notice: progress_events.Notice) -> None:
        shown.on_notice(notice)
        if not isinstance(notice, progress_events.Paused):
            return
        # A typed failure: the playbook, not a traceback; while the run waits, the exact resolve commands.
        print_markdown(console, notice.playbook)
        if notice.waiting and as_json:
            paused = {"status": "paused", "flow_run_id": notice.flow_run_id, "failure": {"code": notice.code}}
            sys.stdout.write(json.dumps(paused) + "\n")
            sys.stdout.flush()

    unsubscribe = progress_events.subscribe(on_notice)
    install_redaction()  # before the flow: Prefect logs about the run in this process too
    try:
        # Secrets out of os.environ while the run lasts: a local Prefect server is a child started with it.
        with (
            shown.shown() if own else contextlib.nullcontext(),
            quiet_expected(),
            kept_from_children(),
        ):
            state = await (sync_account if account else sync_audience)(**params, return_state=True)
    finally:
        unsubscribe()
    run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
    exc = None if state.is_completed() else await state.result(raise_on_failure=False)
    if exc is None or isinstance(exc, RunFailed):
        summary = await state.result() if exc is None else exc.summary
        code = EXIT_OK if exc is None else _exit_code(exc, account=account)
        if not quiet:
            print_run(summary, console, show)
        for failure in exc.failures if exc is not None else []:
            which = f"sync {failure.sync}: " if account and failure.sync else ""
            if failure.kind == "input":
                console.print(f"[red]error:[/] {which}{escape(failure.message)}", soft_wrap=True)
            else:
                console.print(
                    f"[red]{failure.code}[/] {which}in step {failure.step}: {escape(failure.message)}", soft_wrap=True
                )
            if not account and failure.kind != "typed":
                summary["error"] = scrub(failure.message)  # one line (typed failures have their own entry)
    else:
        summary = empty_summary("failed", run_id)
        message = scrub(str(exc))
        summary["error"] = message
        if isinstance(exc, SyncInputError):
            code = EXIT_USAGE
            console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
        else:
            code = EXIT_OTHER
            console.print(f"[red]failed:[/] {type(exc).__name__}: {escape(message)}", soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
        sys.stdout.flush()
    return code, summary


def _exit_code(failed: RunFailed, *, account: bool) -> int:
    """3 for an account run in which a sync failed; a one-list run's failure keeps its kind's code (2 for the
    user's input, 3 for a typed failure, 1 for anything else)."""
    if account:
        return EXIT_TYPED
    kind = failed.failures[0].kind
    return {"input": EXIT_USAGE, "typed": EXIT_TYPED}.get(kind, EXIT_OTHER)


def print_run(summary: dict[str, Any], console: Console, show: int = 0) -> None:
    """A run's summary as the terminal shows it: each list's (each sync's, in an account run), then the account's."""
    for name, one in (summary.get("syncs") or {"": summary}).items():
        if not (one.get("list_name") or one.get("sub_audiences")):
            continue  # the run ended before it knew its list: its one line says why
        if name:
            console.print(f"[bold]sync {escape(name)}[/]")
        for part in (one.get("sub_audiences") or {None: one}).values():
            print_summary(part, console, show=show)
    if summary.get("imports"):
        imports = summary["imports"]
        console.print(
            f"account: {plural(imports.get('bulk_import', 0), 'shared bulk import')} (one list at a time:"
            f" {_n(imports.get('one_by_one', 0))}), {plural(summary['requests'].get('total', 0), 'request')}"
        )


# --- a command on the terminal: display, signals, the Prefect API -----------------------------------------


def command_words(argv: list[str] | None = None) -> tuple[str, ...]:
    """This process's command line as the operator types it (`ac-sync run ...`), to offer it back."""
    return ("ac-sync", *(sys.argv[1:] if argv is None else argv))


class Terminal:
    """One command's run on the terminal: the live display, Ctrl-C and SIGTERM, and the Prefect API."""

    def __init__(self, console: Console, *, command: tuple[str, ...], as_json: bool, show: int = 0) -> None:
        self.console = console
        self.command = command
        self.as_json = as_json
        self.show = show
        self.display = RunDisplay(console)
        self.stopper = Stopper(on_stop=self._stopping)

    def _stopping(self, stop: Stop) -> None:
        extra = " — Ctrl-C again to force" if stop.signum == 2 else ""
        self.display.stop_requested(f"stopping ({stop.name}): letting the run record what the API accepted{extra}")

    @contextlib.contextmanager
    def session(self) -> Iterator[Terminal]:
        """Signals held and the live display shown for the block (a Stop raised in it is this command's end)."""
        with self.stopper, self.display.shown():
            yield self

    def run(self, params: dict[str, Any], *, account: bool = False) -> tuple[int, dict[str, Any]]:
        """The flow with these parameters, against the Prefect API this command gets (see prefect_api)."""
        from ac_sync.cli.prefect_api import prefect_api

        with prefect_api(self.display.status) as api:
            restore = progress_events.set_launch(progress_events.Launch(self.command, api.ui_url))
            try:
                return self.stopper.run(
                    lambda: run_sync(
                        params,
                        as_json=self.as_json,
                        console=self.console,
                        display=self.display,
                        show=self.show,
                        account=account,
                    )
                )
            except Stop as stop:
                if not stop.forced and self.display.flow_run_id:
                    _record_stop(self.display.flow_run_id, self._why(stop))
                raise
            finally:
                restore()

    def _why(self, stop: Stop) -> str:
        return f"stopped by {stop.name}; continue with: {shlex.join(self.command)}"

    def stopped(self, stop: Stop) -> int:
        """Say in one line what was done and the command that continues; answer the exit code (130, 143)."""
        shown = self.display
        if shown.flow_run_id is None:
            done = "before the run started; nothing was done"
        elif shown.paused is not None:
            done = f"while paused on {shown.paused.code} (not resolved); nothing was lost"
        elif shown.phase == progress_events.UPLOADING and shown.total:
            done = (
                f"while uploading: {shown.done:,} of {shown.total:,} contacts confirmed, and what the API had "
                "accepted is confirmed by the next run"
            )
        else:
            done = f"while {shown.phase}; no contact was sent by this run yet"
        how = "Forced to stop" if stop.forced else "Stopped"
        self.console.print(
            f"{how} by {stop.name} {done}. Continue with: {escape(shlex.join(self.command))}",
            soft_wrap=True,
            highlight=False,
        )
        if self.as_json:
            summary = shown.stopped_summary or empty_summary("failed", shown.flow_run_id)
            summary.update(error=self._why(stop), stopped=stop.name)
            sys.stdout.write(json.dumps(summary, default=str) + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
        if stop.forced or stop.lingering:
            # The run's thread has not ended (a second Ctrl-C, or a query that does not stop): leave without it.
            os._exit(stop.exit_code)
        return stop.exit_code


def _record_stop(flow_run_id: str, message: str) -> None:
    """Mark the stopped run Cancelled with how to continue, instead of the Crashed its engine reported."""
    import asyncio
    from uuid import UUID

    async def mark() -> None:
        from prefect.client.orchestration import get_client
        from prefect.states import Cancelled

        async with get_client() as client:
            await client.set_flow_run_state(UUID(flow_run_id), Cancelled(message=message), force=True)

    with contextlib.suppress(Exception):  # the stop line matters more than the record of it
        asyncio.run(mark())
