"""The `ac-sync` command line."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ac_sync.prefect_setup import register as register_prefect_commands

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


# The options `run` and `plan` share, declared once.
Audience = Annotated[str, typer.Option("--audience", help="A .csv/.parquet/.json/.jsonl file or a SQL query")]
ListName = Annotated[str | None, typer.Option("--list", help="The list's exact name")]
Group = Annotated[str | None, typer.Option("--group", help="The user group's exact title")]
Mode = Annotated[str, typer.Option("--mode", help="upsert (add and update) or mirror (also remove leavers)")]
State = Annotated[str | None, typer.Option("--state", help="Where the sync state lives (path or fsspec URL)")]
VerboseLog = Annotated[str | None, typer.Option("--verbose-log", help="Write the rejected rows CSV here")]
Database = Annotated[str | None, typer.Option("--database", help="Run the SQL there (postgresql://...)")]
Campaign = Annotated[str | None, typer.Option("--campaign", help="Campaign name for --list-template")]
ListTemplate = Annotated[
    str | None, typer.Option("--list-template", help='List name template, e.g. "{campaign_name} – {group_name}"')
]
MaxRemovals = Annotated[str | None, typer.Option("--max-removals", help="N or P% (default 10%) in mirror mode")]
FullResync = Annotated[bool, typer.Option("--full-resync", help="Send every row, ignoring the state")]
CredentialsBlock = Annotated[
    str | None, typer.Option("--credentials-block", help="A saved ActiveCampaign credentials block")
]
BatchSize = Annotated[int | None, typer.Option("--batch-size", min=1, max=250)]
Json = Annotated[bool, typer.Option("--json", help="End with one JSON summary line on stdout")]


def _params(database: str | None, mode: str, **given: Any) -> dict[str, Any]:
    if mode not in ("upsert", "mirror"):
        err.print(f"[red]error:[/] --mode must be upsert or mirror, not {mode!r}")
        raise typer.Exit(2)
    if database:
        # The URL may hold a password: it reaches the run through the environment, never a flow parameter.
        os.environ["AC_SYNC_DATABASE_URL"] = database
    return {"mode": mode, **{k: v for k, v in given.items() if v is not None}}


@app.command()
def run(
    audience: Audience,
    list_name: ListName = None,
    group: Group = None,
    mode: Mode = "upsert",
    state: State = None,
    verbose_log: VerboseLog = None,
    database: Database = None,
    campaign: Campaign = None,
    list_template: ListTemplate = None,
    max_removals: MaxRemovals = None,
    full_resync: FullResync = False,
    credentials_block: CredentialsBlock = None,
    batch_size: BatchSize = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only plan: read, write nothing")] = False,
    pause_timeout: Annotated[
        int | None,
        typer.Option("--pause-timeout", min=0, help="Seconds to wait, paused, for a resolution (0: stop at once)"),
    ] = None,
    as_json: Json = False,
) -> None:
    """Run one sync."""
    params = _params(
        database,
        mode,
        audience=audience,
        list_name=list_name,
        group_name=group,
        state=state,
        verbose_log=verbose_log,
        campaign=campaign,
        list_template=list_template,
        max_removals=max_removals,
        full_resync=full_resync,
        credentials_block=credentials_block,
        batch_size=batch_size,
        dry_run=dry_run,
        pause_timeout=pause_timeout,
    )
    code, _ = _run_flow(params, as_json=as_json)
    raise typer.Exit(code)


@app.command()
def plan(
    audience: Audience,
    list_name: ListName = None,
    group: Group = None,
    mode: Mode = "upsert",
    state: State = None,
    verbose_log: VerboseLog = None,
    database: Database = None,
    campaign: Campaign = None,
    list_template: ListTemplate = None,
    max_removals: MaxRemovals = None,
    full_resync: FullResync = False,
    credentials_block: CredentialsBlock = None,
    batch_size: BatchSize = None,
    as_json: Json = False,
) -> None:
    """What `run` would do, with request and time estimates; makes no write request."""
    run(**locals(), dry_run=True)


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

    try:
        code = asyncio.run(resolve_run(flow_run_id, action, sets or []))
    except ConfigError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    err.print(f"Resolved {code} on flow run {flow_run_id} with {action!r}; the run continues.")


register_prefect_commands(app)


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
