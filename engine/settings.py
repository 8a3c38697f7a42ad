"""Settings (environment, `.env`), the Prefect credentials block, and loading the credentials inside a run.

The API key lives in a `SecretStr` and is loaded inside the flow run, never passed as a flow parameter:
Prefect stores parameters in clear (and a retry of a masked one would receive `'**********'`).
"""

from __future__ import annotations

from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.errors import ConfigError
from ac_sync.engine.secrets import clean_api_key, clean_api_url, held_secrets, remember_secret

ENV_PREFIX = "AC_SYNC_"


def _secret_text(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    api_url: str | None = None
    api_key: SecretStr | None = None
    group_name: str | None = None
    list_name: str | None = None
    # Where the audience SQL runs when it is not the embedded DuckDB; kept out of flow parameters because
    # warehouse URLs often carry a password.
    database_url: SecretStr | None = None
    # The folders (separated as in PATH) a DuckDB audience query may read files from; unset, any file this
    # process can read. Either way the query loads no extension and cannot change DuckDB's settings.
    query_folders: str | None = None
    # A PostgreSQL audience query: its statement timeout, and what to do with a role that can open connections
    # of its own (dblink) or is a superuser — a read-only transaction does not cover those: refuse, or warn.
    query_timeout_s: float = Field(3600.0, gt=0)
    query_role_check: Literal["refuse", "warn"] = "refuse"
    verbose_log: bool = True
    # A private file per list and per run ({state}, {list}, {when}, {run} filled in), written only when a run
    # rejects rows; a path without them is one file.
    verbose_log_path: str = "{state}/rejected/{list}/{when}-{run}.csv"
    # How long the rejected-rows files of a list are kept: this many days, and at most this many runs' files.
    rejected_keep_days: int = Field(30, ge=0)
    rejected_keep_runs: int = Field(20, ge=1)
    # How long a failed or suspended run's private working copy waits for its Retry (0: until a later run
    # completes its lists); the next run after that removes it.
    work_keep_days: float = Field(7, ge=0)
    # Off: nothing Prefect stores (artifacts, logs, states, events) holds an audience email or a mapped value;
    # on, for a team whose Prefect is as restricted as its warehouse, the rejected rows show them as they are.
    prefect_personal_data: bool = False
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
    # A completed run whose rejected rows pass this share of its audience alerts (ac-sync setup's notice alert).
    alert_rejected_share: float | None = Field(None, ge=0, le=1)
    # How long a run waits for another run on the same list (its lock) before giving up with ListBusy.
    lock_wait_s: float = Field(60.0, ge=0)

    # --- the key and the URL, checked as they are read (secrets.py): one line for a bad paste, never the key.

    @field_validator("api_key", mode="before")
    @classmethod
    def _clean_key(cls, value: Any) -> Any:
        raw = _secret_text(value)
        return clean_api_key(raw, f"{ENV_PREFIX}API_KEY") if isinstance(raw, str) else value

    @field_validator("api_url", mode="before")
    @classmethod
    def _clean_url(cls, value: Any) -> Any:
        return clean_api_url(value, f"{ENV_PREFIX}API_URL") if isinstance(value, str) and value.strip() else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _remember_database_url(cls, value: Any) -> Any:
        remember_secret(_secret_text(value))  # a warehouse URL often carries a password
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The secrets a run moved out of os.environ (secrets.kept_from_children) keep their place: after the
        # environment (a value set again there is newer), before .env.
        held = {name.removeprefix(ENV_PREFIX).lower(): value for name, value in held_secrets().items()}
        held_source = InitSettingsSource(settings_cls, init_kwargs=held)
        return init_settings, env_settings, held_source, dotenv_settings, file_secret_settings


class ActiveCampaignCredentials(Block):
    """An ActiveCampaign account URL and API key, saved on the Prefect server (`--credentials-block NAME`)."""

    _block_type_name = "ActiveCampaign Credentials"
    _block_type_slug = "activecampaign-credentials"

    api_url: str = Field(description="The URL from Settings → Developer, e.g. https://acme.api-us1.com")
    api_key: SecretStr = Field(description="The API key of the user whose group should see the list")

    @field_validator("api_key", mode="before")
    @classmethod
    def _clean_key(cls, value: Any) -> Any:
        # Saved (`ac-sync credentials save`) and loaded alike: a key pasted into the UI's form is checked too.
        raw = _secret_text(value)
        return clean_api_key(raw, "the credentials block's API key") if isinstance(raw, str) else value

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
