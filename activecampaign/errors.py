"""Exceptions of the ActiveCampaign boundary, one per failure class.

    ACError                        anything the client raises (method, path, status and parsed body attached)
    ├── ApiUrlError                the base URL is unusable: malformed, plain HTTP, unreachable, not the API;
    │                              also who-am-I answering 404 or nothing                      [API_URL_INVALID]
    ├── AuthenticationError        403: the key is refused, or lacks a permission for this call
    │   ├── KeyRefusedError        the key itself: a 403 on users/me, or a 403 after which users/me refuses
    │   │                          it too (a key rotated mid-run)                          [INVALID_CREDENTIALS]
    │   └── PermissionDeniedError  a valid key whose user lacks the right (`right`) for this call
    │                                                                                       [MISSING_PERMISSION]
    ├── PaymentRequiredError       402: the account has a billing problem                     [PAYMENT_REQUIRED]
    ├── NotFoundError              404 on a resource path
    │   └── BatchNotFoundError     import/info: no such batchId (404, or the 400 "No import found..."); also a
    │                              ValidationError, the class callers written before it catch for that answer
    ├── ValidationError            400/422 that is no rate limit: the request itself was refused
    ├── RateLimitedError           throttled (429, 503 at the limit, bulk "Rate limit exceeded.") past the
    │                              budget                                        [transient, RATE_LIMIT_EXHAUSTED]
    ├── ServerError                5xx past the retry budget                                           [transient]
    ├── TransportError             connection reset or timed out past the retry budget                 [transient]
    └── UnexpectedAnswerError      a 2xx answer that is not what the operation needs (not JSON, keys missing,
        │                          a filter ignored), past the retry budget; or pages short of meta.total
        └── UnconfirmedWriteError  a create whose answer could not be read (or never came) and whose result a
                                   lookup did not find, past the retry budget: it may still appear [transient]

Each class says what kind of failure it is (in brackets above): `transient`, true when the same request would
succeed later without anyone changing anything; and `code`, the stable code of the failure an operator can fix
(the typed failure of `ac_sync.resolutions.failures` with that code), or None.

None of them ever carries the API key: messages are built from the method, the path and a short,
sanitised excerpt of the response body only.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ACError(Exception):
    """Base class of every error the client raises."""

    # Each is a typed failure with its playbook, or a kind of failure with its advice: no traceback for it.
    quiet_traceback: ClassVar[bool] = True
    transient: ClassVar[bool] = False
    code: ClassVar[str | None] = None
    title: ClassVar[str | None] = None  # the failure's title, where it has a code

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

    @property
    def context(self) -> dict[str, Any]:
        """What a playbook may show of the failed request: never the key, nor the body (it may hold contacts)."""
        shown = {"method": self.method, "path": self.path, "status": self.status}
        return {k: v for k, v in shown.items() if v is not None}

    def __reduce__(self) -> tuple[Any, ...]:
        # The keywords are no part of `args`: without this, an unpickled error (Prefect may keep a failed task's)
        # would lose them, and one that requires a keyword would not unpickle at all.
        return _rebuilt, (type(self), self.message, self.__dict__)


def _rebuilt(cls: type[ACError], message: str, state: dict[str, Any]) -> ACError:
    exc = cls.__new__(cls, message)
    exc.__dict__.update(state)
    return exc


class ApiUrlError(ACError):
    """The base URL is unusable: malformed, plain HTTP to a remote host, unreachable, or not an API."""

    transient = False
    code = "API_URL_INVALID"
    title = "The ActiveCampaign API URL is wrong or unreachable"


class AuthenticationError(ACError):
    """403: the key is missing, invalid, revoked, or lacks permission for this call; the subclasses say which."""

    transient = False
    code = None


class KeyRefusedError(AuthenticationError):
    """The key itself is refused: missing, invalid, revoked or rotated."""

    transient = False
    code = "INVALID_CREDENTIALS"
    title = "ActiveCampaign refused the API key"


class PermissionDeniedError(AuthenticationError):
    """A valid key whose user lacks the right for this call; `right` names it in the operator's words."""

    transient = False
    code = "MISSING_PERMISSION"
    title = "The key's user lacks a permission this sync needs"

    def __init__(self, message: str, *, right: str, **attached: Any) -> None:
        super().__init__(message, **attached)
        self.right = right

    @property
    def context(self) -> dict[str, Any]:
        return {**super().context, "right": self.right}


class PaymentRequiredError(ACError):
    """402: the account has a billing problem."""

    transient = False
    code = "PAYMENT_REQUIRED"
    title = "ActiveCampaign reports a billing problem (402)"


class NotFoundError(ACError):
    """404 on a resource path."""

    transient = False
    code = None


class ValidationError(ACError):
    """400/422 that is not a rate limit: the request itself was refused and must not be retried as is."""

    transient = False
    code = None

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

    transient = False
    code = None


class RateLimitedError(ACError):
    """The account stayed throttled (429, 503 at the limit, or bulk "Rate limit exceeded.") past the retry budget."""

    transient = True
    code = "RATE_LIMIT_EXHAUSTED"
    title = "The account stayed rate-limited past the retry budget"


class ServerError(ACError):
    """5xx that persisted past the retry budget."""

    transient = True
    code = None


class TransportError(ACError):
    """Connection reset or timed out past the retry budget (a connection refused is an ApiUrlError)."""

    transient = True
    code = None


class UnexpectedAnswerError(ACError):
    """A 2xx answer that is not what the operation needs: an HTML page, an empty body, JSON without the keys
    the operation reads, a filter the API did not apply; or list pages that repeat themselves short of
    `meta.total`.

    Raised past the retry budget, or at once where a retry is unsafe (a create the first attempt may have
    done). Never to be read as "nothing there": a lookup that did not answer found nothing out.
    """

    transient = False
    code = None


class UnconfirmedWriteError(UnexpectedAnswerError):
    """A create (a list, a group, a field, its options or relation, a tag) whose answer could not be read — an
    HTML page, an empty body, JSON without the object, a 5xx, a lost connection or a timeout, any of which may
    come after the write acted — and whose result the lookup made before each retry did not find. It may still
    appear: the next run looks for it again before creating it."""

    transient = True
    code = None
