"""One run per list at a time: a lock on the list's sync state, a file lock on a disk and a lease on a store.

Two runs on one list and one state would each plan against the same state and both send everything. The lock
sits beside the list's state folder (`<account>/list-<id>.lock.json`, never inside it: setting the state aside
moves the folder) and holds who has it: owner, pid, host, since, and for a lease its expiry.

- On a local disk it is a real lock (`fcntl.flock`): the kernel releases it the moment its process ends, however
  it ends, so it is never stale.
- On a remote store (any fsspec URL) it is a lease: the record is created with a conditional write where the
  store has one (S3's If-None-Match, GCS's generation 0, Azure's overwrite=False), else written and read back
  after a pause to see whether another run wrote last. The holder renews it every third of its term from a
  thread (so a long DuckDB step on the event loop does not let it lapse); a lease whose expiry has passed is its
  holder's that died, and is taken over (on S3 by a write conditional on the expired record's ETag). A run that
  finds its own lease taken over stops at its next write to the state (`SyncState.guard`).

A run that finds the list held waits up to `wait_s`, then raises ListBusy, one line naming the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

import fsspec

from ac_sync.engine.errors import StateError
from ac_sync.engine.upload.state import SyncState
from ac_sync.engine.upload.stores import is_local, protocols, shown

try:
    import fcntl
except ImportError:  # not on Windows: a lease there, even on a local disk
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock.json"
LEASE_S = 60.0  # a lease's term; renewed every third of it
SETTLE_S = 1.0  # how long a write-then-read-back waits for a racing write to land
log = logging.getLogger(__name__)


class ListBusy(StateError):
    """Another run holds the list's lock (and kept it for as long as this one would wait)."""


class ListLockLost(StateError):
    """This run's lease on the list was taken over (it could not renew it in time): it must stop writing."""


@dataclass(frozen=True)
class Holder:
    """Who holds a list's lock, as its record says."""

    owner: str
    pid: int
    host: str
    since: float  # epoch seconds
    expires: float | None  # epoch seconds; None for a file lock, which its process's end releases
    token: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        """The record's holder; None when there is none (an empty file: a lock released, or not yet written)."""
        if not data.strip():
            return None
        try:
            raw = json.loads(data)
            return cls(
                str(raw["owner"]),
                int(raw["pid"]),
                str(raw["host"]),
                float(raw["since"]),
                None if raw.get("expires") is None else float(raw["expires"]),
                str(raw["token"]),
            )
        except (ValueError, KeyError, TypeError):
            # A record nobody can read holds nothing: as good as expired.
            return cls("an unreadable lock record", 0, "?", 0.0, 0.0, "")

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def describe(self, now: float) -> str:
        if not self.token and not self.pid:
            return self.owner
        text = f"pid {self.pid} on host {self.host}, since {_at(self.since, now)}"
        return f"{text}, {self.owner}" if self.owner else text


UNKNOWN = Holder("its details not written yet", 0, "?", 0.0, None, "")


def _at(when: float, now: float) -> str:
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    same_day = stamp.date() == dt.datetime.fromtimestamp(now, dt.UTC).date()
    return stamp.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC")


class _FileLock:
    """flock(2) on the record file; the record is written once the lock is had, for a waiting run's message."""

    def advice(self, holder: Holder, now: float) -> str:
        return "stop it: its lock goes with it"

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    def try_acquire(self, mine: Holder) -> Holder | None:
        assert fcntl is not None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # names the run holding it: the owner's only
        os.fchmod(fd, 0o600)  # a lock file an earlier version made readable becomes private too
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return Holder.parse(os.pread(fd, 1 << 16, 0)) or UNKNOWN
            finally:
                os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, mine.to_bytes(), 0)
        self.fd = fd
        return None

    def renew(self, mine: Holder) -> Holder | None:
        return None  # the kernel holds it for as long as the process lives

    def release(self, mine: Holder) -> None:
        if self.fd is None:
            return
        # Emptied while still locked (a new holder writes its own record once it has the lock); the file itself
        # stays: removing a flock'd file lets two runs lock two different files of one name. Closing unlocks.
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)
        self.fd = None

    def holder(self) -> Holder | None:
        try:
            with open(self.path, "rb") as fh:
                return Holder.parse(fh.read())
        except FileNotFoundError:
            return None


class _Lease:
    """A lease record on an fsspec store: conditional create where the store has it, else write and read back."""

    def __init__(self, fs: fsspec.AbstractFileSystem, path: str, clock: Callable[[], float], settle_s: float) -> None:
        self.fs = fs
        self.path = path
        self.clock = clock
        self.settle_s = settle_s
        names = protocols(fs)
        # Stores whose pipe_file(mode="create") is one atomic conditional request (fsspec's default is not).
        self.atomic_create = bool(names & {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
        # S3 also takes a write conditional on an ETag (If-Match): takeovers and renewals cannot race.
        self.if_match = bool(names & {"s3", "s3a"})
        self.etag: str | None = None

    def advice(self, holder: Holder, now: float) -> str:
        ends = f" at {_at(holder.expires, now)}" if holder.expires is not None else ""
        where = shown(self.fs, self.path)
        return f"if it is gone, its lease runs out{ends} and the next run takes it over (or remove {where})"

    def read(self) -> tuple[Holder | None, str | None]:
        """The record's holder and (on S3) its ETag, read fresh (no listing cache)."""
        self.fs.invalidate_cache(self.path)
        try:
            etag = str(self.fs.info(self.path).get("ETag")) if self.if_match else None
            return Holder.parse(self.fs.cat_file(self.path)), etag
        except FileNotFoundError:
            return None, None

    def holder(self) -> Holder | None:
        return self.read()[0]

    def _write(self, mine: Holder, **conditions: Any) -> None:
        answer = self.fs.pipe_file(self.path, mine.to_bytes(), **conditions)
        self.etag = str(answer["ETag"]) if isinstance(answer, dict) and answer.get("ETag") else None

    def try_acquire(self, mine: Holder) -> Holder | None:
        for _ in range(3):  # again at once when the record went away under a conditional write
            try:
                return self._try_once(mine)
            except FileNotFoundError:
                continue
        return self.read()[0] or UNKNOWN

    def _try_once(self, mine: Holder) -> Holder | None:
        current, etag = self.read()
        if current is not None and current.token != mine.token and not current.expired(self.clock()):
            return current
        try:
            if current is None and self.atomic_create:
                self._write(mine, mode="create")
                return None
            if current is not None and self.if_match and etag:
                self._write(mine, IfMatch=etag)
                return None
        except FileNotFoundError:
            raise
        except OSError as exc:  # FileExistsError included
            if isinstance(exc, FileExistsError) or _precondition_failed(exc):
                return self.read()[0] or UNKNOWN  # another run's write came first
            raise
        # No conditional write here: write, give a racing writer time to land, and see whose record stayed.
        self._write(mine)
        time.sleep(self.settle_s)
        back, _ = self.read()
        return None if back is not None and back.token == mine.token else (back or UNKNOWN)

    def renew(self, mine: Holder) -> Holder | None:
        """Extend the lease; answers the holder that took it over instead, if one did."""
        if self.if_match and self.etag:
            try:
                self._write(mine, IfMatch=self.etag)
                return None
            except OSError as exc:
                if not _precondition_failed(exc):
                    raise
                return self.read()[0] or UNKNOWN
        current, _ = self.read()
        if current is None or current.token != mine.token:
            return current or UNKNOWN
        self._write(mine)
        return None

    def release(self, mine: Holder) -> None:
        current, _ = self.read()
        if current is not None and current.token == mine.token:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.path)


def _precondition_failed(exc: BaseException) -> bool:
    """Whether a driver's error is the store's 412 (a conditional write that did not hold)."""
    response = getattr(exc.__cause__, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("PreconditionFailed", "412") or "pre-condition" in str(exc) or "precondition" in str(exc).lower()


# Locks this process holds, by record path: a nested ListLock of the same owner (the flow holding the list, and a
# step inside it locking again) joins the held one instead of waiting for itself.
_HELD: dict[str, ListLock] = {}
_HELD_GUARD = threading.Lock()


class ListLock:
    """The lock of one list's sync state: `with ListLock(state, wait_s=30, owner="flow run 5f3c"):` (or `async
    with`). A second run waits up to `wait_s` seconds, then raises ListBusy naming the holder.

    `lease_s` is a remote lease's term (renewed every third of it); `clock` (epoch seconds) decides expiry and is
    for tests; `poll_s` is how often a waiting run looks again; `settle_s` how long a write-then-read-back waits.
    While held, `state.guard` raises ListLockLost once a lease was lost, so the run stops writing the state.
    """

    def __init__(
        self,
        state: SyncState,
        *,
        wait_s: float,
        owner: str,
        lease_s: float = LEASE_S,
        clock: Callable[[], float] = time.time,
        poll_s: float | None = None,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.state = state
        self.wait_s = max(0.0, wait_s)
        self.owner = owner
        self.lease_s = lease_s
        self.clock = clock
        self.path = f"{state.root}{LOCK_SUFFIX}"
        local = is_local(state.fs) and fcntl is not None
        self._backend: _FileLock | _Lease = (
            _FileLock(self.path) if local else _Lease(state.fs, self.path, clock, settle_s)
        )
        self.poll_s = poll_s if poll_s is not None else (0.2 if local else 2.0)
        self._token = uuid.uuid4().hex
        self._since = 0.0
        self._depth = 0
        self._joined: ListLock | None = None
        self._lost: Holder | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._previous_guard: Callable[[], None] | None = None
        self.attempts = 0  # tries to take the lock, for tests and logs

    # --- the record ---------------------------------------------------------------------------------------

    def _mine(self) -> Holder:
        expires = None if isinstance(self._backend, _FileLock) else self.clock() + self.lease_s
        return Holder(self.owner, os.getpid(), socket.gethostname(), self._since, expires, self._token)

    def holder(self) -> Holder | None:
        """Who holds the list now, as its record says (None: nobody)."""
        return self._backend.holder()

    # --- taking and giving back ---------------------------------------------------------------------------

    def _join(self) -> bool:
        with _HELD_GUARD:
            held = _HELD.get(self.path)
            if held is None or held.owner != self.owner:
                return False
            held._depth += 1
            self._joined = held
            return True

    def _try(self) -> Holder | None:
        self.attempts += 1
        self._since = self._since or self.clock()
        return self._backend.try_acquire(self._mine())

    def _busy(self, holder: Holder) -> ListBusy:
        now = self.clock()
        advice = self._backend.advice(holder, now)
        waited = f" (waited {self.wait_s:g} s)" if self.wait_s else ""
        return ListBusy(
            f"another ac-sync run ({holder.describe(now)}) is syncing this list, state {self.state.shown()}{waited};"
            f" wait for it, or {advice}"
        )

    def _acquired(self) -> None:
        with _HELD_GUARD:
            _HELD[self.path] = self
        self._depth = 1
        self._previous_guard = self.state.guard
        self.state.guard = self.check
        if isinstance(self._backend, _Lease):
            self._stop.clear()
            self._renewer = threading.Thread(target=self._renew_loop, name=f"lease {self.path}", daemon=True)
            self._renewer.start()

    def acquire(self) -> None:
        """Take the lock, waiting up to `wait_s` (blocking this thread); raises ListBusy."""
        if self._join():
            return
        deadline = time.monotonic() + self.wait_s
        while (holder := self._try()) is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._busy(holder)
            time.sleep(min(self.poll_s, left))
        self._acquired()

    async def acquire_async(self) -> None:
        """As acquire, waiting on the event loop (the store's requests in a thread)."""
        if self._join():
            return
        deadline = time.monotonic() + self.wait_s
        while (holder := await asyncio.to_thread(self._try)) is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._busy(holder)
            await asyncio.sleep(min(self.poll_s, left))
        self._acquired()

    def release(self) -> None:
        if self._joined is not None:
            self._joined._depth -= 1
            self._joined = None
            return
        if self._depth == 0:
            return
        self._depth = 0
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        self.state.guard = self._previous_guard
        with _HELD_GUARD:
            _HELD.pop(self.path, None)
        if self._lost is None:
            self._backend.release(self._mine())

    def check(self) -> None:
        """Raise ListLockLost if another run took this run's lease over (SyncState calls it before each write)."""
        if self._lost is not None:
            raise ListLockLost(
                f"this run no longer holds the list (state {self.state.shown()}): its lease ran out and another run"
                f" ({self._lost.describe(self.clock())}) took it over; this run stops before writing more"
            )

    def renew(self) -> None:
        """Extend a lease now (the renewing thread does it every third of its term)."""
        if self._lost is None:
            taker = self._backend.renew(self._mine())
            if taker is not None:
                self._lost = taker
                log.error("The lease on %s was taken over by %s", self.path, taker.describe(self.clock()))

    def _renew_loop(self) -> None:
        last = self.clock()
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
                last = self.clock()
            except Exception as exc:  # noqa: BLE001 - a store's hiccup: try again until the term runs out
                log.warning("Could not renew the lease on %s: %s", self.path, exc)
                if self.clock() - last >= self.lease_s:
                    self._lost = UNKNOWN
            if self._lost is not None:
                return

    # --- context managers ---------------------------------------------------------------------------------

    def __enter__(self) -> ListLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    async def __aenter__(self) -> ListLock:
        await self.acquire_async()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.release)
