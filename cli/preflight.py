"""What a command can check before it starts a Prefect API: flags, settings, the API URL's form, the audience's form.

Each check answers in a moment with the one line the run itself would end with, but before any server starts
(10-25 s, or an hour's pause for a URL without a scheme). The run checks them again where they are used: a
deployment's run has no command line in front of it.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from ac_sync.engine.errors import AudienceError, ConfigError

if TYPE_CHECKING:
    from ac_sync.engine.audience.sandbox import QueryPolicy

BLOCK_NAME = re.compile(r"[a-z0-9-]+")


def checked_settings() -> Any:
    from pydantic import ValidationError

    from ac_sync.engine.settings import SyncSettings

    try:
        return SyncSettings()
    except ValidationError as exc:
        problems = "; ".join(f"AC_SYNC_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"a setting is not valid: {problems}") from None


def check_names(params: dict[str, Any], settings: Any) -> None:
    """The group and the list are named (flags, settings, or a campaign template that gives a name)."""
    from ac_sync.engine.syncs import one_list_sync

    one_list_sync(
        audience=params.get("audience") or "",
        list_name=params.get("list_name"),
        group_name=params.get("group_name"),
        campaign=params.get("campaign"),
        list_template=params.get("list_template"),
        settings=settings,
    )


def check_credentials(params: dict[str, Any], settings: Any) -> None:
    """Without a credentials block: the URL and key are set, and the URL has a form the client accepts."""
    block = params.get("credentials_block")
    if block:
        if not BLOCK_NAME.fullmatch(block):
            raise ConfigError(f"--credentials-block {block!r}: block names use lowercase letters, digits and dashes")
        return  # the block lives on the Prefect server: the run loads it
    from ac_sync.activecampaign.errors import ApiUrlError
    from ac_sync.activecampaign.urls import normalise_base_url
    from ac_sync.engine.settings import load_credentials

    credentials = asyncio.run(load_credentials(None, settings))
    try:
        normalise_base_url(credentials.api_url)
    except ApiUrlError as exc:
        raise ConfigError(f"AC_SYNC_API_URL: {exc.message}") from None


def check_audience(source: str, database_url: str | None, policy: QueryPolicy) -> None:
    """The audience source has a form the run can read: a readable file of a known type, or a query that binds
    in its sandbox (`policy`: what it may reach)."""
    from ac_sync.engine.audience.postgres import check_database_url
    from ac_sync.engine.audience.source import check_source, looks_like_path

    if database_url is not None:
        check_database_url(database_url)
        if looks_like_path(source):
            raise AudienceError("with a database URL the audience must be a SQL query (SELECT ...)")
        return  # the query runs on that server: the run finds out
    check_source(source, policy)


def check_run(params: dict[str, Any]) -> None:
    """Everything about `ac-sync run`/`plan` that needs no server; raises ConfigError or AudienceError."""
    settings = checked_settings()
    check_names(params, settings)
    check_credentials(params, settings)
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    from ac_sync.engine.audience.sandbox import QueryPolicy

    check_audience(params["audience"], database_url, QueryPolicy.from_settings(settings))


def check_account(params: dict[str, Any]) -> None:
    """`run --syncs FILE` (the file itself checked already): the settings and the credentials."""
    settings = checked_settings()
    check_credentials(params, settings)
