"""What the flow does on a typed failure: playbook artifact, alert event, then wait for a resolution.

The paused (or suspended) run's state says the failure and its fix in one line, so that the run's page in the
Prefect UI leads to the playbook without a search.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.exceptions import FlowPauseTimeout
from prefect.input.actions import acreate_flow_run_input, aread_flow_run_input
from prefect.input.run_input import keyset_from_paused_state
from prefect.runtime import deployment, flow_run
from prefect.states import Suspended

from ac_sync.engine.errors import FailureRecord
from ac_sync.engine.progress import Paused, launch, publish
from ac_sync.engine.settings import SyncSettings
from ac_sync.resolutions.actions import Action
from ac_sync.resolutions.forms import check, form_for
from ac_sync.resolutions.pausing import pause_for, suspend_for
from ac_sync.resolutions.playbooks import PLAYBOOKS, Where, render, resolve_command, suggested

EVENT_PREFIX = "ac-sync.failure"


@dataclass(frozen=True)
class Resolution:
    action: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def of(self, failure: FailureRecord) -> Action:
        """The action this resolution chose, with its effect."""
        found = PLAYBOOKS[failure.code].action(self.action)
        assert found is not None, f"{self.action!r} is no action of {failure.code}"
        return found


class NotResolved(Exception):
    """Nobody resolved the failure (no wait, the wait ran out, or the operator aborted): the sync stops with it."""

    quiet_traceback = True

    def __init__(self, failure: FailureRecord) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _stopped(failure: FailureRecord, why: str) -> NotResolved:
    """The same typed failure, its message saying why the run stops and how to continue."""
    if deployment.id is not None:
        how = "press Retry on this run in the Prefect UI"
    elif launch().command:
        how = "run the same `ac-sync run` command again"
    else:
        how = "start the run again the way it was started"
    message = (
        f"{failure.message} — {why}. Fix the cause, then {how}; completed steps and confirmed batches are not "
        f"redone ({failure.code})."
    )
    return NotResolved(failure.model_copy(update={"message": message}))


def where(deadline: datetime | None = None) -> Where:
    """The run this flow is executing, for advice that fits it: a deployment's, or one a command started."""
    from prefect.settings import PREFECT_UI_URL

    if deployment.id is not None:
        ui = PREFECT_UI_URL.value()
        page = f"{str(ui).rstrip('/')}/runs/flow-run/{flow_run.id}" if ui else None
        return Where(deployment=True, ui_url=page, deadline=deadline)
    started = launch()
    page = f"{started.ui_url.rstrip('/')}/runs/flow-run/{flow_run.id}" if started.ui_url else None
    return Where(ui_url=page, command=started.command, deadline=deadline)


def artifact_key(code: str, sync: str | None = None) -> str:
    base = "playbook-" + code.lower().replace("_", "-")
    return f"{base}-{re.sub(r'[^a-z0-9]+', '-', sync.lower()).strip('-')}" if sync else base


def pause_line(failure: FailureRecord, run_id: str) -> str:
    """The paused state's message: the failure, the fix, the command and where the playbook is, in one line."""
    suggestion = suggested(failure)
    book = PLAYBOOKS[failure.code]
    action = book.action(str(suggestion.get("action"))) or book.actions[0]
    command = resolve_command(run_id, action, {k: v for k, v in suggestion.items() if k != "action"})
    which = f" (sync {failure.sync})" if failure.sync else ""
    return (
        f"{failure.code}{which} in step {failure.step}: {failure.message.rstrip('.')}. Fix it, then: {command}"
        f" — the playbook is the artifact {artifact_key(failure.code, failure.sync)}"
    )


def pause_key(code: str, suffix: str) -> str:
    # Prefect keys take lowercase letters, digits and dashes; the code is recoverable with code_of_pause_key.
    return f"{code.lower().replace('_', '-')}--{suffix}"


def code_of_pause_key(key: str) -> str:
    return key.split("--", 1)[0].upper().replace("-", "_")


# Occurrences of each (failure, step) in this execution of a flow run, for suspension keys.
_occurrences: dict[str, dict[str, int]] = {}


def begin_execution() -> None:
    """Called as a flow run starts executing (again): its suspension keys are counted afresh."""
    _occurrences.pop(str(flow_run.id), None)


async def _suspend_key(failure: FailureRecord) -> str:
    """A key that is the same when a resumed run re-executes up to the same failure, so Prefect hands it the
    operator's answer, and new once an answer was used up by an abort, or once a suspension expired unanswered
    (so a later Retry asks again)."""
    counts = _occurrences.setdefault(str(flow_run.id), {})
    base = f"{failure.step}-{failure.code.lower().replace('_', '-')}"
    n = counts.get(base, 0)
    while True:
        n += 1
        key = pause_key(failure.code, f"{failure.step}-{n}")
        if await aread_flow_run_input(f"consumed-{key}") is not None:
            continue
        # Prefect refuses a key this run already suspended with and hands back that suspension's answer: one
        # that expired unanswered would give an empty form.
        keys = keyset_from_paused_state(Suspended(pause_key=key))
        asked = await aread_flow_run_input(keys["schema"]) is not None
        if not asked or await aread_flow_run_input(keys["response"]) is not None:
            break
    counts[base] = n
    return key


def _suspending() -> bool:
    return deployment.id is not None and SyncSettings().suspend


async def _answered(key: str) -> bool:
    keys = keyset_from_paused_state(Suspended(pause_key=key))
    return await aread_flow_run_input(keys["response"]) is not None


async def await_resolution(failure: FailureRecord, *, timeout_s: int, poll_s: int = 1) -> Resolution:
    """Publish the failure and wait for an operator's resolution; raise the failure if none comes."""
    log = get_run_logger()
    run_id = str(flow_run.id)
    waiting = timeout_s > 0
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s) if waiting else None
    playbook = render(failure, run_id, paused=waiting, where=where(deadline))
    suspending = waiting and _suspending()
    key = await _suspend_key(failure) if suspending else None
    # A resumed deployment run re-executes up to the same failure with the operator's answer already stored:
    # it was announced before the suspension, so no second artifact, alert or notice.
    if key is None or not await _answered(key):
        await create_markdown_artifact(
            playbook, key=artifact_key(failure.code, failure.sync), description=failure.title
        )
        emit_event(
            event=f"{EVENT_PREFIX}.{failure.code}",
            resource={"prefect.resource.id": f"ac-sync.flow-run.{run_id}", "ac-sync.code": failure.code},
            related=[{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}],
            payload={"code": failure.code, "step": failure.step, "message": failure.message, "waiting": waiting},
        )
        log.error("%s in step %s: %s", failure.code, failure.step, failure.message)
        publish(Paused(failure.code, run_id, playbook, waiting, deadline, failure.title))
    if not waiting:
        raise _stopped(failure, "the run does not wait for a resolution (pause timeout 0)")
    form = form_for(failure.code, suggested(failure)).with_initial_data(description=playbook)
    line = pause_line(failure, run_id)
    while True:
        try:
            if key is not None:
                # A deployment run: the process exits and frees its worker; once resumed, a worker re-runs the
                # flow, completed steps come back cached, and this call answers the operator's form.
                answer = await suspend_for(form, timeout_s=timeout_s, key=key, message=line)
            else:
                # A fresh key per pause: Prefect treats a repeated key as "already resumed" and would replay
                # an old answer on a Retry of this run.
                answer = await pause_for(
                    form,
                    timeout_s=timeout_s,
                    poll_s=poll_s,
                    key=pause_key(failure.code, uuid.uuid4().hex),
                    message=line,
                )
        except FlowPauseTimeout:
            raise _stopped(failure, f"nobody resolved it within {timeout_s} s") from None
        data = answer.model_dump() if answer is not None else {}
        problem = check(failure.code, data)
        if problem is None:
            break
        log.warning("Resolution refused (%s); waiting for another one", problem)
        if suspending:
            key = await _suspend_key(failure)
    action = str(data.pop("action"))
    log.info("Resolution for %s: %s %s", failure.code, action, {k: v for k, v in data.items() if v is not None})
    if action == "abort":
        if key is not None:
            await acreate_flow_run_input(f"consumed-{key}", True)
        raise _stopped(failure, "the operator aborted the run")
    return Resolution(action, {k: v for k, v in data.items() if v is not None})
