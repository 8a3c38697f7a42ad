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
    code, title = "INVALID_CREDENTIALS", "ActiveCampaign refused the API key"


class ApiUrlInvalid(SyncFailure):
    code, title = "API_URL_INVALID", "The ActiveCampaign API URL is wrong or unreachable"


class PaymentRequired(SyncFailure):
    code, title = "PAYMENT_REQUIRED", "ActiveCampaign reports a billing problem (402)"


class InvalidGroupName(SyncFailure):
    code, title = "INVALID_GROUP_NAME", "No user group has that name"


class AmbiguousListName(SyncFailure):
    code, title = "AMBIGUOUS_LIST_NAME", "Several lists share the list name"


class ListPermissionDenied(SyncFailure):
    code, title = "LIST_PERMISSION_DENIED", "The key's user may not create or link the list"


class StateMismatchFailure(SyncFailure):
    code, title = "STATE_MISMATCH", "The sync state was written for another list"


class ListGoneFailure(SyncFailure):
    code, title = "LIST_GONE", "The list was deleted or replaced while the sync ran"


class MissingPermission(SyncFailure):
    code, title = "MISSING_PERMISSION", "The key's user lacks a permission this sync needs"


class RateLimitExhausted(SyncFailure):
    code, title = "RATE_LIMIT_EXHAUSTED", "The account stayed rate-limited past the retry budget"


class AmbiguousField(SyncFailure):
    code, title = "AMBIGUOUS_FIELD", "Several custom fields match one column"


class UnknownField(SyncFailure):
    code, title = "UNKNOWN_FIELD", "A column is mapped to a custom field that does not exist"


class TooManyRemovals(SyncFailure):
    code, title = "TOO_MANY_REMOVALS", "The sync would remove more contacts than allowed"


FAILURES: dict[str, type[SyncFailure]] = {cls.code: cls for cls in SyncFailure.__subclasses__()}
