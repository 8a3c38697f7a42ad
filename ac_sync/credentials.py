"""Load the account URL and key inside the run: from a Prefect block by name, or from the environment."""

from __future__ import annotations

from pydantic import SecretStr

from ac_sync.errors import ConfigError
from ac_sync.settings import ActiveCampaignCredentials, SyncSettings


async def load_credentials(block_name: str | None, settings: SyncSettings | None = None) -> tuple[str, SecretStr]:
    if block_name:
        try:
            block = await ActiveCampaignCredentials.load(block_name)
        except ValueError as exc:
            raise ConfigError(f"no credentials block named {block_name!r}: {exc}") from None
        return block.api_url, block.api_key
    settings = settings or SyncSettings()
    missing = [name for name in ("api_url", "api_key") if not getattr(settings, name)]
    if missing:
        env = " and ".join(f"AC_SYNC_{m.upper()}" for m in missing)
        raise ConfigError(f"set {env} (environment or .env), or pass --credentials-block NAME")
    assert settings.api_url and settings.api_key
    return settings.api_url, settings.api_key
