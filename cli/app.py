"""The `ac-sync` command line."""

# No `from __future__ import annotations`: typer reads these annotations at runtime, and the run/plan options
# are declared inside a function.
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from ac_sync.cli.display import console_for
from ac_sync.cli.help import Command, Group
from ac_sync.cli.prefect_setup import register as register_prefect_commands
from ac_sync.engine.errors import ConfigError, StateError, SyncInputError

# No telemetry from the local Prefect server: it cannot reach the internet and says so noisily.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")  # the client side of the same: no notice about it either


app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Sync an audience into an ActiveCampaign list.", cls=Group
)
err = console_for(stderr=True)


@app.command(cls=Command)
def emulator(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback only by design")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one)")] = 8765,
    time_scale: Annotated[float, typer.Option("--time-scale", help="Run every limit and delay F times faster")] = 1.0,
    api_key: Annotated[str, typer.Option("--api-key", help="The API key the emulator accepts")] = "emulator-key",
) -> None:
    """Serve the ActiveCampaign emulator until stopped."""
    from ac_sync.activecampaign.emulator.config import EmulatorConfig
    from ac_sync.activecampaign.emulator.server import serve

    def ready(base_url: str) -> None:
        # stdout, unbuffered: scripts wait for these two lines before they start talking to the emulator.
        print(f"ActiveCampaign emulator at {base_url}  (API URL {base_url}/api/3)", flush=True)
        print(f"API key: {api_key}", flush=True)
        err.print(
            "A fresh account: user 'admin' in the user group 'Admin' (id 3), and no lists, contacts or other groups."
            f" Add a group before syncing for it: curl -X POST {base_url}/__emulator__/groups -H 'Content-Type:"
            ' application/json\' -d \'{"title": "Marketing"}\'',
            soft_wrap=True,
            highlight=False,
            markup=False,
        )

    serve(host, port, EmulatorConfig(api_key=api_key, time_scale=time_scale), on_ready=ready)


def _run_flow(params: dict[str, Any], *, as_json: bool, show: int = 0, account: bool = False) -> int:
    """Check what needs no server, then run the sync flow (`account`: an account's syncs) here; the exit code."""
    from ac_sync.cli.preflight import check_account, check_run
    from ac_sync.cli.runner import Terminal, command_words
    from ac_sync.cli.stopping import Stop

    term = Terminal(err, command=command_words(), as_json=as_json, show=show)
    try:
        with term.session():
            try:
                (check_account if account else check_run)(params)
                code, _ = term.run(params, account=account)
            except SyncInputError as exc:
                code = _input_error(str(exc), as_json)
            except Exception as exc:  # outside the flow (the Prefect API failing): one line, never a traceback
                code = _input_error(f"{type(exc).__name__}: {exc}", as_json, label="failed", code=1)
    except Stop as stop:
        return term.stopped(stop)
    return code


def _input_error(message: str, as_json: bool, *, label: str = "error", code: int = 2) -> int:
    """Bad usage, settings or audience: one line (and with --json the failed summary); exit 2."""
    from ac_sync.engine.secrets import scrub
    from ac_sync.flows.shape import empty_summary

    message = scrub(message)  # a library's error may quote a URL with its password
    err.print(f"[red]{label}:[/] {escape(message)}", soft_wrap=True)
    if as_json:
        summary = {**empty_summary("failed", None), "error": message}
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
    return code


def _field_choices(fields: list[str] | None, mapping_file: Path | None) -> dict[str, Any] | None:
    """--mapping FILE, then --field COLUMN=FIELD over it, as the flow's `fields` parameter."""
    import yaml

    from ac_sync.engine.audience.mapping import choices_as_params, choices_from_document, parse_choices

    choices = {}
    if mapping_file is not None:
        try:
            doc = yaml.safe_load(mapping_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the mapping file {mapping_file}: {exc}") from None
        choices.update(choices_from_document(doc, str(mapping_file)))
    choices.update(parse_choices(fields or []))
    return choices_as_params(choices) or None


MAX_EXAMPLES = 25  # what the plan step answers of each change (tasks/upload_contacts.py)


def _sync_command(planning: bool) -> Any:
    """`run`, or `plan` (a run that only reads): one declaration of their options."""
    run_only = {"hidden": planning}

    def command(
        audience: Annotated[
            str | None,
            typer.Option(
                "--audience",
                help="A .csv/.parquet/.json/.jsonl file, or a SQL query (DuckDB; it may read files in FROM)",
            ),
        ] = None,
        syncs: Annotated[
            Path | None,
            typer.Option("--syncs", help="A YAML file of an account's syncs, run as one plan (instead of --audience)"),
        ] = None,
        only: Annotated[
            list[str] | None, typer.Option("--only", help="With --syncs: only the sync of this name (repeatable)")
        ] = None,
        list_name: Annotated[
            str | None, typer.Option("--list", help="The list's exact name (or AC_SYNC_LIST_NAME); made if missing")
        ] = None,
        group: Annotated[
            str | None,
            typer.Option(
                "--group", help="The exact title of the user group that sees the list (or AC_SYNC_GROUP_NAME)"
            ),
        ] = None,
        mode: Annotated[
            str, typer.Option("--mode", help="upsert: add and update (the default); mirror: also remove leavers")
        ] = "upsert",
        fields: Annotated[
            list[str] | None,
            typer.Option(
                "--field",
                help="COLUMN=FIELD: send a column to a custom field (perstag, title or id); COLUMN=- ignores it",
            ),
        ] = None,
        mapping: Annotated[
            Path | None, typer.Option("--mapping", help="A YAML file of COLUMN: FIELD pairs (--field overrides it)")
        ] = None,
        clear_empty: Annotated[
            bool,
            typer.Option(
                "--clear-empty", help="An emptied cell clears the value this tool had sent (contact API)", metavar=""
            ),
        ] = False,
        tags: Annotated[
            str, typer.Option("--tags", help="add (the default), or mirror: also take off tags this tool added")
        ] = "add",
        automations: Annotated[
            str | None,
            typer.Option(
                "--automations",
                help="skip (default; AC_SYNC_AUTOMATIONS), run, or new-only: start the account's automations for"
                " contacts entering the list (new-only: those new to it after its first sync)",
            ),
        ] = None,
        state: Annotated[
            str | None,
            typer.Option(
                "--state", help="Where the sync state lives: a path or fsspec URL (AC_SYNC_STATE; .ac-sync/state)"
            ),
        ] = None,
        verbose_log: Annotated[
            str | None,
            typer.Option(
                "--verbose-log", help="The CSV of rows not synced, with row and reason (default ac-sync-rejected.csv)"
            ),
        ] = None,
        database: Annotated[
            str | None,
            typer.Option(
                "--database", help="Run the SQL there: postgresql://... (reaches the run through the environment)"
            ),
        ] = None,
        campaign: Annotated[str | None, typer.Option("--campaign", help="Campaign name for --list-template")] = None,
        list_template: Annotated[
            str | None,
            typer.Option("--list-template", help='List name template, e.g. "{campaign_name} – {group_name}"'),
        ] = None,
        max_removals: Annotated[
            str | None,
            typer.Option(
                "--max-removals",
                help="Mirror mode stops before writing when it would remove more: N contacts or P% (default 10%)",
            ),
        ] = None,
        full_resync: Annotated[
            bool,
            typer.Option(
                "--full-resync", help="Send every row again (removals still come from the sync state)", metavar=""
            ),
        ] = False,
        credentials_block: Annotated[
            str | None,
            typer.Option(
                "--credentials-block",
                help="Read the URL and key from this saved block (ac-sync credentials save) instead of"
                " AC_SYNC_API_URL/AC_SYNC_API_KEY",
            ),
        ] = None,
        batch_size: Annotated[
            int | None,
            typer.Option(
                "--batch-size",
                min=1,
                max=250,
                help="Contacts per bulk import (AC_SYNC_BATCH_SIZE; default and most 250, ActiveCampaign's limit):"
                " smaller batches confirm sooner, and one sent twice after a stop is smaller",
            ),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only plan: read, write nothing", metavar="", **run_only)
        ] = planning,
        pause_timeout: Annotated[
            int | None,
            typer.Option(
                "--pause-timeout",
                min=0,
                help="Seconds a typed failure waits, paused, for `ac-sync resolve` (AC_SYNC_PAUSE_TIMEOUT, default"
                " 3600; 0: stop at once)",
                **run_only,
            ),
        ] = None,
        show: Annotated[
            int,
            typer.Option(
                "--show",
                min=0,
                max=MAX_EXAMPLES,
                help=f"List up to N example emails of each change (added, changed, removed); at most {MAX_EXAMPLES}",
                hidden=not planning,
            ),
        ] = 0,
        as_json: Annotated[
            bool, typer.Option("--json", help="End with one JSON summary line on stdout", metavar="")
        ] = False,
    ) -> None:
        if syncs is not None:
            _account_run(syncs, only, locals(), planning, as_json)
        if audience is None:
            _usage("give --audience (a file or a SQL query), or --syncs FILE for an account's syncs", as_json)
        if only:
            _usage("--only goes with --syncs", as_json)
        if mode not in ("upsert", "mirror"):
            _usage(f"--mode must be upsert or mirror, not {mode!r}", as_json)
        if tags not in ("add", "mirror"):
            _usage(f"--tags must be add or mirror, not {tags!r}", as_json)
        if automations is not None and automations not in ("skip", "run", "new-only"):
            _usage(f"--automations must be skip, run or new-only, not {automations!r}", as_json)
        try:
            field_map = _field_choices(fields, mapping)
        except ConfigError as exc:
            _usage(str(exc), as_json)
        if database:
            # The URL may hold a password: it reaches the run through the environment, never a flow parameter.
            os.environ["AC_SYNC_DATABASE_URL"] = database
        given = {
            "audience": audience,
            "list_name": list_name,
            "group_name": group,
            "mode": mode,
            "fields": field_map,
            "clear_empty": clear_empty,
            "tags": tags,
            "automations": automations,
            "state": state,
            "verbose_log": verbose_log,
            "campaign": campaign,
            "list_template": list_template,
            "max_removals": max_removals,
            "full_resync": full_resync,
            "credentials_block": credentials_block,
            "batch_size": batch_size,
            "dry_run": dry_run or planning,
            "pause_timeout": pause_timeout,
        }
        raise typer.Exit(_run_flow({k: v for k, v in given.items() if v is not None}, as_json=as_json, show=show))

    return command


# What a syncs file declares per sync; on the command line beside --syncs they would be ambiguous.
_PER_SYNC = (
    "audience",
    "list_name",
    "group",
    "fields",
    "mapping",
    "campaign",
    "list_template",
    "max_removals",
    "automations",
    "verbose_log",
)


def _account_run(syncs: Path, only: list[str] | None, given: dict[str, Any], planning: bool, as_json: bool) -> NoReturn:
    """`run --syncs FILE`: the file is checked here (one line per mistake) before any Prefect API starts."""
    from ac_sync.engine.syncs import load_syncs

    clash = [name for name in _PER_SYNC if given.get(name)]
    clash += [
        name
        for name, default in (("mode", "upsert"), ("tags", "add"), ("clear_empty", False))
        if given.get(name) != default
    ]
    if clash:
        option = "--" + clash[0].replace("_name", "").replace("_", "-")
        where = {
            "mapping": f"put the mapping in {syncs} as each sync's `fields:`",
            "verbose_log": "each list has its own rejected-rows file: set their path with AC_SYNC_VERBOSE_LOG_PATH"
            " ({list}, {when} and {run} are filled in)",
        }.get(clash[0], f"put it in {syncs} (each sync has its own)")
        _usage(f"{option} is a sync's own setting: {where}", as_json)
    try:
        spec = load_syncs(str(syncs))
        spec.selected(only)
    except ConfigError as exc:
        _usage(str(exc), as_json)
    if given.get("database"):
        os.environ["AC_SYNC_DATABASE_URL"] = given["database"]
    params = {
        "syncs": str(syncs.resolve()),
        "only": only or None,
        # The flag, else the syncs file's `account:` (the flow reads the file too; the checks before it must agree).
        "state": given.get("state") or spec.account.state,
        "credentials_block": given.get("credentials_block") or spec.account.credentials_block,
        "pause_timeout": given.get("pause_timeout"),
        "dry_run": bool(given.get("dry_run")) or planning,
        "full_resync": bool(given.get("full_resync")),
        "batch_size": given.get("batch_size"),
    }
    raise typer.Exit(_run_flow({k: v for k, v in params.items() if v is not None}, as_json=as_json, account=True))


def _usage(message: str, as_json: bool = False) -> NoReturn:
    raise typer.Exit(_input_error(message, as_json))


CREDENTIALS_HELP = (
    " Credentials: AC_SYNC_API_URL and AC_SYNC_API_KEY (environment or .env), or --credentials-block NAME."
    " Prefect: the server PREFECT_API_URL names, else a local one started for the command."
    " Exit codes: 0 done, 2 bad usage or input, 3 a failure its playbook tells how to fix, 130/143 stopped by"
    " Ctrl-C/SIGTERM (run the same command to continue), 1 anything else."
)
app.command("run", help="Run one sync." + CREDENTIALS_HELP, cls=Command)(_sync_command(planning=False))
app.command(
    "plan",
    help="What `run` would do, with request and time estimates (and, with --show N, examples); makes no write"
    " request." + CREDENTIALS_HELP,
    cls=Command,
)(_sync_command(planning=True))


@app.command(cls=Command)
def demo(
    contacts: Annotated[int, typer.Option("--contacts", min=1, help="Rows in the sample audience")] = 1000,
    time_scale: Annotated[
        float, typer.Option("--time-scale", help="Run the emulator's limits and delays F times faster")
    ] = 10.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON summary line on stdout", metavar="")
    ] = False,
) -> None:
    """Start the bundled emulator, seed it, and sync a sample audience into it (exit 0: the list is exact)."""
    from ac_sync.cli.demo import run_demo

    raise typer.Exit(run_demo(contacts=contacts, time_scale=time_scale, as_json=as_json, console=err))


@app.command(cls=Command)
def playbooks(
    code: Annotated[str | None, typer.Argument(help="A failure code, e.g. INVALID_GROUP_NAME")] = None,
) -> None:
    """List the typed failures, or print one's playbook."""
    from rich.markdown import Markdown

    from ac_sync.resolutions.failures import example
    from ac_sync.resolutions.playbooks import PLAYBOOKS, render

    out = console_for()
    if code is None:
        for name, book in PLAYBOOKS.items():
            actions = ", ".join(a.name for a in book.actions)
            out.print(f"[bold]{name}[/]  {book.title}  [dim](actions: {actions})[/]")
        return
    key = code.strip().upper().replace("-", "_")
    if key not in PLAYBOOKS:
        err.print(f"[red]error:[/] no playbook {code!r}; known: {', '.join(PLAYBOOKS)}")
        raise typer.Exit(2)
    shown = example(key, "(the failure's own message)", step="(the step that failed)")
    out.print(Markdown(render(shown, "FLOW_RUN_ID", paused=True)))


@app.command(cls=Command)
def resolve(
    flow_run_id: Annotated[str, typer.Argument(help="The paused run's id, as `ac-sync run` printed it")],
    action: Annotated[str, typer.Option("--action", help="retry, abort, or one the playbook lists")],
    sets: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE input of the action")] = None,
) -> None:
    """Resolve a paused run so that it continues (from any shell that reaches its Prefect API: PREFECT_API_URL,
    or the local server of a paused `ac-sync run` on this machine)."""
    from ac_sync.cli.prefect_api import prefect_api
    from ac_sync.cli.resolve import precheck
    from ac_sync.cli.resolve import resolve as resolve_run
    from ac_sync.engine.errors import ConfigError
    from ac_sync.engine.secrets import kept_from_children

    try:
        precheck(flow_run_id, action, sets or [])
        # Without PREFECT_API_URL the local Prefect server is a child of this process: keep the secrets from it.
        with kept_from_children(), prefect_api(lambda text: err.print(text), reuse=True):
            code = asyncio.run(resolve_run(flow_run_id, action, sets or []))
    except ConfigError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("Stopped by Ctrl-C; the run was not resolved.")
        raise typer.Exit(130) from None
    err.print(f"Resolved {code} on flow run {flow_run_id} with {action!r}; the run continues.")


@app.command(cls=Command)
def verify(
    list_name: Annotated[str, typer.Option("--list", help="The list's exact name")],
    group: Annotated[str, typer.Option("--group", help="The user group's exact title")],
    state: Annotated[
        str | None, typer.Option("--state", help="Where the sync state lives (path or fsspec URL)")
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Send the missing contacts again (never anyone who unsubscribed; bounced ones stay off)"
        ),
    ] = False,
    repair_bounced: Annotated[
        bool,
        typer.Option(
            "--repair-bounced",
            help="With --repair: bounced contacts too (ActiveCampaign makes them active again: a risk to the"
            " sender's reputation)",
        ),
    ] = False,
    sample: Annotated[
        int | None, typer.Option("--sample", min=1, help="Check N random contacts instead (two requests each)")
    ] = None,
    rebuild_state: Annotated[
        bool,
        typer.Option(
            "--rebuild-state",
            help="Write the list's sync state anew from its members (a damaged state is kept aside); the next"
            " run compares every member once and sends what differs",
        ),
    ] = False,
    credentials_block: Annotated[
        str | None, typer.Option("--credentials-block", help="A saved ActiveCampaign credentials block")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON summary line on stdout")] = False,
) -> None:
    """Compare the list's members in ActiveCampaign with what the sync state says was sent (100 a request)."""
    if rebuild_state and (repair or sample):
        _usage("--rebuild-state writes the state from the list itself: it goes without --repair and --sample")
    if repair_bounced and not repair:
        _usage("--repair-bounced goes with --repair")
    from ac_sync.cli.verify_command import VerifyAsk, run_verify

    ask = VerifyAsk(list_name, group, state, repair, sample, credentials_block, rebuild_state, repair_bounced)
    code = asyncio.run(run_verify(ask, console=err, as_json=as_json))
    raise typer.Exit(code)


@app.command()
def history(
    list_name: Annotated[str, typer.Option("--list", help="The list's exact name")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first")] = 20,
    plans: Annotated[
        bool, typer.Option("--plans", help="Also list the plans (dry runs), as kind 'plan' with no counts")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line on stdout instead of the table")] = False,
) -> None:
    """A list's past runs from the Prefect API: when, status, added, updated, removed, rejected, duration. A
    stopped run shows what it had confirmed; plans (which add nothing) are left out unless --plans."""
    from ac_sync.cli.history import list_history, print_history
    from ac_sync.cli.prefect_api import prefect_api

    try:
        # The runs' API: PREFECT_API_URL, else the local server (on PREFECT_HOME's database) runs here use.
        with prefect_api(lambda text: err.print(text), reuse=True):
            rows = asyncio.run(list_history(list_name, limit, plans=plans))
    except ConfigError as exc:
        _usage(str(exc))
    # Piped into a file or a script, Rich's 80 columns would wrap the table: give it room.
    print_history(list_name, rows, console_for(), as_json)


# Where `rejected` and `consent` read: the sync state's location.
StateOption = Annotated[str | None, typer.Option("--state", help="The sync state's location (default AC_SYNC_STATE)")]


@app.command(cls=Command)
def rejected(
    file: Annotated[
        str | None, typer.Argument(help="Print this rejected-rows file (as a summary names it, a path or a URL)")
    ] = None,
    list_name: Annotated[str | None, typer.Option("--list", help="Only this list's files")] = None,
    find: Annotated[
        str | None,
        typer.Option("--find", help="The rows whose digest (shown beside a masked email in Prefect) is this"),
    ] = None,
    state: StateOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line on stdout instead of the table")] = False,
) -> None:
    """The private rejected-rows files kept beside the sync state, wherever it lives (AC_SYNC_REJECTED_KEEP_DAYS
    and _RUNS say how long): listed newest first, one printed, or a row of a Prefect artifact found by its
    digest."""
    from ac_sync.cli import rejected_command
    from ac_sync.engine.rejected_files import located, rejected_root, state_folder
    from ac_sync.engine.settings import SyncSettings
    from ac_sync.engine.upload.stores import open_location

    location = state or SyncSettings().state
    root = rejected_root(location)
    console = console_for()
    try:
        if file is not None:
            # A summary names the file relative to the state's location: found from there too.
            named = file if Path(file).is_absolute() or Path(file).exists() else located(file, state_folder(location))
            code = rejected_command.show(*open_location(named), console)
        elif find is not None:
            code = rejected_command.find(*open_location(root), find, console, as_json)
        else:
            code = rejected_command.list_files(*open_location(root), list_name, console, as_json)
    except ConfigError as exc:
        _usage(str(exc))
    except Exception as exc:  # noqa: BLE001 - a file edited, damaged or unreadable, or a store's refusal: one line
        _usage(f"cannot read {file or f'the rejected-rows files under {root}'}: {type(exc).__name__}: {exc}")
    raise typer.Exit(code)


@app.command(cls=Command)
def consent(
    list_name: Annotated[str, typer.Option("--list", help="The list's exact name")],
    show: Annotated[int, typer.Option("--show", min=0, help="People shown of each kind")] = 20,
    state: StateOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line on stdout, everyone in it")] = False,
) -> None:
    """The list's consent record, from its sync state (read here, never sent to Prefect): whom this tool removed
    and when, who opted out by themselves and how that was established, whom it re-subscribed and on what
    evidence (ActiveCampaign's own stamps), and that nobody who opted out was re-subscribed (exit 1 if not)."""
    from ac_sync.cli.consent_command import print_consent
    from ac_sync.engine.settings import SyncSettings

    try:
        code = print_consent(state or SyncSettings().state, list_name, console_for(), as_json, show)
    except (ConfigError, StateError) as exc:  # a damaged state names its file and the command that rebuilds it
        _usage(str(exc))
    raise typer.Exit(code)


register_prefect_commands(app)


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
