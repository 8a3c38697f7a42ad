"""The client's errors as typed failures: by their code, with no request of its own."""

from __future__ import annotations

import pytest

from ac_sync.activecampaign.errors import (
    ACError,
    ApiUrlError,
    AuthenticationError,
    KeyRefusedError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnexpectedAnswerError,
    ValidationError,
)
from ac_sync.resolutions.classify import typed_failure, typed_failures
from ac_sync.resolutions.failures import (
    FAILURES,
    ApiUrlInvalid,
    InvalidCredentials,
    ListPermissionDenied,
    MissingPermission,
    PaymentRequired,
    RateLimitExhausted,
    SyncFailure,
)

RIGHT = "add a list (pgListAdd)"


def denied() -> PermissionDeniedError:
    return PermissionDeniedError(
        "POST /api/3/lists: forbidden (403)", right=RIGHT, status=403, method="POST", path="lists"
    )


def test_every_code_of_the_client_has_its_typed_failure() -> None:
    def tree(cls: type[ACError]) -> set[type[ACError]]:
        return {cls}.union(*(tree(sub) for sub in cls.__subclasses__()))

    codes = {cls.code for cls in tree(ACError)} - {None}
    assert codes == {
        "API_URL_INVALID",
        "INVALID_CREDENTIALS",
        "MISSING_PERMISSION",
        "PAYMENT_REQUIRED",
        "RATE_LIMIT_EXHAUSTED",
    }
    assert all(FAILURES[code].code == code for code in codes)


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (KeyRefusedError("GET /api/3/groups: forbidden (403)", status=403), InvalidCredentials),
        (ApiUrlError("GET /api/3/users/me: not found (404)", status=404), ApiUrlInvalid),
        (PaymentRequiredError("GET /api/3/groups: payment required (402)", status=402), PaymentRequired),
        (RateLimitedError("GET /api/3/groups: the account stayed rate-limited"), RateLimitExhausted),
    ],
)
@pytest.mark.parametrize("step", ["validate-credentials", "ensure-list", "upload-contacts"])
def test_a_coded_error_is_its_failure_in_any_step(exc: ACError, failure: type[SyncFailure], step: str) -> None:
    typed = typed_failure(exc, step=step, list_name="VIP")
    assert type(typed) is failure
    assert (typed.message, typed.step, typed.context) == (exc.message, step, {"list_name": "VIP"})


def test_a_missing_right_names_it_and_is_the_lists_in_ensure_list() -> None:
    missing = typed_failure(denied(), step="upload-contacts", list_id=7)
    listed = typed_failure(denied(), step="ensure-list", list_name="VIP")
    assert type(missing) is MissingPermission and missing.context == {"list_id": 7, "right": RIGHT}
    assert type(listed) is ListPermissionDenied and listed.context == {"list_name": "VIP", "right": RIGHT}


@pytest.mark.parametrize(
    "exc",
    [
        ServerError("5xx"),
        TransportError("reset"),
        NotFoundError("404"),
        ValidationError("422"),
        UnexpectedAnswerError("odd"),
        AuthenticationError("403"),  # the client never raises the base: which one it is, it asked who-am-I
    ],
    ids=lambda e: type(e).__name__,
)
def test_what_no_operator_can_fix_is_no_failure(exc: ACError) -> None:
    assert typed_failure(exc, step="upload-contacts") is None


async def test_typed_failures_raises_the_failure_with_what_the_block_added() -> None:
    with pytest.raises(ListPermissionDenied) as info:
        async with typed_failures("ensure-list", None, list_name="VIP") as context:
            context["list_id"] = 7
            raise denied()
    assert info.value.context == {"list_name": "VIP", "list_id": 7, "right": RIGHT}
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_typed_failures_lets_other_errors_pass() -> None:
    with pytest.raises(ServerError):
        async with typed_failures("upload-contacts", None):
            raise ServerError("GET /api/3/groups: server error 502 persisted after 6 attempts")
