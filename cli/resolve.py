"""`ac-sync resolve`: answer a paused run's resolution form from any process that reaches its Prefect API."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.flow_runs import aresume_flow_run

from ac_sync.engine.errors import ConfigError
from ac_sync.resolutions.forms import INPUT_FIELDS, check, inputs_of
from ac_sync.resolutions.pause import code_of_pause_key
from ac_sync.resolutions.playbooks import PLAYBOOKS

PAUSING_S = 15.0  # how long a running run may take to reach its pause


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in INPUT_FIELDS:
            raise ConfigError(f"--set takes KEY=VALUE with KEY one of {', '.join(INPUT_FIELDS)}; got {pair!r}")
        if key == "list_id":
            try:
                out[key] = int(value)
            except ValueError:
                raise ConfigError(f"list_id must be a whole number, got {value!r}") from None
        else:
            out[key] = value
    return out


def precheck(flow_run_id: str, action: str, sets: list[str]) -> None:
    """What can be refused before reaching the Prefect API: the id's form, the action, its inputs."""
    try:
        UUID(flow_run_id)
    except ValueError:
        raise ConfigError(f"{flow_run_id!r} is not a flow-run id") from None
    needs = inputs_of(action)
    if needs is None:
        known = sorted({a.name for book in PLAYBOOKS.values() for a in book.actions})
        raise ConfigError(f"no playbook offers the action {action!r}; actions: {', '.join(known)}")
    given = parse_sets(sets)
    missing = [name for name in needs if given.get(name) in (None, "")]
    if missing:
        raise ConfigError(f"action {action!r} needs " + ", ".join(f"--set {m}=..." for m in missing))


async def paused_code(flow_run_id: UUID) -> str:
    """The failure code a run is paused on (from its pause key), or a ConfigError saying why not."""
    async with get_client() as client:
        deadline = time.monotonic() + PAUSING_S
        while True:
            try:
                run = await client.read_flow_run(flow_run_id)
            except Exception as exc:  # the API's not-found and connection errors alike end the command
                raise ConfigError(f"cannot read flow run {flow_run_id}: {type(exc).__name__}: {exc}") from None
            # The playbook is printed just before the run proposes its pause: one resolved at once waits for it.
            if not (run.state and run.state.is_running()) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    state = run.state
    if state is None or not state.is_paused():
        raise ConfigError(f"flow run {flow_run_id} is not paused (it is {state.name if state else 'unknown'})")
    code = code_of_pause_key(str(state.state_details.pause_key or ""))
    if code not in PLAYBOOKS:
        raise ConfigError(f"flow run {flow_run_id} is paused, but not on an ac-sync failure")
    return code


async def resolve(flow_run_id: str, action: str, sets: list[str]) -> str:
    """Validate the resolution against the paused failure's playbook and resume the run with it."""
    try:
        run_id = UUID(flow_run_id)
    except ValueError:
        raise ConfigError(f"{flow_run_id!r} is not a flow-run id") from None
    code = await paused_code(run_id)
    data = {"action": action, **parse_sets(sets)}
    problem = check(code, data)
    if problem:
        raise ConfigError(f"{code}: {problem}")
    try:
        await aresume_flow_run(run_id, run_input=data)
    except RuntimeError as exc:  # the server refused the form (schema) or the run moved on meanwhile
        raise ConfigError(f"{code}: {exc}") from None
    return code
