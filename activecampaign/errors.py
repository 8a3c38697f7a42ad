"""Exceptions of the ActiveCampaign boundary, one per failure class.

    ACError                     anything the client raises (method, path, status and parsed body attached)
    ├── ApiUrlError             the base URL is unusable: malformed, plain HTTP, unreachable, not the API
    ├── AuthenticationError     403: the key is refused, or lacks a permission for this call
    ├── PaymentRequiredError    402: the account has a billing problem
    ├── NotFoundError           404 on a resource path
    │   └── BatchNotFoundError  import/info: no such batchId (404, or the 400 "No import found..."); also a
    │                           ValidationError, the class callers written before it catch for that answer
    ├── ValidationError         400/422 that is no rate limit: the request itself was refused
    ├── RateLimitedError        throttled (429, 503 at the limit, bulk "Rate limit exceeded.") past the budget
    ├── ServerError             5xx past the retry budget
    ├── TransportError          connection refused, reset or timed out past the retry budget
    └── UnexpectedAnswerError   a 2xx answer that is not what the operation needs (not JSON, keys missing,
                                a filter ignored), past the retry budget; or pages short of meta.total

None of them ever carries the API key: messages are built from the method, the path and a short,
sanitised excerpt of the response body only.
"""

from __future__ import annotations

from typing import Any


class ACError(Exception):
    """Base class of every error the client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.body = body

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}" if self.method else ""


class ApiUrlError(ACError):
    """The base URL is unusable: malformed, plain HTTP to a remote host, unreachable, or not an API."""


class AuthenticationError(ACError):
    """403: the key is missing, invalid, revoked, or lacks permission for this call."""


class PaymentRequiredError(ACError):
    """402: the account has a billing problem."""


class NotFoundError(ACError):
    """404 on a resource path."""


class ValidationError(ACError):
    """400/422 that is not a rate limit: the request itself was refused and must not be retried as is."""

    @property
    def failure_indices(self) -> list[int]:
        """Indices of the contacts a bulk import named as badly formatted."""
        reasons = self.body.get("failureReasons") if isinstance(self.body, dict) else None
        out: list[int] = []
        for item in reasons or []:
            if isinstance(item, dict) and "contact" in item:
                try:
                    out.append(int(item["contact"]))
                except (TypeError, ValueError):
                    continue
        return out


class BatchNotFoundError(NotFoundError, ValidationError):
    """import/info knows no such batchId: unknown, or expired from ActiveCampaign's retention.

    Answered as 404, or as 400 `{"success": 0, "message": "No import found..."}`, which callers written before
    this class catch as ValidationError: it is both, so that they keep working until they catch this one.
    """


class RateLimitedError(ACError):
    """The account stayed throttled (429, 503 at the limit, or bulk "Rate limit exceeded.") past the retry budget."""


class ServerError(ACError):
    """5xx that persisted past the retry budget."""


class TransportError(ACError):
    """Connection refused/reset or timed out past the retry budget."""


class UnexpectedAnswerError(ACError):
    """A 2xx answer that is not what the operation needs: an HTML page, an empty body, JSON without the keys
    the operation reads, a filter the API did not apply; or list pages that repeat themselves short of
    `meta.total`.

    Raised past the retry budget, or at once where a retry is unsafe (a create the first attempt may have
    done). Never to be read as "nothing there": a lookup that did not answer found nothing out.
    """
