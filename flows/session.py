"""The run's connection to ActiveCampaign: credentials loaded inside the run, reloaded on `retry`."""

from __future__ import annotations

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.ratelimit import AccountLimits
from ac_sync.activecampaign.urls import normalise_base_url
from ac_sync.engine.settings import SyncSettings, load_credentials
from ac_sync.engine.shared_budget import shared_limiter


class Session:
    def __init__(self, credentials_block: str | None) -> None:
        self.credentials_block = credentials_block
        self.api_url: str | None = None  # as configured (its playbook shows it; never the key)
        self._client: ACClient | None = None

    @property
    def opened(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> ACClient:
        assert self._client is not None, "open() the session first"
        return self._client

    async def open(self) -> None:
        """(Re)load the URL and key from their source; keep the client (and its limiter) when the URL is the same."""
        settings = SyncSettings()
        credentials = await load_credentials(self.credentials_block, settings)
        self.api_url = credentials.api_url
        # A URL the client cannot use is its ApiUrlError (API_URL_INVALID): the operator fixes it, then `retry`.
        base_url = normalise_base_url(credentials.api_url)
        if self._client is not None and self._client.base_url == base_url:
            self._client.set_api_key(credentials.api_key)
            return
        await self.close()
        limits = AccountLimits(time_scale=settings.time_scale)
        limiter = shared_limiter(base_url, limits) if settings.shared_budget else None
        self._client = credentials.get_client(limits=limits, limiter=limiter, timeout_s=settings.request_timeout_s)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            await self._client.limiter.aclose()  # gives the shared budget back, if any
            self._client = None
