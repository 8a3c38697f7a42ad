"""Pausing and suspending the running flow for a form, as Prefect's `apause_flow_run` and `asuspend_flow_run` do,
with one difference: the Paused (or Suspended) state carries a message, the failure and its fix in a line, which
the run's page in the Prefect UI shows at its top. Prefect's own functions propose the state without one, and
changing the state after it is proposed would race an operator who resumes the run at once.
"""

from __future__ import annotations

from typing import TypeVar

import anyio
from prefect._flow_run_suspension import mark_flow_run_suspension_requested
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import Abort, FlowPauseTimeout, Pause
from prefect.input import RunInput, keyset_from_paused_state
from prefect.states import Paused, State, Suspended
from prefect.utilities.engine import propose_state

R = TypeVar("R", bound=RunInput)


async def _propose(state: State, form: type[R]) -> tuple[State, R | None]:
    """Propose the pause with its form's keys; answers the server's state, and the input if the run was resumed
    already (a suspension this run has been through)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("only a running flow can pause")
    keyset = keyset_from_paused_state(state)
    state.state_details.run_input_keyset = keyset
    async with get_client() as client:
        try:
            answered = await propose_state(client=client, state=state, flow_run_id=context.flow_run.id)
        except Abort as exc:
            raise RuntimeError(f"Flow run cannot be paused: {exc}") from None
    if answered.is_running():
        return answered, await form.aload(keyset)
    if not answered.is_paused():
        raise RuntimeError(f"Flow run cannot be paused. Received non-paused state from API: {answered}")
    await form.asave(keyset)
    return answered, None


async def pause_for(form: type[R], *, timeout_s: int, poll_s: float, key: str, message: str) -> R:
    """Block, paused, until the form is answered; FlowPauseTimeout when nobody answers within `timeout_s`."""
    state, answer = await _propose(Paused(timeout_seconds=timeout_s, pause_key=key, message=message), form)
    if answer is not None:
        return answer
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    keyset = state.state_details.run_input_keyset
    assert keyset is not None
    async with get_client() as client:
        with anyio.move_on_after(timeout_s):
            while True:
                await anyio.sleep(poll_s)
                run = await client.read_flow_run(context.flow_run.id)
                if run.state and run.state.is_running():
                    return await form.aload(keyset)
        run = await client.read_flow_run(context.flow_run.id)
        if run.state and run.state.is_running():
            return await form.aload(keyset)
    raise FlowPauseTimeout("Flow run was paused and never resumed.")


async def suspend_for(form: type[R], *, timeout_s: int, key: str, message: str) -> R:
    """A deployment's run: the process exits (Pause) and frees its worker; once resumed, a worker runs the flow
    again, and the same call, with the same key, answers the operator's form."""
    state, answer = await _propose(Suspended(timeout_seconds=timeout_s, pause_key=key, message=message), form)
    if answer is not None:
        return answer
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    mark_flow_run_suspension_requested(context.flow_run.id, state)
    raise Pause(state=state)
