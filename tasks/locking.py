"""The list lock a step holds while it reads and writes a list's sync state: one run per list at a time.

The owner is the flow run, so the steps of one run (ensure-list, then upload-contacts) and a Retry of it join
the lock they hold instead of waiting on themselves.
"""

from __future__ import annotations

import os

from prefect.runtime import flow_run

from ac_sync.engine.syncs import RunOptions
from ac_sync.engine.upload.lock import ListLock
from ac_sync.engine.upload.state import SyncState


def run_lock(state: SyncState, options: RunOptions) -> ListLock:
    owner = f"flow run {flow_run.id}" if flow_run.id else f"process {os.getpid()}"
    return ListLock(state, wait_s=options.lock_wait_s, owner=owner)
