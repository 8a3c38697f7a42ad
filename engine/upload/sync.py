"""upload-contacts' engine for one list, the one object its task drives: resume → map → plan → send.

`resume` confirms the batches an earlier run had queued; `map` reads the account's custom fields and decides
which column feeds which field; `plan` prepares what get-details left to do and decides, in DuckDB, every
write against the sync state and the list's opt-outs; `send` writes them at the account's ceiling and
checkpoints each confirmed batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.audience import audience_pending, finish_audience
from ac_sync.engine.audience.count import pending_columns, prepared_mapping
from ac_sync.engine.audience.mapping import AccountField, ColumnMapping, map_columns
from ac_sync.engine.audience.normalise import value_column
from ac_sync.engine.errors import TooManyRemovals
from ac_sync.engine.privacy import masked
from ac_sync.engine.results import PlanSummary, SentCounts
from ac_sync.engine.syncs import Decisions, RunOptions, SyncSpec
from ac_sync.engine.upload.account_fields import relate_fields
from ac_sync.engine.upload.contact_writes import ContactWriter, list_change_time, send_small
from ac_sync.engine.upload.early import EarlyFeed, starts_early
from ac_sync.engine.upload.ledger import StateLedger, resumed_batches
from ac_sync.engine.upload.planner import (
    AUTOMATIONS_SKIP,
    MIRROR,
    TAGS_ADD,
    UPSERT,
    PlanCounts,
    PlanRules,
    build_plan,
    count_batches,
    describe,
    load_unsubscribed,
    parse_max_removals,
    route_small_changes,
    rows_to_send,
)
from ac_sync.engine.upload.rows import (
    OPTED_OUT_NOTE,
    PARTIAL,
    REMOVED_AT,
    RESUBSCRIBED_NOTE,
    Row,
    held_values,
    make_batches,
    with_note,
)
from ac_sync.engine.upload.state import OPTED_OUT, SUBSCRIBED, open_state
from ac_sync.engine.upload.uploader import Uploader, UploadResult

# (contacts done, contacts to write, the upload's result so far)
ProgressFn = Callable[[int, int, UploadResult], Awaitable[None]]
RESUBSCRIBE_SOURCE = 4  # the contactLists sourceid the reference asks for when re-subscribing
# A list status's `udate` and the `Date` of the answer that confirmed the removal come from different clocks of
# ActiveCampaign's (seen a second apart on one server); a change this close after the confirmation is taken for
# the removal itself. Nobody re-subscribes and unsubscribes again within it.
REMOVAL_CLOCK_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class SyncOptions:
    batch_size: int = 250
    full_resync: bool = False
    mode: str = UPSERT
    max_removals: str | None = None  # N or P% of the contacts this tool keeps in the list (default 10 %)
    tags: str = TAGS_ADD
    automations: str = AUTOMATIONS_SKIP
    clear_empty: bool = False
    confirm_timeout_s: float | None = None  # real seconds to wait for a queued batch (None: as long as it takes)
    approve_removals: bool = False  # the operator approved removals over the limit (TOO_MANY_REMOVALS)

    @classmethod
    def of(cls, sync: SyncSpec, decisions: Decisions, options: RunOptions) -> SyncOptions:
        """One list's upload options: the sync's own, the operator's decisions, and the run's."""
        return cls(
            batch_size=options.batch_size,
            full_resync=options.full_resync,
            mode=sync.mode,
            max_removals=sync.max_removals,
            tags=sync.tags,
            automations=sync.automations or options.automations,
            clear_empty=sync.clear_empty,
            confirm_timeout_s=options.confirm_timeout_s,
            approve_removals=decisions.approve_removals,
        )


@dataclass
class Plan:
    counts: PlanCounts
    requests: dict[str, int]
    max_removals: int
    mode: str
    mapping: ColumnMapping | None = None
    notes: dict[str, int] = field(default_factory=dict)  # naive date-times taken as UTC, values left out
    automations: str = AUTOMATIONS_SKIP

    @property
    def total(self) -> int:
        """Contacts the run writes."""
        return self.counts.writes + self.counts.resubscribes

    def summary(self, **extra: Any) -> PlanSummary:
        described = describe(self.counts, self.requests)
        mapped = {"mapping": self.mapping.as_summary(), "unmapped": self.mapping.sent_nowhere} if self.mapping else {}
        return PlanSummary(
            **described,
            max_removals=self.max_removals,
            mode=self.mode,
            automations=self.automations,
            **mapped,
            **self.notes,
            **extra,
        )


@dataclass
class Sent:
    result: UploadResult
    resubscribed: int
    plan: Plan
    contact_writes: int = 0
    held: int = 0

    def counts(self) -> SentCounts:
        """What the upload did, as the step's summary reports it (one list's run and an account run alike)."""
        return sent_counts(
            self.result, resubscribed=self.resubscribed, contact_writes=self.contact_writes, held=self.held
        )


# What SentCounts takes from the uploader's result under the same name (batches are its confirmed batches).
_SAME_NAMES = ("added", "updated", "subscribed", "unsubscribed", "confirmed_earlier", "rejected", "batches_resent")
_MORE_SAME = ("unconfirmed", "format_rejections", "polls")


def sent_counts(result: UploadResult, *, resubscribed: int = 0, contact_writes: int = 0, held: int = 0) -> SentCounts:
    same = {name: getattr(result, name) for name in (*_SAME_NAMES, *_MORE_SAME)}
    return SentCounts(
        **same, batches=result.batches_confirmed, resubscribed=resubscribed, contact_writes=contact_writes, held=held
    )


class ListSync:
    """One list's upload. `list_id` None (a dry run only): the list does not exist yet.

    `list_created`: this run created the list, so while nothing has been sent to it nobody can have
    unsubscribed from it, and reading its unsubscribed contacts (a request, up to a second at the rate
    limit before the first import) is skipped. `mapping`: which column feeds which field, decided before
    anything was written (upload.columns.map_audience); an audience an earlier attempt prepared keeps the
    mapping it was prepared with.
    """

    def __init__(
        self,
        client: ACClient,
        db_path: str,
        list_id: int | None,
        state_location: str,
        options: SyncOptions,
        *,
        mapping: ColumnMapping | None = None,
        list_created: bool = False,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        list_name: str | None = None,
        group_name: str | None = None,
        early: bool = True,
    ) -> None:
        """`list_name`/`group_name` fill the rebuild command a damaged state names; `early` False: a large first
        sync is prepared in full before it sends (several lists' rows are merged by email, which needs them all)."""
        self.client = client
        self.db_path = db_path
        self.list_id = list_id
        self.options = options
        self.list_created = list_created
        self.list_name = list_name
        self.held = 0  # removed by this tool, back in the audience, and held by the re-subscribe check
        self.log = log or logging.getLogger(__name__)
        self.con = duckdb.connect(db_path)
        self._writer = self.con.cursor()
        self.state = open_state(state_location, client.base_url, list_id) if list_id else None
        if self.state is not None:
            self.state.log = self.log  # a torn last line read past is a warning in the run's log
            self.state.list_name, self.state.group_name = list_name, group_name
        self.uploader = (
            Uploader(
                client,
                list_id,
                ledger=StateLedger(self.state, self._writer),
                confirm_timeout_s=options.confirm_timeout_s,
            )
            if self.state and list_id
            else None
        )
        self.mapping = prepared_mapping(db_path) or mapping
        self._feed: EarlyFeed | None = None
        self._early = early
        self._unsubscribed: list[tuple[str, int]] = []
        self.earlier_unchanged = 0  # of the plan's unchanged: contacts this run confirmed from earlier batches

    def close(self) -> None:
        self._writer.close()
        self.con.close()

    async def resume(self) -> int:
        """Confirm (by polling) the batches an earlier run had queued; answers how many there were. What they
        confirm counts as this run's, apart (`confirmed_earlier`), and is not counted again as unchanged."""
        if self.uploader is None or self.state is None:
            return 0
        resumed = resumed_batches(self.state)
        emails = [row.email for batch in resumed for row in batch.rows]
        self.con.execute("CREATE OR REPLACE TEMP TABLE resumed (email VARCHAR)")
        if resumed:
            self.con.executemany("INSERT INTO resumed VALUES (?)", [(e,) for e in emails])
            self.log.info("Confirming %d batches an earlier run queued", len(resumed))
            await self.uploader.resume(resumed)
            self.uploader.result.confirmed_earlier = self.uploader.result.subscribed + self.uploader.result.unsubscribed
        return len(resumed)

    def _mapping(self) -> ColumnMapping:
        if self.mapping is None:
            # Nobody decided the mapping (the engine used on its own): the standard fields by their spellings.
            self.mapping = map_columns(pending_columns(self.db_path) or [], None)
        return self.mapping

    def _rules(self) -> PlanRules:
        opts = self.options
        return PlanRules(
            mode=opts.mode,
            full_resync=opts.full_resync,
            tags=opts.tags,
            mapping=self.mapping,
            automations=opts.automations,
        )

    async def plan(self, *, dry_run: bool = False) -> Plan:
        """Every write the list needs, decided against its state and opt-outs. Outside a dry run (whose plan shows
        them) a mirror plan over its removal limit is TooManyRemovals, unless the operator approved it."""
        self._mapping()
        rules = self._rules()
        # Nothing recorded for this destination yet: no sync of this list has ever sent anything.
        first_sync = self.state is not None and await asyncio.to_thread(self.state.is_empty)
        if self.list_id is not None and not (self.list_created and first_sync):
            self._unsubscribed = [(c.email, c.id) async for c in self.client.list_contacts(self.list_id, status=2)]
        load_unsubscribed(self.con, self._unsubscribed)
        source = audience_pending(self.db_path)
        opts = self.options
        if source is not None and not dry_run and self._early and starts_early(self.db_path, first_sync):
            # A first sync of a large audience that get-details only counted: its first rows go out while the
            # rest is prepared, and the plan is known once it is (until then: every counted contact an add).
            self._feed = EarlyFeed(
                self.con,
                self.db_path,
                source,
                self.list_id or 0,
                opts.batch_size,
                rules=rules,
                opted_out={email for email, _ in self._unsubscribed},
            )
            await asyncio.to_thread(self._feed.start)
            counts = self._feed.provisional_counts()
            requests = {"bulk_import": 0, "contactLists": 0, "fieldRels": len(self._unrelated())}
            limit = parse_max_removals(opts.max_removals, 0)
            return Plan(counts, requests, limit, opts.mode, self.mapping, automations=opts.automations)
        # Prepares what get-details only counted (nothing if an earlier attempt of this step prepared it).
        prepared = await asyncio.to_thread(finish_audience, self.db_path, self.mapping)
        counts = await asyncio.to_thread(build_plan, self.con, self.state, rules)
        kept = self.state.count(self.con) if self.state is not None else 0
        small = route_small_changes(self.con)
        batches = count_batches(self.con, self.list_id or 0, opts.batch_size, rules.custom_ids)
        requests = {"bulk_import": batches, "contactLists": counts.resubscribes, **ContactWriter.requests(self.con)}
        # Each re-subscription first reads the contact's list status again (consent is decided by the present).
        requests["contacts"] = requests.get("contacts", 0) + counts.resubscribes
        for kind, n in small.items():
            requests[kind] = requests.get(kind, 0) + n
        plan = Plan(
            counts,
            {**requests, "fieldRels": len(self._unrelated(used_only=True))},
            parse_max_removals(opts.max_removals, kept),
            opts.mode,
            self.mapping,
            automations=opts.automations,
        )
        if prepared is not None:
            plan.notes = {"rejected_values": prepared.rejected_values, "naive_datetimes": prepared.naive_datetimes}
        if first_sync and self.state is not None and self.list_id is not None and not self.list_created:
            await self._no_state_but_members(plan)
        self.earlier_unchanged = self._earlier_unchanged()
        removals, limit = counts.removals, plan.max_removals
        if not dry_run and opts.mode == MIRROR and removals > limit and not opts.approve_removals:
            raise TooManyRemovals(
                f"the sync would unsubscribe {removals} contacts, over the limit of {limit}",
                list_id=self.list_id,
                list_name=self.list_name,
                removals=removals,
                limit=limit,
            )
        if plan.notes.get("naive_datetimes"):
            self.log.info(
                "%d date-time values carry no time zone: they are taken as UTC", plan.notes["naive_datetimes"]
            )
        self.log.info(
            "Plan: %d adds, %d updates, %d removals, %d re-subscribes, %d opted-out skips, %d unchanged",
            counts.adds,
            counts.updates,
            counts.removals,
            counts.resubscribes,
            counts.opted_out,
            counts.unchanged,
        )
        return plan

    def _earlier_unchanged(self) -> int:
        """Contacts the plan finds unchanged only because this run confirmed an earlier run's batch of them."""
        exists = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'resumed' AND temporary"
        ).fetchone()
        if not exists or not exists[0]:
            return 0
        row = self.con.execute(
            "SELECT count(DISTINCT a.email) FROM audience a JOIN resumed r USING (email)"
            " WHERE a.email NOT IN (SELECT email FROM to_send)"
            " AND a.email NOT IN (SELECT email FROM list_unsubscribed)"
        ).fetchone()
        return int(row[0]) if row else 0

    async def _no_state_but_members(self, plan: Plan) -> None:
        """A list that has members but no state here: say so (its state may live elsewhere: --state), since
        every row then counts as an add and mirror mode removes nobody (it removes only what it recorded)."""
        assert self.state is not None and self.list_id is not None
        members = await self.client.count_contacts(self.list_id, 1)
        if not members:
            return
        plan.notes["no_state_members"] = members
        self.log.warning(
            "No sync state for this list at %s, but the list has %d members: every row is planned as an add (sent"
            " again, which changes nothing for those already there)%s. If this list's state lives elsewhere, give"
            " it with --state (AC_SYNC_STATE).",
            self.state.shown(),
            members,
            "; mirror mode removes nobody until a state records what this tool put on the list"
            if self.options.mode == MIRROR
            else "",
        )

    def _unrelated(self, *, used_only: bool = False) -> list[AccountField]:
        """Mapped custom fields the list cannot show yet (related neither to it nor to all lists)."""
        if self.mapping is None:
            return []
        found = []
        for m in self.mapping.custom:
            fld = m.target.field
            assert fld is not None
            if self.list_id is not None and fld.related_to(self.list_id):
                continue
            if self.list_id is None and 0 in fld.lists:
                continue
            if used_only and not self._has_values(fld):
                continue
            found.append(fld)
        return found

    def _has_values(self, fld: AccountField) -> bool:
        row = self.con.execute(f"SELECT count(*) FROM to_send WHERE {value_column(fld.id)} IS NOT NULL").fetchone()
        return bool(row and row[0])

    async def send(self, plan: Plan, on_progress: ProgressFn | None = None) -> Sent:
        """Write the plan; each confirmed batch is checkpointed into the sync state as it is confirmed."""
        assert self.uploader is not None and self.state is not None and self.list_id is not None
        uploader = self.uploader
        total = plan.total
        contact_done = 0

        async def progressed(result: UploadResult) -> None:
            if on_progress is not None:
                done = result.subscribed + result.unsubscribed + result.rejected + contact_done
                await on_progress(done, total, result)

        uploader.on_progress = progressed
        resubscribed = await self.before_bulk()
        if self._feed is None:
            few = await self.send_few()
            result = await uploader.run(make_batches(self.bulk_rows(), self.list_id, self.options.batch_size))

            async def contact_progress(n: int) -> None:
                nonlocal contact_done
                contact_done = n
                await progressed(result)

            contact_done = await self.after_bulk(contact_progress) + few
        else:
            result = await uploader.run(self._feed.items())
            assert self._feed.counts is not None
            plan = Plan(
                self._feed.counts,
                {"bulk_import": self._feed.batches, "contactLists": 0, "fieldRels": plan.requests.get("fieldRels", 0)},
                plan.max_removals,
                plan.mode,
                self.mapping,
                automations=plan.automations,
            )
            self.log.info("Plan, now known: %d adds, %d opted-out skips", plan.counts.adds, plan.counts.opted_out)
            await self.after_bulk(None, contact_api=False)
        self.log_result(result, resubscribed)
        return Sent(result, resubscribed, plan, contact_done, held=self.held)

    async def before_bulk(self) -> int:
        """What must precede the imports: fields related to the list, re-subscriptions; answers how many of those."""
        assert self.list_id is not None
        # A field the list cannot show would take the values, invisibly: relate it before the first import.
        await relate_fields(self.client, self._unrelated(used_only=self._feed is None), self.list_id)
        return 0 if self._feed is not None else await self._resubscribe()

    async def send_few(self) -> int:
        """The handful of changes the plan routed to the contact API (route_small_changes), counted in the
        upload's result as the imports' are; answers how many contacts."""
        assert self.uploader is not None and self.state is not None and self.list_id is not None
        few = list(rows_to_send(self.con, self._rules().custom_ids, via_contact_api=True))
        await send_small(self.client, self.state, few, self.list_id, self.uploader.result)
        return len(few)

    def bulk_rows(self, *, by_email: bool = False) -> Iterator[Row]:
        """The rows bulk import writes (the contact API's few aside), by source row or by email."""
        return rows_to_send(self.con, self._rules().custom_ids, by_email=by_email)

    async def after_bulk(self, progress: Callable[[int], Awaitable[None]] | None, *, contact_api: bool = True) -> int:
        """What follows the imports: clears and tag removals (answers how many contacts), contacts re-recorded
        in the state, leavers who opted out remembered, the state compacted."""
        assert self.state is not None
        state = self.state
        written = 0
        if contact_api:
            writer = ContactWriter(self.client, state, self.con, self._rules().custom_ids)
            written = await writer.run(progress)
            rerecorded = await asyncio.to_thread(
                state.checkpoint_query, self.con, "SELECT email, fields_hash, status, sent FROM rerecord"
            )
            if rerecorded:
                self.log.info("Recorded %d unchanged contacts anew in the sync state", rerecorded)
        # Leavers who unsubscribed themselves: remembered as opted out, so no later run re-subscribes them.
        opted_leavers = self.con.execute("SELECT email, fields_hash, sent FROM leavers WHERE opted_out").fetchall()
        how = {"how": "unsubscribed from the list while a member (ActiveCampaign's unsubscribed contacts of the list)"}
        state.checkpoint(
            (email, fields_hash, OPTED_OUT, with_note(sent, OPTED_OUT_NOTE, how))
            for email, fields_hash, sent in opted_leavers
        )
        state.checkpoint(
            (email, fields_hash, OPTED_OUT, with_note(sent, OPTED_OUT_NOTE, {"how": OPTED_OUT_IN_AUDIENCE}))
            for email, fields_hash, sent in self._opted_out_members()
        )
        state.compact(self.con)
        return written

    def _opted_out_members(self) -> list[tuple[str, str | None, str | None]]:
        """Audience contacts that unsubscribed from the list by themselves, not yet recorded as opted out (those
        this tool removed are the re-subscribe check's): the consent record names them."""
        have = {
            name
            for (name,) in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name IN ('list_unsubscribed', 'state')"
            ).fetchall()
        }
        if "list_unsubscribed" not in have:
            return []
        if "state" not in have:
            query = "SELECT a.email, a.fields_hash, NULL FROM audience a JOIN list_unsubscribed u USING (email)"
        else:
            query = (
                "SELECT a.email, a.fields_hash, s.sent FROM audience a JOIN list_unsubscribed u USING (email)"
                f" LEFT JOIN state s USING (email) WHERE s.status IS NULL OR s.status = '{SUBSCRIBED}'"
            )
        return [(e, h, sent) for e, h, sent in self.con.execute(query).fetchall()]

    def log_result(self, result: UploadResult, resubscribed: int) -> None:
        self.log.info(
            "Confirmed %d batches: %d subscribed, %d unsubscribed, %d re-subscribed, %d rejected, %d batches re-sent",
            result.batches_confirmed,
            result.subscribed,
            result.unsubscribed,
            resubscribed,
            result.rejected,
            result.batches_resent,
        )

    async def _resubscribe(self) -> int:
        """Contacts this tool unsubscribed and the audience wants back: bulk import would leave them out.

        Consent is decided by the present, not by the ledger: the contact's list status is read again, and
        only if its last change is this tool's own removal (no younger than the moment that removal was
        confirmed) is it re-subscribed, with the source the reference asks for. Anyone whose status changed
        since unsubscribed themselves (or was by someone else): they stay out, remembered as opted out, and
        their row leaves the bulk imports too. Re-subscribed contacts' values go out with the bulk imports;
        until those are confirmed their hash is PARTIAL, so a run that stops in between looks at them again.
        """
        assert self.state is not None and self.list_id is not None
        rows = self.con.execute("SELECT email, contact_id, fields_hash, old_sent, bulk FROM resubscribe").fetchall()
        done = 0
        for email, contact_id, fields_hash, sent, bulk in rows:
            removed_at = held_values(sent).get(REMOVED_AT)
            changed_at = await list_change_time(self.client, int(contact_id), self.list_id)
            ours = bool(
                removed_at and changed_at and changed_at <= datetime.fromisoformat(removed_at) + REMOVAL_CLOCK_SLACK
            )
            stamps = {"removed_at": removed_at, "changed_at": changed_at.isoformat() if changed_at else None}
            if not ours:
                self.log.info(  # masked: the run's log is Prefect's, and the address is nobody's business there
                    "%s unsubscribed from the list since this tool removed them: not re-subscribed", masked(email)
                )
                self.held += 1
                note = {"how": _held_because(removed_at, changed_at), **stamps}
                self.state.checkpoint([(email, fields_hash, OPTED_OUT, with_note(sent, OPTED_OUT_NOTE, note))])
                self.con.execute("DELETE FROM to_send WHERE email = ?", [email])
                continue
            await self.client.set_list_status(self.list_id, int(contact_id), 1, sourceid=RESUBSCRIBE_SOURCE)
            sent = with_note(sent, RESUBSCRIBED_NOTE, stamps)
            self.state.checkpoint([(email, PARTIAL if bulk else fields_hash, SUBSCRIBED, sent)])
            # Its import to come records what it sent over this: the note goes with it.
            self.con.execute("UPDATE to_send SET sent_before = ? WHERE email = ?", [sent, email])
            done += 1
        return done


OPTED_OUT_IN_AUDIENCE = "unsubscribed from the list by themselves while in the audience (ActiveCampaign's status)"


def _held_because(removed_at: str | None, changed_at: datetime | None) -> str:
    """Why a contact this tool removed is not re-subscribed, as the consent record says it."""
    if not removed_at:
        return "held: the record has no stamp of this tool's removal, so the latest change may be theirs"
    if changed_at is None:
        return "held: ActiveCampaign's answer did not say when the list status last changed"
    return "their list status changed after this tool removed them"
