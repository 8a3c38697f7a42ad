"""The one orchestration of every run: a plan of syncs (one, for `sync-audience`; an account's, for
`sync-account`), each taken through its steps, set aside on any failure while the others go on, then waiting
for its resolution and continuing alone.

    get-details          each sync's audience read and counted (a campaign's split into its sub-audiences)
    (the account)        the session, validate-credentials, the account's groups and custom fields, read once
    mapping              which column feeds which field: every form mistake found before anything is written
    ensure-group, ensure-list
    upload-contacts      all the ready lists at once (one alone starts a large first sync early; several share
                         their imports)

A failure of one sync — typed or not — sets it aside with its record. A typed one then waits for the operator
(`await_resolution`); the action's effect changes the sync's decisions and sends it back to a step. A failure
of the account's own steps (credentials, the URL) waits the same way, and stops every sync if unresolved. On a
Retry (the flow run's second execution), completed steps are read from the cache and failed ones run again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from prefect import get_run_logger

from ac_sync.activecampaign.models import Group
from ac_sync.engine.audience.mapping import AccountField, ColumnMapping, choices_from_document
from ac_sync.engine.errors import FailureRecord, record_of
from ac_sync.engine.progress import CREDENTIALS, GROUP, MAPPING, READING, Notice, Phase, Progress, publish, subscribe
from ac_sync.engine.results import AudienceDetails, GroupTarget, ImportSavings, ListTarget, UploadOutcome
from ac_sync.engine.sending import ListUpload
from ac_sync.engine.syncs import Decisions, RunOptions, SyncSpec
from ac_sync.engine.upload.account_fields import discover_fields, map_audience
from ac_sync.flows.session import Session
from ac_sync.resolutions.actions import STEPS
from ac_sync.resolutions.pause import NotResolved, await_resolution
from ac_sync.tasks.ensure_group import ensure_group
from ac_sync.tasks.ensure_list import ensure_list
from ac_sync.tasks.get_details import get_details
from ac_sync.tasks.upload_contacts import plan_contacts, upload_contacts
from ac_sync.tasks.validate_credentials import validate_credentials

T = TypeVar("T")
UPLOAD = "upload-contacts"


@dataclass
class Target:
    """One list of the run: a sync, or one sub-audience of a campaign sync, and where it stands."""

    key: str  # the sync's name, or "name/sub-audience"
    sync: SyncSpec
    list_name: str
    details: AudienceDetails | None
    decisions: Decisions = field(default_factory=Decisions)
    mapping: ColumnMapping | None = None
    group: GroupTarget | None = None
    listed: ListTarget | None = None
    outcome: UploadOutcome | None = None
    failure: FailureRecord | None = None
    error: BaseException | None = None  # what the failure was raised as (a one-list run ends with it)
    next_step: str = STEPS[0]
    live: Progress | None = None  # the upload's last progress, for a run stopped meanwhile
    requests: Counter[str] = field(default_factory=Counter)  # the requests made for this list alone

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def set_aside(self, exc: BaseException, step: str) -> None:
        if isinstance(exc, NotResolved):
            self.failure = exc.failure
        else:
            context = {"list_name": self.list_name, "group_name": self.decisions.group(self.sync)}
            if self.listed is not None:
                context["list_id"] = self.listed.list_id
            self.failure, self.error = record_of(exc, step=step, sync=self.key, **context), exc
        self.next_step = step


@dataclass
class RunOutcome:
    targets: list[Target]
    requests: dict[str, Any]
    imports: ImportSavings
    stopped: bool = False  # a signal stopped the run (cancelled)


class AccountFailed(Exception):
    """A failure of the account's own steps that nobody resolved: every sync stops with it."""

    def __init__(self, failure: FailureRecord, error: BaseException) -> None:
        super().__init__(failure.message)
        self.failure, self.error = failure, error


class Orchestration:
    def __init__(self, session: Session, options: RunOptions, workdir: Path, run_id: str) -> None:
        self.session = session
        self.options = options
        self.workdir = workdir
        self.run_id = run_id
        self.targets: list[Target] = []
        self.groups: list[Group] | None = None
        self.fields: list[AccountField] = []
        self.imports: list[ImportSavings] = []
        self.log = get_run_logger()

    # --- what is done once for the run ---------------------------------------------------------------------

    async def read_audiences(self, syncs: list[SyncSpec]) -> None:
        publish(Phase(READING, flow_run_id=self.run_id))
        for sync in syncs:
            try:
                details = await get_details(sync, str(self.workdir / sync.name))
                if not Path(details.db_path).exists():
                    # A Retry of an ended run: its working copy went with it (workspace.py), so it is read again.
                    details = await get_details.with_options(refresh_cache=True)(sync, str(self.workdir / sync.name))
            except Exception as exc:
                target = Target(sync.name, sync, sync.list or sync.name, None)
                target.set_aside(exc, "get-details")
                self.targets.append(target)
                continue
            parts: dict[str | None, AudienceDetails] = {None: details} if not details.parts else {**details.parts}
            for value, part in parts.items():
                key = sync.name if value is None else f"{sync.name}/{value}"
                self.targets.append(Target(key, sync, sync.list_name(value), part))

    async def account_step(self, name: str, step: Callable[[], Awaitable[T]]) -> T:
        """One of the account's own steps; a typed failure waits for its resolution, then the step runs again."""
        while True:
            try:
                return await step()
            except Exception as exc:
                failure = record_of(exc, step=name, api_url=self.session.api_url)
                error: BaseException = exc
                if not failure.resolvable:
                    raise AccountFailed(failure, exc) from None
            try:
                resolution = await await_resolution(failure, timeout_s=self.options.pause_timeout)
            except NotResolved as stopped:
                raise AccountFailed(stopped.failure, error) from None
            if resolution.of(failure).reload:
                await self.session.open()

    async def open_account(self) -> None:
        publish(Phase(CREDENTIALS))
        await self.account_step("validate-credentials", self.session.open)
        client = lambda: self.session.client  # noqa: E731 - the session may open a new client on `retry`
        await self.account_step("validate-credentials", lambda: validate_credentials(client()))
        if any(not t.failed for t in self.targets):
            # The account's groups are read once for every sync: that read is the run's "finding the group".
            publish(Phase(GROUP))
            self.groups = await self.account_step("ensure-group", lambda: client().groups())
            self.fields = await self.account_step("mapping", lambda: discover_fields(client()))

    # --- one sync's steps ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def counted(self, target: Target) -> Iterator[None]:
        """The requests made in the block, counted as the target's own."""
        before = Counter(self.session.client.stats.as_dict())
        try:
            yield
        finally:
            after = Counter(self.session.client.stats.as_dict())
            target.requests.update({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)})

    async def advance(self, target: Target) -> None:
        """The target's steps from where it stands up to the upload (mapping, ensure-group, ensure-list)."""
        client = self.session.client
        for step in STEPS[STEPS.index(target.next_step) : STEPS.index(UPLOAD)]:
            target.next_step = step
            try:
                with self.counted(target):
                    if step == "mapping":
                        publish(Phase(MAPPING, target.key if len(self.targets) > 1 else ""))
                        target.mapping = await self._map(target)
                    elif step == "ensure-group":
                        title = target.decisions.group(target.sync)
                        create = target.decisions.create_group and not self.options.dry_run
                        target.group = await ensure_group(client, title, create, self.groups)
                    else:
                        assert target.group is not None
                        target.listed = await ensure_list(
                            client, target.list_name, target.group, target.decisions, self.options
                        )
            except Exception as exc:
                target.set_aside(exc, step)
                return
        target.next_step = UPLOAD

    async def _map(self, target: Target) -> ColumnMapping:
        assert target.details is not None
        choices = choices_from_document(target.decisions.field_choices(target.sync), f"sync {target.key}: fields")
        return await map_audience(
            self.session.client,
            target.details.db_path,
            self.fields,
            choices,
            target.decisions.create_fields,
            clear_empty=target.sync.clear_empty,
            dry_run=self.options.dry_run,
            log=self.log,
        )

    async def upload(self, batch: list[Target]) -> None:
        """upload-contacts for these targets at once; each gets its outcome, or is set aside with its failure.

        A list's failure makes the step's state Failed with every list's outcome as its data: a failed step is
        never cached, so a resolution or a Retry runs it again (what it confirmed is in the sync state)."""
        ready = [t for t in batch if not t.failed and t.next_step == UPLOAD]
        if not ready:
            return
        uploads = [
            ListUpload(
                t.key,
                t.sync,
                t.decisions,
                t.details,  # type: ignore[arg-type]
                t.listed,  # type: ignore[arg-type]
                t.decisions.group(t.sync),
                t.mapping,  # type: ignore[arg-type]
            )
            for t in ready
        ]
        with self._watching(ready), contextlib.ExitStack() as counting:
            if len(ready) == 1:
                counting.enter_context(self.counted(ready[0]))
            step = plan_contacts if self.options.dry_run else upload_contacts
            state = await step(self.session.client, uploads, self.options, return_state=True)
            done = await state.result(raise_on_failure=False)
        if isinstance(done, BaseException):
            raise done  # the step itself broke (a stop, a crash), not one of its lists
        self.imports.append(done.imports)
        for target in ready:
            target.outcome = done.lists[target.key]
            if target.outcome.failure is not None:
                target.failure, target.next_step = target.outcome.failure, UPLOAD
                target.error = None

    @contextlib.contextmanager
    def _watching(self, targets: list[Target]) -> Iterator[None]:
        """Each target's last progress notice: what a run stopped meanwhile says it confirmed."""
        by_key = {t.key: t for t in targets}
        only = targets[0] if len(targets) == 1 else None

        def seen(notice: Notice) -> None:
            if isinstance(notice, Progress):
                target = by_key.get(notice.list_key) or only
                if target is not None:
                    target.live = notice

        unsubscribe = subscribe(seen)
        try:
            yield
        finally:
            unsubscribe()

    # --- the run -----------------------------------------------------------------------------------------------

    async def resolve(self, target: Target) -> None:
        """A set-aside target: its typed failure waits for a resolution, whose effect sends it back to a step."""
        while target.failure is not None and target.failure.resolvable:
            failure = target.failure
            try:
                resolution = await await_resolution(failure, timeout_s=self.options.pause_timeout)
            except NotResolved as stopped:
                target.failure = stopped.failure
                return
            action = resolution.of(failure)
            target.decisions = action.decide(target.decisions, resolution.inputs, failure)
            if action.reload:
                await self.session.open()
            target.failure, target.error, target.next_step = None, None, action.step_after(failure)
            try:
                await self._reread(target.next_step)
            except Exception as exc:
                target.set_aside(exc, target.next_step)
                continue
            await self.advance(target)
            await self.upload([target])

    async def _reread(self, step: str) -> None:
        """What the account had when the run opened may have changed while it waited (the operator made the
        group or the field): the steps a resolution sends a sync back to read it again."""
        if STEPS.index(step) <= STEPS.index("ensure-group"):
            self.groups = await self.session.client.groups()
        if step == "mapping":
            self.fields = await discover_fields(self.session.client)

    async def run(self, syncs: list[SyncSpec]) -> RunOutcome:
        await self.read_audiences(syncs)
        try:
            await self.open_account()
        except AccountFailed as stopped:
            for target in self.targets:
                if not target.failed:
                    target.failure, target.error = (
                        stopped.failure.model_copy(update={"sync": target.key}),
                        stopped.error,
                    )
            return self.outcome()
        for target in self.targets:
            if not target.failed:
                await self.advance(target)
        await self.upload(self.targets)
        for target in self.targets:
            await self.resolve(target)
        return self.outcome()

    def outcome(self, *, stopped: bool = False) -> RunOutcome:
        imports = ImportSavings(
            **{key: sum(getattr(i, key) for i in self.imports) for key in ImportSavings.model_fields}
        )
        requests = self.session.client.stats.as_dict() if self.session.opened else {"total": 0, "bulk_import": 0}
        return RunOutcome(self.targets, requests, imports, stopped)


async def run_syncs(
    syncs: list[SyncSpec], options: RunOptions, session: Session, workdir: Path, run_id: str
) -> RunOutcome:
    """The run of these syncs; a stop (cancellation) still answers what was done, then is raised again."""
    orchestration = Orchestration(session, options, workdir, run_id)
    try:
        return await orchestration.run(syncs)
    except asyncio.CancelledError as cancelled:
        raise Stopped(orchestration.outcome(stopped=True)) from cancelled
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(session.close())


class Stopped(BaseException):
    """The run was stopped (Ctrl-C, SIGTERM) with this much done; a BaseException, as the cancellation was."""

    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__("stopped")
        self.outcome = outcome
