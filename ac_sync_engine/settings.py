"""Settings (environment, `.env`), the Prefect credentials block, and loading the credentials inside a run.

The API key lives in a `SecretStr` and is loaded inside the flow run, never passed as a flow parameter:
Prefect stores parameters in clear (and a retry of a masked one would receive `'**********'`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ac_sync_engine.errors import ConfigError
from activecampaign.client import ACClient


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AC_SYNC_", env_file=".env", extra="ignore")

    api_url: str | None = None
    api_key: SecretStr | None = None
    group_name: str | None = None
    list_name: str | None = None
    # Where the audience SQL runs when it is not the embedded DuckDB; kept out of flow parameters because
    # warehouse URLs often carry a password.
    database_url: SecretStr | None = None
    verbose_log: bool = True
    verbose_log_path: Path = Path("ac-sync-rejected.csv")
    batch_size: int = Field(250, ge=1, le=250)
    list_sender_url: str = "https://www.example.com"
    list_sender_reminder: str = "You are receiving this because you signed up with us."
    state: str = ".ac-sync/state"
    # How long a run waits, paused, for an operator's resolution of a typed failure; 0 stops at once.
    pause_timeout: int = Field(3600, ge=0)
    # A deployment run suspends instead of pausing, so that no worker is held while it waits.
    suspend: bool = True
    # Only for the bundled emulator: its limits run this many times faster than ActiveCampaign's.
    time_scale: float = Field(1.0, gt=0)
    # Several processes syncing into one account stay under its limits together, through the Prefect server.
    shared_budget: bool = False
    # Seconds to wait for an answer from ActiveCampaign before the request counts as failed (and is retried).
    request_timeout_s: float = Field(30.0, gt=0)
    # Whether entering the list starts the account's automations: skip, run, or new-only (contacts new to the
    # list after its first sync). Bulk import runs them unless told not to.
    automations: Literal["skip", "run", "new-only"] = "skip"
    # Real seconds a run waits for ActiveCampaign to finish a queued batch (its queue promises no latency);
    # past it the run ends and the next one confirms the batch or sends it again.
    confirm_timeout_s: float = Field(4 * 3600.0, gt=0)
    # How long a run waits for another run on the same list (its lock) before giving up with ListBusy.
    lock_wait_s: float = Field(60.0, ge=0)


class ActiveCampaignCredentials(Block):
    """An ActiveCampaign account URL and API key, saved on the Prefect server (`--credentials-block NAME`)."""

    _block_type_name = "ActiveCampaign Credentials"
    _block_type_slug = "activecampaign-credentials"

    api_url: str = Field(description="The URL from Settings → Developer, e.g. https://acme.api-us1.com")
    api_key: SecretStr = Field(description="The API key of the user whose group should see the list")

    def get_client(self, **options: Any) -> ACClient:
        """A ready client of this account (options as ACClient's); the key never leaves the block otherwise."""
        return ACClient(self.api_url, self.api_key, **options)


async def load_credentials(block_name: str | None, settings: SyncSettings | None = None) -> ActiveCampaignCredentials:
    """The account's URL and key: from the saved block `block_name`, else from the environment (or `.env`)."""
    if block_name:
        try:
            return await ActiveCampaignCredentials.load(block_name)
        except ValueError as exc:
            raise ConfigError(f"no credentials block named {block_name!r}: {exc}") from None
    settings = settings or SyncSettings()
    missing = [name for name in ("api_url", "api_key") if not getattr(settings, name)]
    if missing:
        env = " and ".join(f"AC_SYNC_{m.upper()}" for m in missing)
        raise ConfigError(f"set {env} (environment or .env), or pass --credentials-block NAME")
    assert settings.api_url and settings.api_key
    return ActiveCampaignCredentials(api_url=settings.api_url, api_key=settings.api_key)
