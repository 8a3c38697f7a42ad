"""The emulator's runtime: one account plus its keys, limiters, faults, batches and request log."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from .config import EmulatorConfig
from .faults import FaultSet
from .imports import Batch, apply_batch
from .limits import SlidingWindow
from .model import ADMIN_USER_ID
from .state import Account

# Finds the transport of the connection a request came in on (keyed by the ASGI scope's "client"), so a
# fault can cut it; supplied by the server that runs the app, None where that is not possible.
ConnectionLookup = Callable[[Any], asyncio.BaseTransport | None]


class Emulator:
    def __init__(self, config: EmulatorConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.clock = clock
        self.faults = FaultSet()
        self.connection_lookup: ConnectionLookup | None = None
        self.reset()

    def reset(self) -> None:
        """A fresh account; options other than faults keep their values."""
        self.account = Account()
        self.valid_keys: set[str] = {self.config.api_key}
        self.faults.clear()
        self.requests: list[dict[str, Any]] = []
        self.batches: dict[str, Batch] = {}
        self._pending: list[Batch] = []
        self.api_window = SlidingWindow()
        self.bulk_window = SlidingWindow()
        self.bulk_single_window = SlidingWindow()
        self.started = self.clock()

    def scaled(self, seconds: float) -> float:
        """Real seconds that `seconds` of ActiveCampaign time take at the configured time scale."""
        return seconds / self.config.time_scale

    def process_due(self, now: float | None = None) -> None:
        """Apply, in submission order, every batch whose completion time has passed, and forget the batches
        older than batch_retention_s.

        Called before serving any request or admin read, which makes asynchronous processing
        deterministic without a background task.
        """
        now = self.clock() if now is None else now
        due = [batch for batch in self._pending if batch.completes_at <= now]
        if due:
            self._pending = [batch for batch in self._pending if batch.completes_at > now]
            for batch in due:
                apply_batch(self.account, self.config, batch)
        if self.config.batch_retention_s > 0:
            kept_after = now - self.scaled(self.config.batch_retention_s)
            # Batches are kept in submission order: the forgotten ones are at the front.
            while self.batches:
                oldest = next(iter(self.batches.values()))
                if oldest.submitted_at > kept_after:
                    break
                del self.batches[oldest.id]

    def schedule_batch(
        self,
        contacts: list[dict[str, Any]],
        outcome: str = "completed",
        hold_s: float = 0.0,
        user_id: int = ADMIN_USER_ID,
        exclude_automations: bool = False,
    ) -> Batch:
        cfg = self.config
        now = self.clock()
        duration = cfg.processing_base_s + cfg.processing_per_contact_s * len(contacts)
        batch = Batch(
            id=str(uuid.uuid4()),
            date=date.today().isoformat(),
            contacts=contacts,
            size=len(contacts),
            submitted_at=now,
            false_until=now + self.scaled(cfg.info_false_s) + hold_s,
            completes_at=now + self.scaled(duration) + hold_s,
            outcome=outcome,
            user_id=user_id,
            exclude_automations=exclude_automations,
        )
        self.batches[batch.id] = batch
        self._pending.append(batch)
        return batch

    def log_request(self, method: str, path: str, query: str, contacts: int | None) -> dict[str, Any]:
        """Record an arrival; the caller fills in the status when the request is answered."""
        entry: dict[str, Any] = {
            "t": round(self.clock() - self.started, 6),
            "method": method,
            "path": path,
            "query": query,
            "status": None,
            "contacts": contacts,
        }
        self.requests.append(entry)
        return entry
