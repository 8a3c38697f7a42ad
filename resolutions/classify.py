"""Turn the client's error classes into the typed failures an operator can fix."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.errors import ACError, PermissionDeniedError
from ac_sync.resolutions.failures import FAILURES, ListPermissionDenied, SyncFailure


def typed_failure(exc: ACError, *, step: str, **context: Any) -> SyncFailure | None:
    """The typed failure `exc` stands for in `step` (the one with its code), or None when no operator action can
    fix it. The client told a refused key from a missing right already (it asked who-am-I)."""
    if exc.code is None:
        return None
    if isinstance(exc, PermissionDeniedError):
        denied = ListPermissionDenied if step == "ensure-list" else FAILURES[exc.code]
        return denied(exc.message, step=step, right=exc.right, **context)
    return FAILURES[exc.code](exc.message, step=step, **context)


@contextlib.asynccontextmanager
async def typed_failures(step: str, client: ACClient | None = None, **context: Any) -> AsyncIterator[dict[str, Any]]:
    """Raise the client's errors inside the block as `step`'s typed failure (others pass unchanged).

    The block may add to the yielded context (a list id found on the way) for the failure's playbook. `client`
    is asked nothing any more (the client's own errors say what failed); it stays for the callers that pass it.
    """
    try:
        yield context
    except ACError as exc:
        failure = typed_failure(exc, step=step, **context)
        raise (failure or exc) from None
