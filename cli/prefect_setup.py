"""`ac-sync` commands that set up Prefect for scheduled runs: credentials blocks, the work pool, the alert.

They talk to the Prefect API that PREFECT_API_URL names, and refuse to run without one: Prefect would
otherwise start a throwaway local server, and the block or pool would silently land there.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
import yaml

from ac_sync.cli.display import console_for
from ac_sync.cli.help import Command, Group
from ac_sync.cli.preflight import BLOCK_NAME
from ac_sync.engine.errors import ConfigError

DEFAULT_POOL = "ac-sync"
DEFAULT_WEBHOOK_BLOCK = "ac-sync-alerts"
AUTOMATION_FILE = Path(__file__).resolve().parent.parent / "deploy" / "failure-alert.yaml"
UI_URL_TOKEN = "${PREFECT_UI_URL}"

err = console_for(stderr=True)
credentials_app = typer.Typer(
    no_args_is_help=True, help="ActiveCampaign credentials saved as Prefect blocks.", cls=Group
)


def _require_api() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError("set PREFECT_API_URL to your Prefect server's API (e.g. http://127.0.0.1:4200/api)")
    return str(url)


def _ui_url() -> str:
    from prefect.settings import PREFECT_UI_URL

    # Derived from PREFECT_API_URL unless set: the address this operator's machine reaches the server at.
    return str(PREFECT_UI_URL.value() or _require_api().removesuffix("/api")).rstrip("/")


def _run(coro: Any) -> Any:
    """Run a command's coroutine; configuration and API errors end it with exit code 2 and one line."""
    import httpx

    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except (httpx.HTTPError, OSError, ValueError) as exc:  # PrefectHTTPStatusError is an httpx error too
        err.print(f"[red]error:[/] the Prefect API at {_require_api()} refused or failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None


# --- credentials ------------------------------------------------------------------------------------------


def read_api_key(from_stdin: bool) -> str:
    """The key from stdin (first line) or AC_SYNC_API_KEY; never from a flag, which shell history would keep."""
    if from_stdin:
        key = sys.stdin.readline().strip()
        where = "standard input"
    else:
        key = os.environ.get("AC_SYNC_API_KEY", "").strip()
        where = "AC_SYNC_API_KEY"
    if not key:
        raise ConfigError(f"no API key in {where}: set AC_SYNC_API_KEY, or pipe it in with --api-key-stdin")
    return key


async def save_credentials(name: str, api_url: str, api_key: str) -> UUID:
    from pydantic import SecretStr

    from ac_sync.activecampaign.errors import ApiUrlError
    from ac_sync.activecampaign.urls import normalise_base_url
    from ac_sync.engine.settings import ActiveCampaignCredentials

    _require_api()
    if not BLOCK_NAME.fullmatch(name):
        raise ConfigError(f"block name {name!r}: use lowercase letters, digits and dashes (Prefect's rule)")
    try:
        normalise_base_url(api_url)  # refuse now what the run would refuse later
    except ApiUrlError as exc:
        raise ConfigError(exc.message) from None
    block = ActiveCampaignCredentials(api_url=api_url, api_key=SecretStr(api_key))
    return await block.asave(name, overwrite=True)


@credentials_app.command("save", cls=Command)
def credentials_save(
    name: Annotated[str, typer.Argument(help="Block name (lowercase letters, digits, dashes), used by runs")],
    api_url: Annotated[str, typer.Option("--api-url", help="The URL from ActiveCampaign's Settings → Developer")],
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read the key from stdin instead of AC_SYNC_API_KEY")
    ] = False,
) -> None:
    """Save (or replace) an ActiveCampaign URL and key as a Prefect block; runs name it with credentials_block."""
    try:
        key = read_api_key(api_key_stdin)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    block_id = _run(save_credentials(name, api_url, key))
    err.print(f"Saved credentials block {name!r} ({block_id}); runs read it with credentials_block={name!r}.")


# --- setup: work pool and alert ---------------------------------------------------------------------------


async def ensure_process_pool(name: str) -> bool:
    """Create the `process` work pool unless it exists; answer whether it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        try:
            pool = await client.read_work_pool(name)
        except ObjectNotFound:
            # The default template comes from the worker class: asking Prefect's collection registry for it
            # (as `prefect work-pool create` may) needs the internet.
            template = ProcessWorker.get_default_base_job_template()
            await client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
            return True
    if pool.type != "process":
        raise ConfigError(f"work pool {name!r} exists with type {pool.type!r}; ac-sync's prefect.yaml wants 'process'")
    return False


def automation_definitions(block_document_id: UUID, ui_url: str, path: Path = AUTOMATION_FILE) -> list[dict[str, Any]]:
    """The shipped automations (typed failures, other failures, crashes, notices), their webhook actions pointed
    at the block and their links at this UI."""
    if not path.is_file():
        raise ConfigError(f"no automation definition at {path}: run ac-sync setup from a checkout of this repo")
    text = path.read_text(encoding="utf-8").replace(UI_URL_TOKEN, ui_url)
    specs = [spec for spec in yaml.safe_load_all(text) if spec]
    for spec in specs:
        for action in spec["actions"]:
            if action.get("type") == "call-webhook":
                action["block_document_id"] = str(block_document_id)
    return specs


async def install_alert(webhook_url: str, block_name: str, path: Path = AUTOMATION_FILE) -> list[UUID]:
    """Save the webhook block and (re)create the alert automations; answer their ids."""
    from prefect.automations import AutomationCore
    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import get_client

    webhook = Webhook(url=webhook_url, headers={"Content-Type": "application/json"})  # type: ignore[arg-type]
    block_id = await webhook.asave(block_name, overwrite=True)
    automations = [AutomationCore.model_validate(s) for s in automation_definitions(block_id, _ui_url(), path)]
    made = []
    async with get_client() as client:
        for automation in automations:
            # Replace rather than add: running setup twice must not double every alert.
            for old in await client.read_automations_by_name(automation.name):
                await client.delete_automation(old.id)
            made.append(await client.create_automation(automation))
    return made


async def setup_prefect(pool: str, webhook_url: str | None, block_name: str) -> list[str]:
    from ac_sync.engine.settings import ActiveCampaignCredentials

    _require_api()
    if not BLOCK_NAME.fullmatch(block_name):
        raise ConfigError(f"block name {block_name!r}: use lowercase letters, digits and dashes (Prefect's rule)")
    done = []
    created = await ensure_process_pool(pool)
    done.append(f"work pool {pool!r} (process) " + ("created" if created else "already there"))
    # Registered so that the UI can show and create credentials blocks before any is saved from here.
    await ActiveCampaignCredentials.aregister_type_and_schema()
    done.append("block type 'activecampaign-credentials' registered")
    if webhook_url:
        made = await install_alert(webhook_url, block_name)
        done.append(
            f"webhook block {block_name!r} saved; {len(made)} alert automations installed (typed failures, other"
            " failures, crashes, rejected rows and recoveries)"
        )
    return done


def setup(
    pool: Annotated[str, typer.Option("--pool", help="Name of the process work pool prefect.yaml uses")] = DEFAULT_POOL,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook-url",
            envvar="AC_SYNC_WEBHOOK_URL",
            help="Send failure alerts here (a Slack-style incoming webhook); also read from AC_SYNC_WEBHOOK_URL",
        ),
    ] = None,
    webhook_block: Annotated[
        str, typer.Option("--webhook-block", help="Name of the Webhook block that holds the URL")
    ] = DEFAULT_WEBHOOK_BLOCK,
) -> None:
    """Prepare the Prefect server for scheduled runs: the work pool, the block type, and the failure alert."""
    for line in _run(setup_prefect(pool, webhook_url, webhook_block)):
        err.print(line)
    if not webhook_url:
        err.print("No --webhook-url: no failure alert installed (runs still emit ac-sync.failure.* events).")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `ac-sync` app."""
    app.add_typer(credentials_app, name="credentials")
    app.command("setup", cls=Command)(setup)
