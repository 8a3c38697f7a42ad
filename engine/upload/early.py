"""A first sync that starts sending before its audience is fully prepared (`EarlyFeed`)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ac_sync.engine.audience import finish_audience, pending_counts, prepare_head
from ac_sync.engine.upload.planner import PlanCounts, PlanRules, build_plan, head_row, rows_to_send
from ac_sync.engine.upload.rows import Batch, Rejection, Row, make_batches

# Source rows a first sync prepares on their own to start sending: about 200 batches, more than a minute
# of uploading at ActiveCampaign's ceiling, while preparing 10 M rows takes well under that. The first
# FIRST_ROWS of them are prepared before anything else (in well under 0.1 s), the rest while they go out.
HEAD_ROWS = 50_000
FIRST_ROWS = 5_000


def starts_early(db_path: str | Path, state_is_empty: bool) -> bool:
    """Whether a sync should use EarlyFeed: a first sync (no state) of an audience still being prepared and
    larger than the head. A smaller one is prepared in moments, and is simply prepared first."""
    counted = pending_counts(db_path)
    return state_is_empty and counted is not None and counted["rows"] > HEAD_ROWS


@dataclass(eq=False)
class EarlyFeed:
    """A first sync's batches, starting before its audience is fully prepared.

    Only for a destination with no sync state (nothing can be unchanged, re-subscribed or removed), so
    every valid first occurrence of an email is an add unless the contact opted out. Which rows those
    are among the first HEAD_ROWS source rows depends on nothing after them, so prepare_head decides
    them in moments and they go out at once; the full preparation (finish_audience) starts as soon as
    the first batch has gone, and the rest of the plan follows from it, leaving out the rows sent.
    """

    con: duckdb.DuckDBPyConnection
    db_path: str | Path
    source: str
    list_id: int
    batch_size: int
    rules: PlanRules = field(kw_only=True)
    opted_out: set[str] = field(kw_only=True)  # emails, lower-cased in __post_init__
    counts: PlanCounts | None = field(default=None, init=False)  # known once the full plan is
    batches: int = field(default=0, init=False)  # bulk requests handed to the uploader
    _head: list[tuple[Any, ...]] = field(default_factory=list, init=False)
    _preparing: threading.Thread | None = field(default=None, init=False)
    _failure: BaseException | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.opted_out = {e.lower() for e in self.opted_out}

    def start(self) -> None:
        """Prepare the start of the head (blocking: run it in a thread)."""
        self._head = prepare_head(self.source, min(FIRST_ROWS, HEAD_ROWS), self.rules.mapping, self.db_path)

    def provisional_counts(self) -> PlanCounts:
        """Until the plan is known: every contact get-details counted is an add (opt-outs are not known yet)."""
        counted = pending_counts(self.db_path) or {}
        return PlanCounts(adds=counted.get("valid", 0), updates=0, removals=0, resubscribes=0, opted_out=0, unchanged=0)

    def items(self) -> Iterator[Batch | Rejection]:
        """Batches for Uploader.run: the head's, then the rest's. Blocking: the uploader reads it in a thread."""
        rows = itertools.chain(self._head_rows(), self._rest_rows())
        for item in make_batches(rows, self.list_id, self.batch_size):
            if isinstance(item, Batch):
                self.batches += 1
            yield item
            self._start_preparing()

    def _head_rows(self) -> Iterator[Row]:
        first_rows = min(FIRST_ROWS, HEAD_ROWS)
        for record in self._head:
            row = head_row(record, self.rules)
            if row.email not in self.opted_out:
                yield row
        if first_rows < HEAD_ROWS:
            for record in prepare_head(self.source, HEAD_ROWS, self.rules.mapping, self.db_path):
                row = head_row(record, self.rules)
                if row.source_row is not None and row.source_row > first_rows and row.email not in self.opted_out:
                    yield row

    def _start_preparing(self) -> None:
        if self._preparing is None:
            self._preparing = threading.Thread(target=self._prepare, name="ac-sync-prepare", daemon=True)
            self._preparing.start()

    def _prepare(self) -> None:
        try:
            finish_audience(self.db_path, self.rules.mapping)
        except BaseException as exc:  # handed to the uploader's thread by _rest_rows
            self._failure = exc

    def _rest_rows(self) -> Iterator[Row]:
        self._start_preparing()
        assert self._preparing is not None
        self._preparing.join()
        if self._failure is not None:
            raise self._failure
        cur = self.con.cursor()
        try:
            self.counts = build_plan(cur, None, self.rules)
            yield from rows_to_send(cur, self.rules.custom_ids, after_row=HEAD_ROWS)
        finally:
            cur.close()
