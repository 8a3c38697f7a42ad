"""An account's lists in one upload: each contact that changes on any list is one bulk-import item carrying all of
its list changes and its values, so imports = ⌈distinct changed contacts / 250⌉, not the sum over lists.

Every list is prepared, diffed and checkpointed on its own (its ListSync); only the bulk imports are shared. The
lists' bulk rows, each stream sorted by email, are merged by email: one item subscribes the contact to the lists
that add or update it and unsubscribes it from those that remove it. A contact's values are account-wide in
ActiveCampaign, so when two lists' audiences disagree on one, the list earlier in the syncs file wins (and
`conflicts` counts it). The per-contact `exclude_automations` flag cannot differ by list, so a contact whose lists
disagree goes out as two items. A confirmed import is checkpointed into each list's own state (and its pending
batch is recorded in each), so a crash or kill -9 re-sends at most the one batch in flight, and each list resumes
its own pending batches.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ac_sync.activecampaign.client import BULK_MAX_CONTACTS, ACClient
from ac_sync.engine.upload.rows import SUBSCRIBE, UNSUBSCRIBE, Batch, Rejection, Row, make_batches, merge_tags
from ac_sync.engine.upload.sync import ListSync, Plan, Sent
from ac_sync.engine.upload.uploader import Uploader, UploadResult


@dataclass
class Target:
    """One list of the account run: a sync (or one sub-audience of one), planned."""

    key: str  # the sync's name, or "name/sub-audience"
    sync: ListSync
    plan: Plan

    @property
    def list_id(self) -> int:
        # A plan's list may not exist yet: 0 stands in for its id when the plan sizes the shared imports.
        return self.sync.list_id or 0


@dataclass
class MergedRow:
    """One contact's item in a shared import: its merged values and, per list, what the list's own row says."""

    email: str
    entries: list[tuple[Target, Row]]
    values: Row  # the merged values (first list wins), as a Row without a list
    exclude_automations: bool
    conflicts: int = 0

    @property
    def action(self) -> str:
        return SUBSCRIBE if any(r.action == SUBSCRIBE for _, r in self.entries) else UNSUBSCRIBE

    @property
    def verdict(self) -> str:
        """For the shared upload's own counts: an add if it adds the contact to any list."""
        return "add" if any(r.verdict == "add" for _, r in self.entries) else "update"

    @property
    def source_row(self) -> int | None:
        return self.entries[0][1].source_row

    def payload(self, list_id: int) -> dict[str, Any]:
        contact = self.values.payload(0)
        contact.pop(SUBSCRIBE, None)
        for action in (SUBSCRIBE, UNSUBSCRIBE):
            lists = [{"listid": t.list_id} for t, r in self.entries if r.action == action]
            if lists:
                contact[action] = lists
        contact["exclude_automations"] = self.exclude_automations
        return contact

    def for_list(self, target: Target) -> Row:
        """The list's own row, with the values the contact holds once the import is applied."""
        own = next(r for t, r in self.entries if t is target)
        if own.action != SUBSCRIBE:
            return own
        return replace(
            own,
            first_name=self.values.first_name,
            last_name=self.values.last_name,
            phone=self.values.phone,
            tags=self.values.tags,
            fields=self.values.fields,
        )


def merge_rows(targets: Sequence[Target]) -> Iterator[MergedRow]:
    """The targets' bulk rows merged by email (each stream is read sorted by email, in bounded memory)."""
    streams = [_keyed(i, t) for i, t in enumerate(targets)]
    for email, group in itertools.groupby(heapq.merge(*streams, key=lambda x: (x[0], x[1])), key=lambda x: x[0]):
        entries = [(targets[i], row) for _, i, row in group]
        by_flag: dict[bool, list[tuple[Target, Row]]] = {}
        for entry in entries:
            by_flag.setdefault(entry[1].exclude_automations, []).append(entry)
        for flag, same in by_flag.items():
            values, conflicts = _merged_values([row for _, row in same])
            yield MergedRow(email, same, values, flag, conflicts)


def _keyed(index: int, target: Target) -> Iterator[tuple[str, int, Row]]:
    # A function, not a generator expression in a comprehension: that would bind `index` late, to the last list.
    for row in target.sync.bulk_rows(by_email=True):
        yield row.email, index, row


def _merged_values(rows: list[Row]) -> tuple[Row, int]:
    """The first list's value for each field, and how many later lists wanted another one. Only the lists that
    add or update the contact give values: a list that removes it never carries values or tags into the import."""
    merged = Row(rows[0].email)
    conflicts = 0
    givers = [r for r in rows if r.action == SUBSCRIBE]
    for key in ("first_name", "last_name", "phone"):
        seen = [getattr(r, key) for r in givers if getattr(r, key)]
        if seen:
            setattr(merged, key, seen[0])
            conflicts += len(set(seen)) - 1
    fields: dict[int, str] = {}
    for row in givers:
        for fid, value in (row.fields or {}).items():
            if fid in fields and fields[fid] != value:
                conflicts += 1
            fields.setdefault(fid, value)
    merged.fields = fields or None
    tags: list[str] = []
    for row in givers:
        tags = merge_tags(tags, row.tags or [])
    merged.tags = tags or None
    return merged, conflicts


class MergedLedger:
    """The uploader's ledger for shared imports: every list's own state and rejected log."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.targets = list(targets)
        # Each list's own result: its uploader's, which also holds what it confirmed of earlier batches and of
        # the contact API's few.
        self.counts: dict[str, UploadResult] = {t.key: t.sync.uploader.result for t in targets}  # type: ignore[union-attr]
        self.conflicts = 0

    def _split(self, batch: Batch, rows: Iterable[MergedRow]) -> Iterator[tuple[Target, Batch, list[Row]]]:
        per: dict[int, list[Row]] = {}
        for merged in rows:
            for target, _ in merged.entries:
                per.setdefault(id(target), []).append(merged.for_list(target))
        for target in self.targets:
            if id(target) in per:
                own = per[id(target)]
                yield target, replace(batch, rows=own, payloads=[]), own

    def submitted(self, batch: Batch) -> None:
        for target, own_batch, _ in self._split(batch, batch.rows):  # type: ignore[arg-type]
            assert target.sync.uploader is not None
            target.sync.uploader.ledger.submitted(own_batch)

    def confirmed(self, batch: Batch, rows: list[Row]) -> None:
        for target, own_batch, own in self._split(batch, rows):  # type: ignore[arg-type]
            assert target.sync.uploader is not None
            target.sync.uploader.ledger.confirmed(own_batch, own)
            for row in own:
                self.counts[target.key].count(row)
        self.conflicts += sum(m.conflicts for m in rows)  # type: ignore[attr-defined]

    def dropped(self, batch: Batch) -> None:
        for target, own_batch, _ in self._split(batch, batch.rows):  # type: ignore[arg-type]
            assert target.sync.uploader is not None
            target.sync.uploader.ledger.dropped(own_batch)

    def rejected(self, items: list[Rejection]) -> None:
        # A refused contact is logged in every list it was meant for, with that list's row number.
        wanted = {r.email for r in items}
        reasons = {r.email: r.reason for r in items}
        for target in self.targets:
            rows = target.sync.con.execute(
                "SELECT email, source_row FROM to_send WHERE email IN (SELECT unnest(?))", [sorted(wanted)]
            ).fetchall()
            if rows:
                assert target.sync.uploader is not None
                target.sync.uploader.ledger.rejected([Rejection(e, reasons[e], src) for e, src in rows])
                self.counts[target.key].rejected += len(rows)


@dataclass
class AccountSent:
    result: UploadResult
    per_list: dict[str, Sent] = field(default_factory=dict)
    merged_imports: int = 0
    one_by_one_imports: int = 0
    conflicts: int = 0


async def send_account(
    client: ACClient,
    targets: Sequence[Target],
    *,
    batch_size: int = BULK_MAX_CONTACTS,
    confirm_timeout_s: float | None = None,
) -> AccountSent:
    """Write every target's plan, with the lists' bulk rows merged into shared imports. A list's handful of
    changes that its plan routed to the contact API goes that way, as a list synced alone would send it."""
    resubscribed = {t.key: await t.sync.before_bulk() for t in targets}
    few = {t.key: await t.sync.send_few() for t in targets}
    ledger = MergedLedger(targets)
    uploader = Uploader(client, 0, ledger=ledger, confirm_timeout_s=confirm_timeout_s)
    result = await uploader.run(make_batches(merge_rows(targets), 0, batch_size))
    sent = AccountSent(result, conflicts=ledger.conflicts)
    for target in targets:
        written = await target.sync.after_bulk(None)
        own = ledger.counts[target.key]
        own.batches_confirmed += result.batches_confirmed
        own.batches_resent += result.batches_resent
        own.unconfirmed += result.unconfirmed
        target.sync.log_result(own, resubscribed[target.key])
        sent.per_list[target.key] = Sent(
            own, resubscribed[target.key], target.plan, written + few[target.key], held=target.sync.held
        )
    sent.merged_imports = result.batches_confirmed
    sent.one_by_one_imports = sum(t.plan.requests.get("bulk_import", 0) for t in targets)
    return sent


def import_savings(targets: Sequence[Target], batch_size: int = BULK_MAX_CONTACTS) -> dict[str, int]:
    """For the plan: shared imports, imports one list at a time, and distinct contacts changed."""
    merged = list(merge_rows(targets))
    distinct = len({m.email for m in merged})
    imports = sum(1 for item in make_batches(iter(merged), 0, batch_size) if isinstance(item, Batch))
    one_by_one = sum(t.plan.requests.get("bulk_import", 0) for t in targets)
    return {"bulk_import": imports, "one_by_one": one_by_one, "changed_contacts": distinct}
