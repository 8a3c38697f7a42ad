"""Turn the client's error classes into the typed failures an operator can fix."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from activecampaign.client import ACClient
from activecampaign.errors import (
    ACError,
    ApiUrlError,
    AuthenticationError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitedError,
    TransportError,
)
from resolutions.failures import (
    ApiUrlInvalid,
    InvalidCredentials,
    ListPermissionDenied,
    PaymentRequired,
    RateLimitExhausted,
    SyncFailure,
)


async def _key_still_valid(client: ACClient) -> bool:
    try:
        await client.me()
    except AuthenticationError:
        return False
    except ACError:
        return True  # some other trouble: do not blame the key for it
    return True


async def typed_failure(exc: ACError, *, step: str, client: ACClient, **context: Any) -> SyncFailure | None:
    """The typed failure `exc` stands for in `step`, or None when no operator action can fix it."""
    msg = exc.message
    if isinstance(exc, PaymentRequiredError):
        return PaymentRequired(msg, step=step, **context)
    if isinstance(exc, RateLimitedError):
        return RateLimitExhausted(msg, step=step, **context)
    if isinstance(exc, AuthenticationError):
        # A 403 after the credential check passed is either a rotated key or a missing permission.
        if step == "validate-credentials" or not await _key_still_valid(client):
            return InvalidCredentials(msg, step=step, **context)
        if step == "ensure-list":
            return ListPermissionDenied(msg, step=step, **context)
        return InvalidCredentials(msg, step=step, **context)
    if isinstance(exc, ApiUrlError) or (
        step == "validate-credentials" and isinstance(exc, NotFoundError | TransportError)
    ):
        return ApiUrlInvalid(msg, step=step, **context)
    return None


@contextlib.asynccontextmanager
async def typed_failures(step: str, client: ACClient, **context: Any) -> AsyncIterator[dict[str, Any]]:
    """Raise the client's errors inside the block as `step`'s typed failure (others pass unchanged).

    The block may add to the yielded context (a list id found on the way) for the failure's playbook.
    """
    try:
        yield context
    except ACError as exc:
        failure = await typed_failure(exc, step=step, client=client, **context)
        raise (failure or exc) from None
