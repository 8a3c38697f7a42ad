"""The run's connection to ActiveCampaign: credentials loaded inside the run, reloaded on `retry`."""

from __future__ import annotations

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.errors import ApiUrlError
from ac_sync.activecampaign.ratelimit import AccountLimits
from ac_sync.activecampaign.urls import normalise_base_url
from ac_sync.engine.settings import SyncSettings, load_credentials
from ac_sync.engine.shared_budget import shared_limiter
from ac_sync.resolutions.failures import ApiUrlInvalid


class Session:
    def __init__(self, credentials_block: str | None) -> None:
        self.credentials_block = credentials_block
        self._client: ACClient | None = None

    @property
    def client(self) -> ACClient:
        assert self._client is not None, "open() the session first"
        return self._client

    async def open(self) -> None:
        """(Re)load the URL and key from their source; keep the client (and its limiter) when the URL is the same."""
        settings = SyncSettings()
        credentials = await load_credentials(self.credentials_block, settings)
        try:
            base_url = normalise_base_url(credentials.api_url)
            if self._client is not None and self._client.base_url == base_url:
                self._client.set_api_key(credentials.api_key)
                return
            await self.close()
            limits = AccountLimits(time_scale=settings.time_scale)
            limiter = shared_limiter(base_url, limits) if settings.shared_budget else None
            self._client = credentials.get_client(limits=limits, limiter=limiter, timeout_s=settings.request_timeout_s)
        except ApiUrlError as exc:
            raise ApiUrlInvalid(exc.message, step="validate-credentials", api_url=credentials.api_url) from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            await self._client.limiter.aclose()  # gives the shared budget back, if any
            self._client = None
