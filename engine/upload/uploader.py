"""Pipelined bulk upload: submit batches at the bulk ceiling while polling earlier ones to confirmation.

A batch is *confirmed* when `import/info` says `completed`; only then is it checkpointed. The ledger also
learns of each accepted batch (its batchId) the moment the API queues it, so a run that was killed or
stopped can confirm those batches by polling instead of sending them again: at most the one batch whose
answer was lost in flight is ever sent twice. Contacts the API refuses end in the rejected log with a
reason, never silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.errors import BatchNotFoundError, ValidationError
from ac_sync.activecampaign.models import ImportInfo
from ac_sync.engine.upload.rows import SUBSCRIBE, Batch, Rejection, Row


@dataclass
class UploadResult:
    batches_confirmed: int = 0
    batches_resent: int = 0
    subscribed: int = 0
    unsubscribed: int = 0
    added: int = 0  # of the subscribed: new to the list
    updated: int = 0  # of the subscribed: values changed (re-subscribed ones aside)
    confirmed_earlier: int = 0  # of the subscribed and unsubscribed: from an earlier run's batches
    rejected: int = 0
    format_rejections: int = 0
    polls: int = 0
    unconfirmed: int = 0  # contacts of batches still queued when the confirmation deadline passed
    confirmed_at: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, contacts so far)

    def count(self, row: Row) -> None:
        """One contact confirmed on the list: subscribed (added or updated) or unsubscribed."""
        if row.action != SUBSCRIBE:
            self.unsubscribed += 1
            return
        self.subscribed += 1
        if row.verdict == "add":
            self.added += 1
        elif row.verdict == "update":
            self.updated += 1


class Ledger(Protocol):
    """Where the uploader records what happened to each batch (the sync state, the rejected log)."""

    def submitted(self, batch: Batch) -> None: ...
    def confirmed(self, batch: Batch, rows: list[Row]) -> None: ...
    def dropped(self, batch: Batch) -> None: ...  # the batch will never be confirmed: forget its batchId
    def rejected(self, items: list[Rejection]) -> None: ...


ProgressFn = Callable[[UploadResult], Awaitable[None]]


class Uploader:
    def __init__(
        self,
        client: ACClient,
        list_id: int,
        *,
        ledger: Ledger,
        on_progress: ProgressFn | None = None,
        max_batch_attempts: int = 3,
        max_outstanding: int = 200,
        concurrent_polls: int = 1,
        confirm_timeout_s: float | None = None,
        not_found_polls: int = 3,
    ) -> None:
        self.client = client
        self.list_id = list_id
        self.ledger = ledger
        self.on_progress = on_progress
        self.max_batch_attempts = max_batch_attempts
        self.concurrent_polls = concurrent_polls
        # ActiveCampaign's queue promises no latency: past this (real seconds), a batch is left queued for the next
        # run to confirm (it stays in the ledger), and this run ends.
        self.confirm_timeout_s = confirm_timeout_s
        # import/info forgets batches (unknown id, or expired): after this many answers of "no such batch" in a
        # row it is sent again, which is safe since bulk import never re-subscribes anyone.
        self.not_found_polls = not_found_polls
        self.result = UploadResult()
        scale = client.limits.time_scale
        # The status is `false` for about a second after submitting: polling earlier only wastes budget.
        self._first_poll_s = 1.2 / scale
        self._poll_max_s = 10.0 / scale
        self._outstanding: dict[int, Batch] = {}
        self._slots = asyncio.Semaphore(max_outstanding)
        self._changed = asyncio.Event()
        self._submitting_done = False

    async def _reject(self, rejections: list[Rejection]) -> None:
        if rejections:
            self.result.rejected += len(rejections)
            self.ledger.rejected(rejections)

    async def _submit(self, batch: Batch) -> None:
        """Queue the batch, dropping contacts the API names as malformed and re-sending the rest."""
        while batch.rows:
            batch.attempts += 1
            try:
                # Per contact as the reference shows, and at the top only when it holds for every contact.
                excluded = all(p.get("exclude_automations", True) for p in batch.payloads)
                batch.batch_id = await self.client.bulk_import(batch.payloads, exclude_automations=excluded)
            except ValidationError as exc:
                bad = sorted({i for i in exc.failure_indices if 0 <= i < len(batch.rows)})
                if not bad:
                    raise
                reasons = {
                    int(r["contact"]): str(r.get("failureReason", "incorrect format"))
                    for r in exc.body.get("failureReasons", [])
                    if isinstance(r, dict) and "contact" in r
                }
                self.result.format_rejections += 1
                await self._reject(
                    [
                        Rejection(
                            batch.rows[i].email,
                            f"rejected by ActiveCampaign: {reasons.get(i, 'incorrect format')}",
                            batch.rows[i].source_row,
                        )
                        for i in bad
                    ]
                )
                keep = [i for i in range(len(batch.rows)) if i not in set(bad)]
                batch.rows = [batch.rows[i] for i in keep]
                batch.payloads = [batch.payloads[i] for i in keep]
                continue
            self.ledger.submitted(batch)
            self._watch(batch)
            return
        self._slots.release()  # every contact was refused: nothing is outstanding

    def _watch(self, batch: Batch) -> None:
        now = time.monotonic()
        batch.submitted_at = now
        batch.next_poll = now + self._first_poll_s
        batch.polls = 0
        self._outstanding[batch.seq] = batch
        self._changed.set()

    async def _submitter(self, items: Iterable[Batch | Rejection]) -> None:
        # One submission at a time: a batch is recorded as queued only when its answer (the batchId) arrives,
        # so after a kill -9 the only batch that can be sent twice is the one whose answer was in flight.
        # The next batch is read and encoded in a thread meanwhile, so the event loop (and the limiter's
        # clock) never waits for DuckDB or JSON.
        source = iter(items)
        try:
            pending: list[Rejection] = []
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, source, None))
            while (item := await upcoming) is not None:
                upcoming = asyncio.ensure_future(asyncio.to_thread(next, source, None))
                if isinstance(item, Rejection):
                    pending.append(item)
                    continue
                if pending:
                    await self._reject(pending)
                    pending = []
                await self._slots.acquire()
                await self._submit(item)
            await self._reject(pending)
        finally:
            self._submitting_done = True
            self._changed.set()

    async def _confirm(self, batch: Batch, info: ImportInfo) -> None:
        batch.confirmed_at = info.server_time
        failed = {e.lower() for e in info.failure}
        confirmed = [r for r in batch.rows if r.email not in failed]
        await self._reject(
            [
                Rejection(
                    r.email,
                    "not imported by ActiveCampaign (listed as failed, e.g. on the exclusion list)",
                    r.source_row,
                )
                for r in batch.rows
                if r.email in failed
            ]
        )
        self.ledger.confirmed(batch, confirmed)
        self.result.batches_confirmed += 1
        for row in confirmed:
            self.result.count(row)
        self.result.confirmed_at.append((time.monotonic(), self.result.subscribed + self.result.unsubscribed))
        if self.on_progress is not None:
            await self.on_progress(self.result)

    async def _poller(self) -> None:
        while not (self._submitting_done and not self._outstanding):
            if not self._outstanding:
                self._changed.clear()
                await self._changed.wait()
                continue
            now = time.monotonic()
            self._abandon_overdue(now)
            if not self._outstanding:
                continue
            due = sorted((b for b in self._outstanding.values() if b.next_poll <= now), key=lambda b: b.next_poll)
            if not due:
                delay = min(min(b.next_poll for b in self._outstanding.values()), self._deadline()) - now
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=delay)
                continue
            # Polls queue in the account limiter beside the submissions, with no pause of their own. Measured at
            # time-scale 20 (50,000 contacts, one run each, same load): one poll at a time gave 1.00 of the bulk
            # ceiling, three at once 0.80 (they crowd out submissions); a fixed gap between polls let
            # unconfirmed batches pile up and gave 0.73.
            due = due[: self.concurrent_polls]
            infos = await asyncio.gather(*(self._status(b) for b in due))
            for batch, info in zip(due, infos, strict=True):
                await self._handle(batch, info)

    def _deadline(self) -> float:
        if self.confirm_timeout_s is None or not self._outstanding:
            return float("inf")
        return min(b.submitted_at for b in self._outstanding.values()) + self.confirm_timeout_s

    def _abandon_overdue(self, now: float) -> None:
        if self.confirm_timeout_s is None:
            return
        for batch in [b for b in self._outstanding.values() if now - b.submitted_at > self.confirm_timeout_s]:
            del self._outstanding[batch.seq]
            self._slots.release()
            self.result.unconfirmed += len(batch.rows)

    async def _status(self, batch: Batch) -> ImportInfo:
        try:
            info = await self.client.import_status(batch.batch_id or "")
            batch.not_found = 0
        except BatchNotFoundError:
            batch.not_found += 1
            # Unknown right after submitting can be a lagging replica: ask again a few times before sending it again.
            status = "unknown" if batch.not_found >= self.not_found_polls else "submitted"
            info = ImportInfo(status=status)
        except ValidationError:
            info = ImportInfo(status="unknown")  # refused outright: send again
        self.result.polls += 1
        return info

    async def _handle(self, batch: Batch, info: ImportInfo) -> None:
        status = info.status
        if status == "completed":
            del self._outstanding[batch.seq]
            self._slots.release()
            await self._confirm(batch, info)
        elif status in ("failed", "interrupted", "unknown"):
            del self._outstanding[batch.seq]
            self.ledger.dropped(batch)
            if not batch.payloads:
                # A batch resumed from an earlier run carries no payload: its rows are not confirmed, so the
                # run's own diff sends them again.
                self._slots.release()
            elif batch.attempts >= self.max_batch_attempts:
                self._slots.release()
                await self._reject(
                    [
                        Rejection(r.email, f"batch import ended {status} {batch.attempts} times", r.source_row)
                        for r in batch.rows
                    ]
                )
            else:
                self.result.batches_resent += 1
                await self._submit(batch)
        else:
            batch.polls += 1
            batch.next_poll = time.monotonic() + min(self._poll_max_s, self._first_poll_s * 1.5**batch.polls)

    async def resume(self, batches: list[Batch]) -> UploadResult:
        """Poll batches an earlier run had queued until each is confirmed or known lost; send nothing."""
        for batch in batches:
            await self._slots.acquire()
            self._watch(batch)
            batch.next_poll = batch.submitted_at  # queued long ago: ask at once
        return await self.run([])

    async def run(self, items: Iterable[Batch | Rejection]) -> UploadResult:
        self._submitting_done = False
        submitter = asyncio.create_task(self._submitter(items))
        poller = asyncio.create_task(self._poller())
        try:
            done, _ = await asyncio.wait({submitter, poller}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # re-raise the first failure
            await asyncio.gather(submitter, poller)
        finally:
            for task in (submitter, poller):
                if not task.done():
                    task.cancel()
            await asyncio.gather(submitter, poller, return_exceptions=True)
        return self.result
