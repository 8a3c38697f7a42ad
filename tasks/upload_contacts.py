"""Step 5, upload-contacts: write what changed into each list — one list alone, or several with their bulk imports
shared — checkpointing every confirmed batch; a list that cannot go on comes back with its failure."""

from __future__ import annotations

import time
from uuid import UUID

from prefect import State, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from ac_sync.activecampaign.client import ACClient
from ac_sync.engine.progress import VERIFYING, Phase, Progress, publish
from ac_sync.engine.results import UploadOutcomes
from ac_sync.engine.sending import ListUpload, upload_lists
from ac_sync.engine.syncs import RunOptions
from ac_sync.engine.upload.uploader import UploadResult
from ac_sync.tasks.caching import run_scoped
from ac_sync.tasks.locking import run_lock


class UiProgress:
    """Each list's progress artifacts in the Prefect UI (its upload, its verify when due), and the notices the
    command line shows."""

    def __init__(self) -> None:
        self.artifacts: dict[str, UUID] = {}
        self._updated: dict[str, float] = {}

    async def _show(self, key: str, pct: float, text: str, final: bool) -> None:
        if key not in self.artifacts:
            self.artifacts[key] = await create_progress_artifact(pct, description=text)
            self._updated[key] = time.monotonic()
        # The artifact is a Prefect API call: once a second is plenty for the UI, and it keeps the loop fast.
        elif time.monotonic() - self._updated[key] >= 1.0 or final:
            self._updated[key] = time.monotonic()
            await update_progress_artifact(self.artifacts[key], pct, description=text)

    async def verify(self, key: str, read: int, expected: int) -> None:
        publish(Phase(VERIFYING, f"{key}: {read:,} members read (the state expects {expected:,})"))
        pct = min(100.0 * read / expected, 99.0) if expected else 0.0
        await self._show(f"verify {key}", pct, f"verify {key}: {read} members read", False)

    async def __call__(self, key: str, done: int, total: int, result: UploadResult) -> None:
        publish(
            Progress(
                done,
                total,
                result.batches_confirmed,
                key,
                added=result.added,
                updated=result.updated,
                removed=result.unsubscribed,
                confirmed_earlier=result.confirmed_earlier,
            )
        )
        pct = min(100.0 * done / total if total else 100.0, 100.0)
        await self._show(key, pct, f"{key}: {done} of {total} contacts", done >= total)


@task(name="upload-contacts", cache_key_fn=run_scoped("upload-contacts", "lists", "options"), persist_result=True)
async def upload_contacts(
    client: ACClient, lists: list[ListUpload], options: RunOptions
) -> UploadOutcomes | State[UploadOutcomes]:
    """With `options.dry_run`, only read: each list's plan. A list without an id (a plan's new list) is planned
    as empty.

    A list that failed makes the step Failed (so the UI shows where the run stopped, and a Retry or a
    resolution runs it again instead of reading a cached failure); its outcomes are the state's data, read with
    `result(raise_on_failure=False)`."""
    shown = UiProgress()
    outcomes = await upload_lists(
        client,
        lists,
        options,
        log=get_run_logger(),
        hold=lambda state: run_lock(state, options),
        on_progress=shown,
        on_verify=shown.verify,
    )
    failed = [o.failure for o in outcomes.lists.values() if o.failure is not None]
    if failed:
        return Failed(message="; ".join(f"{f.sync}: {f.code}" for f in failed), data=outcomes)
    return outcomes


# The same step for a plan: its outcome holds a few emails of each change (for `plan --show`), so it is never
# written to Prefect's result storage, where it would outlive the run (a plan is made again, never continued).
plan_contacts = task(name="upload-contacts", persist_result=False, cache_policy=NO_CACHE)(upload_contacts.fn)
