"""Typed failures: the errors an operator can fix, each with a stable code.

A failure carries the run's context (step, list, group, ...) for its playbook; it never carries the API
key, and its message is safe to log, print and store.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SyncFailure(Exception):
    code: ClassVar[str] = "SYNC_FAILURE"
    title: ClassVar[str] = "The sync failed"

    def __init__(self, message: str, *, step: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        self.context = {k: v for k, v in context.items() if v is not None}

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "step": self.step,
            "message": self.message,
            **self.context,
        }


class InvalidCredentials(SyncFailure):
    code = "INVALID_CREDENTIALS"
    title = "ActiveCampaign refused the API key"


class ApiUrlInvalid(SyncFailure):
    code = "API_URL_INVALID"
    title = "The ActiveCampaign API URL is wrong or unreachable"


class PaymentRequired(SyncFailure):
    code = "PAYMENT_REQUIRED"
    title = "ActiveCampaign reports a billing problem (402)"


class InvalidGroupName(SyncFailure):
    code = "INVALID_GROUP_NAME"
    title = "No user group has that name"


class AmbiguousListName(SyncFailure):
    code = "AMBIGUOUS_LIST_NAME"
    title = "Several lists share the list name"


class ListPermissionDenied(SyncFailure):
    code = "LIST_PERMISSION_DENIED"
    title = "The key's user may not create or link the list"


class RateLimitExhausted(SyncFailure):
    code = "RATE_LIMIT_EXHAUSTED"
    title = "The account stayed rate-limited past the retry budget"


class TooManyRemovals(SyncFailure):
    code = "TOO_MANY_REMOVALS"
    title = "The sync would remove more contacts than allowed"


FAILURES: dict[str, type[SyncFailure]] = {
    cls.code: cls
    for cls in (
        InvalidCredentials,
        ApiUrlInvalid,
        PaymentRequired,
        InvalidGroupName,
        AmbiguousListName,
        ListPermissionDenied,
        RateLimitExhausted,
        TooManyRemovals,
    )
}
