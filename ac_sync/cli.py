"""The `ac-sync` command line."""

# No `from __future__ import annotations`: typer reads these annotations at runtime, and the run/plan options
# are declared inside a function.
import asyncio
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ac_sync.prefect_setup import register as register_prefect_commands
from ac_sync_engine.errors import ConfigError

# No telemetry from the temporary Prefect server: it cannot reach the internet and says so noisily.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sync an audience into an ActiveCampaign list.")
err = Console(stderr=True)


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback only by design")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one)")] = 8765,
    time_scale: Annotated[float, typer.Option("--time-scale", help="Run every limit and delay F times faster")] = 1.0,
    api_key: Annotated[str, typer.Option("--api-key", help="The API key the emulator accepts")] = "emulator-key",
) -> None:
    """Serve the ActiveCampaign emulator until stopped."""
    from activecampaign.emulator.config import EmulatorConfig
    from activecampaign.emulator.server import serve

    def ready(base_url: str) -> None:
        # stdout, unbuffered: scripts wait for these two lines before they start talking to the emulator.
        print(f"ActiveCampaign emulator at {base_url}  (API URL {base_url}/api/3)", flush=True)
        print(f"API key: {api_key}", flush=True)

    serve(host, port, EmulatorConfig(api_key=api_key, time_scale=time_scale), on_ready=ready)


def _run_flow(params: dict[str, Any], *, as_json: bool, quiet: bool = False) -> tuple[int, dict[str, Any]]:
    """Run the sync flow in this process and answer (exit code, summary)."""
    from ac_sync.runner import run_sync

    return asyncio.run(run_sync(params, as_json=as_json, console=err, quiet=quiet))


def _field_choices(fields: list[str] | None, mapping_file: Path | None) -> dict[str, Any] | None:
    """--mapping FILE, then --field COLUMN=FIELD over it, as the flow's `fields` parameter."""
    import yaml

    from ac_sync_engine.audience.mapping import choices_as_params, choices_from_document, parse_choices

    choices = {}
    if mapping_file is not None:
        try:
            doc = yaml.safe_load(mapping_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the mapping file {mapping_file}: {exc}") from None
        choices.update(choices_from_document(doc, str(mapping_file)))
    choices.update(parse_choices(fields or []))
    return choices_as_params(choices) or None


def _sync_command(planning: bool) -> Any:
    """`run`, or `plan` (a run that only reads): one declaration of their options."""
    run_only = {"hidden": planning}

    def command(
        audience: Annotated[
            str | None, typer.Option("--audience", help="A .csv/.parquet/.json/.jsonl file or a SQL query")
        ] = None,
        syncs: Annotated[
            Path | None,
            typer.Option("--syncs", help="A YAML file of an account's syncs, run as one plan (instead of --audience)"),
        ] = None,
        only: Annotated[
            list[str] | None, typer.Option("--only", help="With --syncs: only the sync of this name (repeatable)")
        ] = None,
        list_name: Annotated[str | None, typer.Option("--list", help="The list's exact name")] = None,
        group: Annotated[str | None, typer.Option("--group", help="The user group's exact title")] = None,
        mode: Annotated[
            str, typer.Option("--mode", help="upsert (add and update) or mirror (also remove leavers)")
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
            typer.Option("--clear-empty", help="An emptied cell clears the value this tool had sent (contact API)"),
        ] = False,
        tags: Annotated[
            str, typer.Option("--tags", help="add (default), or mirror: also take off tags this tool added")
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
            str | None, typer.Option("--state", help="Where the sync state lives (path or fsspec URL)")
        ] = None,
        verbose_log: Annotated[
            str | None, typer.Option("--verbose-log", help="Write the rejected rows CSV here")
        ] = None,
        database: Annotated[str | None, typer.Option("--database", help="Run the SQL there (postgresql://...)")] = None,
        campaign: Annotated[str | None, typer.Option("--campaign", help="Campaign name for --list-template")] = None,
        list_template: Annotated[
            str | None,
            typer.Option("--list-template", help='List name template, e.g. "{campaign_name} – {group_name}"'),
        ] = None,
        max_removals: Annotated[
            str | None, typer.Option("--max-removals", help="N or P% (default 10%) in mirror mode")
        ] = None,
        full_resync: Annotated[bool, typer.Option("--full-resync", help="Send every row, ignoring the state")] = False,
        credentials_block: Annotated[
            str | None, typer.Option("--credentials-block", help="A saved ActiveCampaign credentials block")
        ] = None,
        batch_size: Annotated[
            int | None, typer.Option("--batch-size", min=1, max=250, help="Contacts per bulk import (at most 250)")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only plan: read, write nothing", **run_only)
        ] = planning,
        pause_timeout: Annotated[
            int | None,
            typer.Option(
                "--pause-timeout", min=0, help="Seconds to wait, paused, for a resolution (0: stop at once)", **run_only
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="End with one JSON summary line on stdout")] = False,
    ) -> None:
        if syncs is not None:
            _account_run(syncs, only, locals(), planning, as_json)
        if audience is None:
            _usage("give --audience (a file or a SQL query), or --syncs FILE for an account's syncs")
        if only:
            _usage("--only goes with --syncs")
        if mode not in ("upsert", "mirror"):
            _usage(f"--mode must be upsert or mirror, not {mode!r}")
        if tags not in ("add", "mirror"):
            _usage(f"--tags must be add or mirror, not {tags!r}")
        if automations is not None and automations not in ("skip", "run", "new-only"):
            _usage(f"--automations must be skip, run or new-only, not {automations!r}")
        try:
            field_map = _field_choices(fields, mapping)
        except ConfigError as exc:
            _usage(str(exc))
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
        code, _ = _run_flow({k: v for k, v in given.items() if v is not None}, as_json=as_json)
        raise typer.Exit(code)

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
    from ac_sync_engine.syncs import load_syncs

    clash = [name for name in _PER_SYNC if given.get(name)]
    clash += [
        name
        for name, default in (("mode", "upsert"), ("tags", "add"), ("clear_empty", False))
        if given.get(name) != default
    ]
    if clash:
        option = "--" + clash[0].replace("_name", "").replace("_", "-")
        _usage(f"{option} is a sync's own setting: put it in {syncs} (each sync has its own)")
    try:
        spec = load_syncs(str(syncs))
        spec.selected(only)
    except ConfigError as exc:
        _usage(str(exc))
    if given.get("database"):
        os.environ["AC_SYNC_DATABASE_URL"] = given["database"]
    params = {
        "syncs": str(syncs.resolve()),
        "only": only or None,
        "state": given.get("state"),
        "credentials_block": given.get("credentials_block"),
        "pause_timeout": given.get("pause_timeout"),
        "dry_run": bool(given.get("dry_run")) or planning,
        "full_resync": bool(given.get("full_resync")),
        "batch_size": given.get("batch_size"),
    }
    from ac_sync.runner import run_sync

    code, _ = asyncio.run(
        run_sync({k: v for k, v in params.items() if v is not None}, as_json=as_json, console=err, account=True)
    )
    raise typer.Exit(code)


def _usage(message: str) -> NoReturn:
    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


app.command("run", help="Run one sync.")(_sync_command(planning=False))
app.command("plan", help="What `run` would do, with request and time estimates; makes no write request.")(
    _sync_command(planning=True)
)


@app.command()
def demo(
    contacts: Annotated[int, typer.Option("--contacts", min=1, help="Rows in the sample audience")] = 1000,
    time_scale: Annotated[float, typer.Option("--time-scale", help="Emulator speed-up")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON summary line on stdout")] = False,
) -> None:
    """Start the bundled emulator, seed it, and sync a sample audience into it."""
    from ac_sync.demo import run_demo

    raise typer.Exit(run_demo(contacts=contacts, time_scale=time_scale, as_json=as_json, console=err))


@app.command()
def playbooks(
    code: Annotated[str | None, typer.Argument(help="A failure code, e.g. INVALID_GROUP_NAME")] = None,
) -> None:
    """List the typed failures, or print one's playbook."""
    from rich.markdown import Markdown

    from resolutions.failures import FAILURES
    from resolutions.playbooks import PLAYBOOKS, render

    out = Console()
    if code is None:
        for name, book in PLAYBOOKS.items():
            actions = ", ".join(a.name for a in book.actions)
            out.print(f"[bold]{name}[/]  {book.title}  [dim](actions: {actions})[/]")
        return
    key = code.strip().upper().replace("-", "_")
    if key not in PLAYBOOKS:
        err.print(f"[red]error:[/] no playbook {code!r}; known: {', '.join(PLAYBOOKS)}")
        raise typer.Exit(2)
    example = FAILURES[key]("(the failure's own message)", step="(the step that failed)")
    out.print(Markdown(render(example, "FLOW_RUN_ID", paused=True)))


@app.command()
def resolve(
    flow_run_id: Annotated[str, typer.Argument(help="The paused run's id, as `ac-sync run` printed it")],
    action: Annotated[str, typer.Option("--action", help="retry, abort, or one the playbook lists")],
    sets: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE input of the action")] = None,
) -> None:
    """Resolve a paused run so that it continues (works from any machine that reaches its Prefect API)."""
    from ac_sync.resolve import resolve as resolve_run
    from ac_sync_engine.errors import ConfigError
    from ac_sync_engine.secrets import kept_from_children

    try:
        with kept_from_children():  # without PREFECT_API_URL, Prefect's temporary server is a child of this one
            code = asyncio.run(resolve_run(flow_run_id, action, sets or []))
    except ConfigError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    err.print(f"Resolved {code} on flow run {flow_run_id} with {action!r}; the run continues.")


@app.command()
def verify(
    list_name: Annotated[str, typer.Option("--list", help="The list's exact name")],
    group: Annotated[str, typer.Option("--group", help="The user group's exact title")],
    state: Annotated[
        str | None, typer.Option("--state", help="Where the sync state lives (path or fsspec URL)")
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Send the missing contacts again (never anyone who unsubscribed)")
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
    from ac_sync.verify_command import run_verify

    code = asyncio.run(
        run_verify(
            list_name=list_name,
            group_name=group,
            state=state,
            repair_missing=repair,
            sample=sample,
            rebuild=rebuild_state,
            credentials_block=credentials_block,
            console=err,
            as_json=as_json,
        )
    )
    raise typer.Exit(code)


@app.command()
def history(
    list_name: Annotated[str, typer.Option("--list", help="The list's exact name")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line on stdout instead of the table")] = False,
) -> None:
    """A list's past runs from the Prefect API: when, status, added, updated, removed, rejected, duration."""
    from ac_sync.history import list_history, print_history

    rows = asyncio.run(list_history(list_name, limit))
    print_history(list_name, rows, Console(), as_json)


register_prefect_commands(app)


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
