"""Turn the client's error classes into the typed failures an operator can fix."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.errors import (
    ACError,
    ApiUrlError,
    AuthenticationError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitedError,
    TransportError,
)
from ac_sync.resolutions.failures import (
    ApiUrlInvalid,
    InvalidCredentials,
    ListPermissionDenied,
    MissingPermission,
    PaymentRequired,
    RateLimitExhausted,
    SyncFailure,
)

# What a refused request needed, in the operator's words, by (method, path prefix); the first match wins.
RIGHTS: list[tuple[str, str, str]] = [
    ("GET", "groups", "read the user groups (only the Admin group may)"),
    ("POST", "groups", "add a user group"),
    ("GET", "users", "read the users (only the Admin group may)"),
    ("GET", "groupLimits", "read the user groups' limits"),
    ("POST", "lists", "add a list (pgListAdd)"),
    ("POST", "listGroups", "link a list to a group (pgListEdit)"),
    ("POST", "import/bulk_import", "import contacts (pgContactImport)"),
    ("POST", "contact/sync", "add or edit contacts (pgContactAdd, pgContactEdit)"),
    ("POST", "contactLists", "subscribe or unsubscribe contacts (pgContactEdit)"),
    ("*", "contactTags", "tag contacts (pgContactEdit)"),
    ("*", "field", "read or change custom fields (pgContactFields)"),
    ("GET", "contacts", "read contacts"),
    ("GET", "lists", "see the list (its group must be linked to it)"),
]


def right_needed(exc: ACError) -> str:
    path = (exc.path or "").lstrip("/")
    for method, prefix, right in RIGHTS:
        if method in ("*", exc.method) and path.startswith(prefix):
            return right
    return f"do {exc.method} /api/3/{path}"


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
        # INVALID_CREDENTIALS only when who-am-I itself refuses the key; any other 403 of a valid key is a
        # missing right (a rotated key makes who-am-I refuse too).
        if (exc.path or "").lstrip("/") == "users/me" or not await _key_still_valid(client):
            return InvalidCredentials(msg, step=step, **context)
        if step == "ensure-list":
            return ListPermissionDenied(msg, step=step, right=right_needed(exc), **context)
        return MissingPermission(msg, step=step, right=right_needed(exc), **context)
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
