"""Traffic shaping for one ActiveCampaign account.

ActiveCampaign's limits are per account and shared by every key and integration: 5 requests/s, plus
100 multi-contact (20 single-contact) bulk imports per minute. We use PyrateLimiter's sliding-window log
(exact, unlike a leaky bucket whose initial burst lets twice the limit into one second) and add:

- a small safety margin on each window, because the server stamps arrival times and loopback or
  network jitter between our clock and its clock must never push a sixth request into its window;
- an account-wide pause that a `Retry-After` answer sets, so every coroutine of the account waits, not
  only the one that was told.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

from pyrate_limiter import InMemoryBucket, Limiter, Rate

Kind = Literal["request", "bulk", "bulk_single"]


@dataclass(frozen=True)
class AccountLimits:
    requests_per_second: int = 5
    bulk_per_minute: int = 100
    bulk_single_per_minute: int = 20
    # Every ActiveCampaign window shrinks by this factor (the emulator's --time-scale); 1 is real speed.
    time_scale: float = 1.0
    # Jitter between our send and the server's stamp does not shrink with the window, so the margin is a
    # fraction of the window capped at an absolute amount: 1 s → 1.05 s, 60 s → 60.25 s.
    margin_fraction: float = 0.05
    margin_cap_s: float = 0.05
    bulk_margin_fraction: float = 0.02
    bulk_margin_cap_s: float = 0.25

    def window_ms(self, seconds: float, fraction: float, cap_s: float) -> int:
        window = seconds / self.time_scale
        return max(1, round((window + min(cap_s, fraction * window)) * 1000))

    @property
    def request_window_ms(self) -> int:
        return self.window_ms(1, self.margin_fraction, self.margin_cap_s)

    @property
    def bulk_window_ms(self) -> int:
        return self.window_ms(60, self.bulk_margin_fraction, self.bulk_margin_cap_s)


class AccountLimiter:
    """One per account (API host) and process; every client of that account shares it."""

    def __init__(self, limits: AccountLimits | None = None) -> None:
        self.limits = limits or AccountLimits()
        lim = self.limits
        # buffer_ms is PyrateLimiter's own wake-up slack; the margin above already covers jitter.
        self._request = Limiter(
            InMemoryBucket([Rate(lim.requests_per_second, lim.request_window_ms)]), buffer_ms=5
        )
        self._bulk = Limiter(InMemoryBucket([Rate(lim.bulk_per_minute, lim.bulk_window_ms)]), buffer_ms=5)
        self._bulk_single = Limiter(
            InMemoryBucket([Rate(lim.bulk_single_per_minute, lim.bulk_window_ms)]), buffer_ms=5
        )
        self._paused_until = 0.0

    def pause_for(self, seconds: float) -> None:
        """Hold every request of the account until `seconds` from now (a Retry-After answer)."""
        self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))

    async def _wait_pause(self) -> None:
        while (delay := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    async def acquire(self, kind: Kind = "request") -> None:
        # The bulk slot is taken first so that a batch waiting for its minute does not hold a request slot.
        if kind == "bulk":
            await self._bulk.try_acquire_async("bulk")
        elif kind == "bulk_single":
            await self._bulk_single.try_acquire_async("bulk_single")
        await self._wait_pause()
        await self._request.try_acquire_async("request")


_registry: dict[tuple[str, AccountLimits], AccountLimiter] = {}


def limiter_for(account: str, limits: AccountLimits | None = None) -> AccountLimiter:
    """The process-wide limiter of an account, so that every client of one account shares one budget."""
    key = (account, limits or AccountLimits())
    if key not in _registry:
        _registry[key] = AccountLimiter(key[1])
    return _registry[key]
