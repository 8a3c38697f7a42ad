"""ActiveCampaign's account limits shared by every process, through Prefect global concurrency limits.

ActiveCampaign counts 5 requests/s and 100 bulk imports per 60 s per *account*, whatever key or machine
sends them. `ac_sync.activecampaign.ratelimit` keeps one process exact; this module makes several processes (Prefect
workers, possibly on several machines) stay under the limits together, through the Prefect server.

Each limit is a global concurrency limit used as a counting semaphore of leases, not as a decay-rate limiter:
`ac-account-<host-slug>-requests` with limit 5, `...-bulk` with 100, `...-bulk-single` with 20, no slot decay,
created on first use. A request takes one slot before it is sent; one window after its answer arrives (1 s,
or 60 s for a bulk import, divided by the time scale, plus the limiter's margin) the slot is given back, in
the background.

Why that is enough: take any requests that the server stamps within one window, the last of them at moment
s. Each was granted its slot before it was sent, so before s; each gives it back at least one window after
its own answer, and its answer came after its stamp, which is after s minus one window: so after s. At s
they all hold a slot, so there are at most `limit` of them. Neither network nor event-loop lag nor clock
offsets enter; only the length of a window on our clock, which the limiter's margin covers.

A slot that comes due while another request of this process waits is handed straight to it instead of going
back to the server and being asked for again: the same slot, held without a gap, so the proof above holds,
minus two round trips. That is what makes the per-second limit reachable when windows are short: a request
slot is busy for one window plus its answer, and each round trip to Prefect (~5 ms idle, tens of ms when its
SQLite is busy) adds to that. For fairness a slot goes back to the server after `MAX_HANDOVERS` hand-overs
(16 for requests, about 17 s at real speed; 2 for bulk imports, 3 minutes, whose long window makes asking
again cheap), so a process that holds slots cannot keep them from another that waits. A request that carries
a bulk import is served first within its process: its bulk slot is the scarcer one, and a status poll that
waits is likelier to find its batch done.

Prefect's rate-limit mode (`slot_decay_per_second`) is not used: it runs below the nominal rate and lets bursts
of 8 into one second with limit 5. Prefect's acquire loop is not used either: it sleeps the server's
`Retry-After`, an estimate (average occupancy × queued slots / limit) that grows with denials and can leave a
freed slot idle for seconds, and its client sleeps ~2 s after any 503, which a SQLite server answers whenever
two writes meet. Here one task per kind and process asks while someone in the process waits (the server sees
at most one asker per process and kind); after a 423 it waits for its own slots coming due when they serve
everyone waiting, and otherwise *reads* the limit every `POLL_FRACTION` of the window (jittered) and asks
again only when a slot is free: on SQLite every ask is a write (a refused one two) and only writes contend, also
with the flows' own calls. A freed slot so stays idle at most that fraction of the window. Slots are leases
(the server's minimum, 60 s) renewed while held, so a process that dies frees its slots within a lease plus
the repossessor's pass (15 s). At close, slots are given back when due; ones due more than `CLOSE_WAIT_S` later
are left to run out on the server instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.logging import get_logger

from ac_sync.activecampaign.ratelimit import AccountLimiter, AccountLimits, Kind, Lease

LEASE_S = 60.0  # the server's minimum lease duration
RENEW_EVERY_S = 10.0
RENEW_AFTER_S = 30.0  # renewed with half the lease left; the check runs often enough to never reach its end
CLOSE_WAIT_S = 10.0  # at close, slots due later than this are left to run out on the server instead
MIN_POLL_S = 0.01
# After a 423, ask again after this fraction of the kind's window (the longest a freed slot then stays idle).
POLL_FRACTION: dict[Kind, float] = {"request": 0.5, "bulk": 0.02, "bulk_single": 0.02}
MAX_HANDOVERS: dict[Kind, int] = {"request": 16, "bulk": 2, "bulk_single": 2}
SERVER_PATIENCE_S = 60.0  # how long a busy or restarting Prefect server is retried before a request fails
TRANSIENT = {408, 429, 502, 503}  # the codes Prefect's own client retries
SUFFIX: dict[Kind, str] = {"request": "requests", "bulk": "bulk", "bulk_single": "bulk-single"}

log = get_logger("ac_sync.engine.shared_budget")
T = TypeVar("T")


class SharedBudgetError(RuntimeError):
    """The Prefect server could not give or check a slot (not an ActiveCampaign failure)."""


def account_slug(api_url: str) -> str:
    """The account's host (and port, so that two emulators differ) as a name Prefect accepts."""
    parts = urlsplit(api_url if "//" in api_url else f"//{api_url}")
    return re.sub(r"[^a-z0-9]+", "-", (parts.netloc or parts.path).lower()).strip("-")


def limit_names(api_url: str) -> dict[Kind, str]:
    slug = account_slug(api_url)
    return {kind: f"ac-account-{slug}-{suffix}" for kind, suffix in SUFFIX.items()}


def nominal_limits(limits: AccountLimits) -> dict[Kind, int]:
    return {
        "request": limits.requests_per_second,
        "bulk": limits.bulk_per_minute,
        "bulk_single": limits.bulk_single_per_minute,
    }


@dataclass(eq=False)
class PrefectLease:
    kind: Kind
    id: UUID
    renewed_at: float  # time.monotonic()
    handovers: int = 0
    due: float | None = None  # when it is to be given back, once release_later was called


@dataclass
class BudgetStats:
    """What the budget cost: server calls and the time spent in them, for run summaries and benchmarks."""

    granted: Counter[str] = field(default_factory=Counter)  # slots the server gave
    handed_over: Counter[str] = field(default_factory=Counter)  # slots passed on in this process, no server call
    waits: int = 0  # acquire() calls answered
    wait_s: float = 0.0  # their time from asking to holding, queueing and 423s included
    asks: int = 0  # increment calls, 423s included
    locked: int = 0  # 423 answers: every slot was taken
    looks: int = 0  # reads of the limit while every slot was taken
    grant_call_s: float = 0.0  # time inside granted increment calls: the overhead when nobody waits
    released: int = 0
    release_call_s: float = 0.0
    server_retries: int = 0  # calls repeated because the server was busy (503) or unreachable
    renewed: int = 0
    lost: int = 0  # leases the server no longer knew (expired): their slots were freed early
    abandoned: int = 0  # left to run out on the server at close because they were due too late

    def as_dict(self) -> dict[str, Any]:
        granted = sum(self.granted.values())
        return {
            "granted": dict(self.granted),
            "handed_over": dict(self.handed_over),
            "waits": self.waits,
            "wait_ms_mean": 1000 * self.wait_s / self.waits if self.waits else None,
            "asks": self.asks,
            "locked": self.locked,
            "looks": self.looks,
            "grant_call_ms_mean": 1000 * self.grant_call_s / granted if granted else None,
            "released": self.released,
            "release_call_ms_mean": 1000 * self.release_call_s / self.released if self.released else None,
            "server_retries": self.server_retries,
            "renewed": self.renewed,
            "lost": self.lost,
            "abandoned": self.abandoned,
        }


class PrefectSharedBudget:
    """A `SharedBudget` on the Prefect server that PREFECT_API_URL names; one per account and event loop."""

    def __init__(
        self,
        api_url: str,
        limits: AccountLimits | None = None,
        *,
        holder_flow_run_id: UUID | None = None,
        close_wait_s: float = CLOSE_WAIT_S,
    ) -> None:
        self.limits = limits or AccountLimits()
        self.names = limit_names(api_url)
        self.nominal = nominal_limits(self.limits)
        self.close_wait_s = close_wait_s
        self.stats = BudgetStats()
        # Shown with the limit's slots in Prefect's UI: which run holds them.
        self._holder = {"type": "flow_run", "id": str(holder_flow_run_id)} if holder_flow_run_id else None
        self._poll_s: dict[Kind, float] = {
            kind: max(MIN_POLL_S, POLL_FRACTION[kind] * self._window_s(kind)) for kind in SUFFIX
        }
        self._client: PrefectClient | None = None
        self._start_lock = asyncio.Lock()
        self._ready: set[Kind] = set()
        self._waiters: dict[Kind, _Queue] = {kind: _Queue() for kind in SUFFIX}
        self._askers: dict[Kind, asyncio.Task[None]] = {}
        self._held: dict[UUID, PrefectLease] = {}
        self._releases: dict[UUID, tuple[PrefectLease, asyncio.Task[None]]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False

    def _window_s(self, kind: Kind) -> float:
        return self.limits.request_window_s if kind == "request" else self.limits.bulk_window_s

    # --- the SharedBudget protocol ---------------------------------------------------------------------------

    async def acquire(self, kind: Kind, *, urgent: bool = False) -> Lease:
        if self._closed:
            raise SharedBudgetError("the shared budget is closed")
        started = time.monotonic()
        try:
            await self._start(kind)
        except httpx.HTTPError as exc:
            # Never an httpx error out of here: the client would take it for ActiveCampaign being unreachable.
            raise SharedBudgetError(f"{self.names[kind]}: {_describe(exc)}") from None
        waiter: asyncio.Future[PrefectLease] = asyncio.get_running_loop().create_future()
        self._waiters[kind].push(waiter, urgent)
        if kind not in self._askers or self._askers[kind].done():
            self._askers[kind] = self._spawn(self._ask(kind))
        try:
            lease = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Granted just as the caller gave up: nothing was sent with it, so it can go back at once.
                self._spawn(self.release(waiter.result()))
            raise
        self.stats.waits += 1
        self.stats.wait_s += time.monotonic() - started
        return lease

    def release_later(self, lease: Lease, delay_s: float) -> None:
        assert isinstance(lease, PrefectLease)
        lease.due = time.monotonic() + max(0.0, delay_s)
        if self._closed:
            # Nothing releases after close; the server frees it when the lease runs out.
            self.stats.abandoned += 1
            return
        task = asyncio.get_running_loop().create_task(self._release_at(lease))
        self._releases[lease.id] = (lease, task)
        task.add_done_callback(lambda done: self._forget_release(lease.id, done))

    async def aclose(self) -> None:
        """Give back each slot when due; slots due much later are left to run out on the server instead."""
        if self._closed:
            return
        self._closed = True
        loops = [*self._askers.values(), *([self._renewer] if self._renewer else [])]
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        self._fail_waiters(SharedBudgetError("the shared budget is closed"))
        client = self._client
        now = time.monotonic()
        late = [lease for lease, _ in self._releases.values() if (lease.due or now) - now > self.close_wait_s]
        for lease in late:
            self._releases[lease.id][1].cancel()
        if client is not None and late:
            # The lease must outlive the moment it is due: extend it so, and let the server repossess it then.
            await asyncio.gather(
                *(self._renew(lease, max(LEASE_S, (lease.due or now) - now + 1.0)) for lease in late),
                return_exceptions=True,
            )
            self.stats.abandoned += len(late)
        await asyncio.gather(*(task for _, task in self._releases.values()), return_exceptions=True)
        while self._background:  # calls in flight, and the give-backs of slots granted to cancelled askers
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if client is not None:
            self._client = None
            await client.__aexit__(None, None, None)
        log.info("shared budget: %s", json.dumps(self.stats.as_dict()))

    # --- slots in this process -------------------------------------------------------------------------------

    def _hand_to_waiter(self, kind: Kind, lease: PrefectLease) -> bool:
        waiter = self._waiters[kind].pop_live()
        if waiter is None:
            return False
        lease.due = None
        waiter.set_result(lease)
        return True

    def _fail_waiters(self, exc: BaseException, kind: Kind | None = None) -> None:
        for k in [kind] if kind else list(SUFFIX):
            while (waiter := self._waiters[k].pop_live()) is not None:
                waiter.set_exception(exc)

    async def _ask(self, kind: Kind) -> None:
        """Get slots from the server while anyone in this process waits for one of `kind` (see the module)."""
        body: dict[str, Any] = {"names": [self.names[kind]], "slots": 1, "mode": "concurrency"}
        body.update(lease_duration=LEASE_S, **({"holder": self._holder} if self._holder else {}))
        poll_s = self._poll_s[kind]
        full = False
        try:
            while waiting := self._waiters[kind].live():
                if full:
                    coming, soonest = self._handovers_due(kind)
                    if coming >= waiting:
                        # Our own slots coming due will serve everyone here: no need to ask the server.
                        await asyncio.sleep(max(0.001, min(poll_s, soonest - time.monotonic())))
                        continue
                    # Jittered so that the processes waiting do not look in step.
                    await asyncio.sleep(poll_s * random.uniform(0.5, 1.0))
                    self.stats.looks += 1
                    limit = (await self._call(lambda: self._send(self.names[kind], None))).json()
                    if limit.get("active_slots", 0) >= limit.get("limit", 0):
                        continue
                t0 = time.monotonic()
                self.stats.asks += 1
                try:
                    response = await self._call(lambda: self._send("increment-with-lease", body), self._orphan)
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 423:
                        raise
                    self.stats.locked += 1
                    full = True
                    continue
                full = False
                granted = response.json()
                if not granted.get("limits"):
                    # The limit was deleted since we made it: that lease gates nothing. Make it again and ask again.
                    self._ready.discard(kind)
                    await self._ensure_limit(kind)
                    continue
                self.stats.granted[kind] += 1
                self.stats.grant_call_s += time.monotonic() - t0
                lease = PrefectLease(kind, UUID(granted["lease_id"]), renewed_at=t0)
                self._held[lease.id] = lease
                if not self._hand_to_waiter(kind, lease):
                    await self.release(lease)  # everyone gave up meanwhile
        except SharedBudgetError as exc:
            self._fail_waiters(exc, kind)
        except httpx.HTTPError as exc:
            self._fail_waiters(SharedBudgetError(f"{self.names[kind]}: {_describe(exc)}"), kind)

    def _forget_release(self, lease_id: UUID, task: asyncio.Task[None]) -> None:
        # Only its own entry: a slot handed on may already be waiting to be given back by its next holder.
        if lease_id in self._releases and self._releases[lease_id][1] is task:
            del self._releases[lease_id]

    def _handovers_due(self, kind: Kind) -> tuple[int, float]:
        """How many of our slots of `kind` will be handed on when due, and the soonest of those moments."""
        dues = [
            lease.due
            for lease, _ in self._releases.values()
            if lease.kind == kind and lease.due is not None and lease.handovers < MAX_HANDOVERS[kind]
        ]
        return len(dues), min(dues, default=0.0)

    async def _sleep_until(self, due: float) -> None:
        # One place that waits for a slot to come due, so that tests can hold the moment instead of timing it.
        await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def _release_at(self, lease: PrefectLease) -> None:
        assert lease.due is not None
        await self._sleep_until(lease.due)
        if not self._closed and lease.handovers < MAX_HANDOVERS[lease.kind] and self._hand_to_waiter(lease.kind, lease):
            lease.handovers += 1
            self.stats.handed_over[lease.kind] += 1
            return
        await self.release(lease)

    async def release(self, lease: PrefectLease) -> None:
        """Give the slot back to the server now (release_later does so when due); failures only log."""
        try:
            t0 = time.monotonic()
            await self._call(lambda: self._send("decrement-with-lease", {"lease_id": str(lease.id)}))
            self.stats.released += 1
            self.stats.release_call_s += time.monotonic() - t0
        except (httpx.HTTPError, SharedBudgetError) as exc:
            # Not fatal: the server frees the slot when the lease runs out.
            log.warning("could not give back slot %s of %s: %s", lease.id, self.names[lease.kind], exc)
        finally:
            self._held.pop(lease.id, None)

    # --- the server --------------------------------------------------------------------------------------------

    async def _start(self, kind: Kind) -> None:
        if self._client is not None and kind in self._ready:
            return
        async with self._start_lock:
            if self._client is None:
                client = get_client()
                await client.__aenter__()
                self._client = client
                self._renewer = self._spawn(self._renew_held())
            if kind not in self._ready:
                await self._ensure_limit(kind)

    async def _ensure_limit(self, kind: Kind) -> None:
        """Create the kind's limit unless it exists; other processes may be creating it at the same moment."""
        assert self._client is not None
        client = self._client
        name, limit = self.names[kind], self.nominal[kind]
        for _ in range(3):
            try:
                existing = await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                spec = GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True, slot_decay_per_second=0.0)
                try:
                    await client.create_global_concurrency_limit(spec)
                except ObjectAlreadyExists:
                    continue
                except httpx.HTTPStatusError as exc:
                    # Created by another process meanwhile: the server's check-then-insert lets the loser hit
                    # the unique name and answer 500 rather than 409. Either way, read what is there.
                    if exc.response.status_code < 500:
                        raise
                    continue
                self._ready.add(kind)
                return
            # A lower limit is an operator's choice (room for another integration) and only slower; anything
            # else would let the processes together break ActiveCampaign's limit.
            if not existing.active or existing.slot_decay_per_second or not 1 <= existing.limit <= limit:
                raise SharedBudgetError(
                    f"the Prefect concurrency limit {name!r} must be active, without slot decay, with a limit of "
                    f"1..{limit}; it is active={existing.active}, slot_decay_per_second="
                    f"{existing.slot_decay_per_second}, limit={existing.limit}. Fix or delete it."
                )
            self._ready.add(kind)
            return
        raise SharedBudgetError(f"could not create the Prefect concurrency limit {name!r}")

    async def _send(self, endpoint: str, body: dict[str, Any] | None) -> httpx.Response:
        """POST to a concurrency-limit endpoint once (GET it without a body), for `_call` to retry.

        Through the Prefect client's own httpx client (its base URL, auth, TLS) minus the wrapper in its send(),
        which sleeps ~2 s after a 503 even with its retries turned off.
        """
        if self._client is None:
            raise SharedBudgetError("the shared budget is closed")
        http = self._client._client  # private, but Prefect is pinned below 3.10
        path = f"/v2/concurrency_limits/{endpoint}"
        request = http.build_request("GET", path) if body is None else http.build_request("POST", path, json=body)
        if getattr(http, "enable_csrf_support", False):
            await http._add_csrf_headers(request)
        response = await httpx.AsyncClient.send(http, request)
        response.raise_for_status()
        return response

    async def _call(self, make: Callable[[], Awaitable[T]], on_orphan: Callable[[T], None] | None = None) -> T:
        """One server call, retried within milliseconds while the server is busy or briefly unreachable."""
        deadline = time.monotonic() + SERVER_PATIENCE_S
        attempt = 0
        while True:
            call = self._spawn(make())
            asked_to_wait = 0.0
            try:
                # Shielded: a caller cancelled mid-call must not lose what the server did (a granted lease).
                return await asyncio.shield(call)
            except asyncio.CancelledError:
                if on_orphan is not None:
                    call.add_done_callback(_when_done(on_orphan))
                raise
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code not in TRANSIENT or time.monotonic() > deadline:
                    raise
                # A SQLite conflict (503) says nothing; a rate-limited API (429, Prefect Cloud) says how long.
                with contextlib.suppress(ValueError):
                    asked_to_wait = float(exc.response.headers.get("Retry-After") or 0)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            attempt += 1
            self.stats.server_retries += 1
            await asyncio.sleep(max(asked_to_wait, min(1.0, 0.005 * 2**attempt) * random.uniform(0.5, 1.0)))

    def _orphan(self, response: httpx.Response) -> None:
        """A lease granted to an asker cancelled mid-call (at close): give it back, nothing was sent with it."""
        granted = response.json()
        if granted.get("limits") and self._client is not None:
            self._spawn(self._call(lambda: self._send("decrement-with-lease", {"lease_id": granted["lease_id"]})))

    async def _renew(self, lease: PrefectLease, duration_s: float = LEASE_S) -> None:
        t0 = time.monotonic()
        try:
            await self._call(lambda: self._send(f"leases/{lease.id}/renew", {"lease_duration": duration_s}))
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 410:
                # Expired and repossessed (the process stalled for a whole lease): its slot was freed early.
                self.stats.lost += 1
                self._held.pop(lease.id, None)
                log.warning("slot %s of %s expired before it was given back", lease.id, self.names[lease.kind])
                return
            raise
        lease.renewed_at = t0
        self.stats.renewed += 1

    async def _renew_held(self) -> None:
        """Keep every held lease alive: a long request, a slot handed on, a bulk slot at real speed."""
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            now = time.monotonic()
            stale = [lease for lease in self._held.values() if now - lease.renewed_at > RENEW_AFTER_S]
            results = await asyncio.gather(*(self._renew(lease) for lease in stale), return_exceptions=True)
            for lease, result in zip(stale, results, strict=True):
                if isinstance(result, Exception):
                    log.warning("could not renew slot %s of %s: %s", lease.id, self.names[lease.kind], result)

    def _spawn(self, coro: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


class _Queue:
    """Callers waiting for a slot, in order, urgent ones first."""

    def __init__(self) -> None:
        self._urgent: deque[asyncio.Future[PrefectLease]] = deque()
        self._normal: deque[asyncio.Future[PrefectLease]] = deque()

    def push(self, waiter: asyncio.Future[PrefectLease], urgent: bool) -> None:
        (self._urgent if urgent else self._normal).append(waiter)

    def pop_live(self) -> asyncio.Future[PrefectLease] | None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():  # done: its caller was cancelled
                    return waiter
        return None

    def live(self) -> int:
        return sum(not w.done() for queue in (self._urgent, self._normal) for w in queue)


def _when_done(then: Callable[[T], None]) -> Callable[[asyncio.Future[T]], None]:
    def callback(done: asyncio.Future[T]) -> None:
        if not done.cancelled() and done.exception() is None:
            then(done.result())

    return callback


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"the Prefect API answered {exc.response.status_code}: {exc.response.text[:200]}"
    return f"could not reach the Prefect API ({type(exc).__name__}: {exc})"


def current_flow_run_id() -> UUID | None:
    """The flow run to name as the slots' holder (shown with the limit in Prefect's UI), if any."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.flow_run.id if ctx is not None and ctx.flow_run is not None else None


def shared_limiter(api_url: str, limits: AccountLimits) -> AccountLimiter:
    """A limiter of its own (not the process-wide one) whose requests also hold the account's shared slots.

    `aclose()` it when done: that gives the slots back.
    """
    budget = PrefectSharedBudget(api_url, limits, holder_flow_run_id=current_flow_run_id())
    return AccountLimiter(limits, shared=budget)
