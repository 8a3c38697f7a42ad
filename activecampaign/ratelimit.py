"""Traffic shaping for one ActiveCampaign account.

ActiveCampaign's limits are per account and shared by every key and integration: 5 requests/s, plus
100 multi-contact (20 single-contact) bulk imports per minute. Each limit is a sliding-window log whose
entries are stamped when the *response* arrives, and a request in flight occupies its entry until then.
The server stamps a request between our send and its response, so a new request sent at least one window
after the response of the request `limit` places back is at least one window after it on the server's
clock too, however late our event loop or the network is. Stamping at send time instead (as PyrateLimiter
does, with the planned wake-up time) drew a 429 in most 20,000-row syncs at time-scale 10, because the
event loop ran late under load; a leaky bucket (aiolimiter) let 9 requests into one second under a 5/s
limit after idling.

A `Retry-After` answer pauses the whole account, so every coroutine waits, not only the one that was told.

These windows are exact within one process. Several processes syncing into one account also need a
`SharedBudget` (ac_sync.engine.shared_budget keeps one on the Prefect server): a slot per request, taken before the
local windows and given back one window after the answer. Any requests the server stamps within one window
then all hold their slots at the moment the last of them is stamped, so there are at most `limit` of them,
across every process. This package does not depend on Prefect: the budget is only this module's Protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

Kind = Literal["request", "bulk", "bulk_single"]
# Opaque to the limiter: it only hands a lease back to the budget that issued it.
Lease: TypeAlias = object


class SharedBudget(Protocol):
    """Slots of the account's limits shared with other processes; see `AccountLimiter.slot` for their use."""

    async def acquire(self, kind: Kind, *, urgent: bool = False) -> Lease:
        """Wait for one slot of `kind` ("request" for the per-second limit, or a bulk kind); `urgent` ones are
        served before the others of this process."""
        ...

    def release_later(self, lease: Lease, delay_s: float) -> None:
        """Give the slot back `delay_s` from now, without making the caller wait."""
        ...

    async def aclose(self) -> None:
        """Give back every slot still held, each no earlier than it was due."""
        ...


@dataclass(frozen=True)
class AccountLimits:
    requests_per_second: int = 5
    bulk_per_minute: int = 100
    bulk_single_per_minute: int = 20
    # Every ActiveCampaign window shrinks by this factor (the emulator's --time-scale); 1 is real speed.
    time_scale: float = 1.0
    # Response stamping already covers lag; this small margin covers a server that counts its window a
    # little differently from ours (rounding, a fixed-window edge).
    margin_fraction: float = 0.02

    @property
    def request_window_s(self) -> float:
        return (1 + self.margin_fraction) / self.time_scale

    @property
    def bulk_window_s(self) -> float:
        return 60 * (1 + self.margin_fraction) / self.time_scale


class SlidingWindow:
    """At most `limit` requests in flight or answered within any `window_s`, answers stamped on arrival."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()

    async def acquire(self) -> None:
        # The lock makes waiters queue in arrival order; only the head sleeps on the window.
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._answered and self._answered[0] <= now - self.window_s:
                    self._answered.popleft()
                if len(self._answered) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                self._released.clear()
                # Every slot is taken: the oldest answer frees one when it leaves the window; if all are
                # still in flight, the next answer tells us when.
                timeout = self._answered[0] + self.window_s - now if self._answered else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), timeout)

    def release(self) -> None:
        self._in_flight -= 1
        self._answered.append(time.monotonic())
        self._released.set()


class AccountLimiter:
    """One per account (API host) and event loop; every client of that account shares it.

    With a `shared` budget every request also holds one of the account's shared slots (and a bulk import one of
    the shared bulk slots) from before it is sent until one window after its answer.
    """

    def __init__(self, limits: AccountLimits | None = None, shared: SharedBudget | None = None) -> None:
        self.limits = limits or AccountLimits()
        self.shared = shared
        lim = self.limits
        self._windows: dict[Kind, SlidingWindow] = {
            "request": SlidingWindow(lim.requests_per_second, lim.request_window_s),
            "bulk": SlidingWindow(lim.bulk_per_minute, lim.bulk_window_s),
            "bulk_single": SlidingWindow(lim.bulk_single_per_minute, lim.bulk_window_s),
        }
        self._paused_until = 0.0

    def pause_for(self, seconds: float) -> None:
        """Hold every request of the account until `seconds` from now (a Retry-After answer)."""
        self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))

    async def _wait_pause(self) -> None:
        while (delay := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    @contextlib.asynccontextmanager
    async def _shared_slot(self, kind: Kind, urgent: bool = False) -> AsyncIterator[None]:
        if self.shared is None:
            yield
            return
        lease = await self.shared.acquire(kind, urgent=urgent)
        try:
            yield
        finally:
            # Reached once the answer (or failure) is in: the slot stays taken for one more window, the window
            # in which the server may still count this request. Also when nothing was sent (cancelled while
            # queued): rare, and never wrong to hold a slot longer.
            window_s = self.limits.request_window_s if kind == "request" else self.limits.bulk_window_s
            self.shared.release_later(lease, window_s)

    @contextlib.asynccontextmanager
    async def slot(self, kind: Kind = "request") -> AsyncIterator[None]:
        """Hold a permit for one request, from before it is sent until its answer (or failure) arrives."""
        request = self._windows["request"]
        async with contextlib.AsyncExitStack() as held:
            # Exits run in reverse: the local request window, the shared request slot, the local bulk window,
            # the shared bulk slot, so every release is stamped after the answer.
            if kind != "request":
                # The bulk permits are taken first so that a batch waiting for its minute holds no request slot.
                await held.enter_async_context(self._shared_slot(kind))
                bulk = self._windows[kind]
                await bulk.acquire()
                held.callback(bulk.release)
            await self._wait_pause()
            # A bulk import holding its bulk slot goes first: that slot is the scarcer one, and a status poll
            # that waits is likelier to find its batch done.
            await held.enter_async_context(self._shared_slot("request", urgent=kind != "request"))
            while True:
                await self._wait_pause()
                await request.acquire()
                # A Retry-After may have arrived while we queued: then this permit is spent, not used (the shared
                # slot is kept for the next try).
                if self._paused_until <= time.monotonic():
                    break
                request.release()
            held.callback(request.release)
            yield

    async def aclose(self) -> None:
        """Give the shared budget back (each slot when due); the local windows need nothing."""
        if self.shared is not None:
            await self.shared.aclose()


_registry: dict[tuple[str, AccountLimits, asyncio.AbstractEventLoop], AccountLimiter] = {}


def limiter_for(account: str, limits: AccountLimits | None = None) -> AccountLimiter:
    """The process-wide limiter of an account, so that every client of one account shares one budget.

    Keyed by event loop too: an asyncio.Lock belongs to the loop it was first used in, and each CLI run or
    test has its own loop.
    """
    key = (account, limits or AccountLimits(), asyncio.get_running_loop())
    if key not in _registry:
        _registry[key] = AccountLimiter(key[1])
    return _registry[key]
