"""Cache keys for the steps: scoped to the flow run, built on business inputs, never on objects or code.

A Prefect UI Retry re-runs the whole flow under the same flow-run id: with these keys the completed steps
come back `Cached`. A fresh run has a new id and re-runs them (they are idempotent reads or find-or-create).
The task's source is left out so that a code fix does not redo completed work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from prefect.context import TaskRunContext


def run_scoped(step: str, *param_names: str) -> Callable[[TaskRunContext, dict[str, Any]], str | None]:
    def key(ctx: TaskRunContext, params: dict[str, Any]) -> str | None:
        run_id = ctx.task_run.flow_run_id
        if run_id is None:
            return None
        parts = [str(run_id), step, *(repr(params.get(name)) for name in param_names)]
        return f"ac-sync-{step}-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    return key
