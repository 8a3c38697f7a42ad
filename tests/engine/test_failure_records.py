"""What a run keeps of any failure: the code of a typed one (the client's or the engine's, raised where found out),
else the code of its kind; every typed code has its playbook."""

from __future__ import annotations

import pickle

import pytest

from ac_sync.activecampaign import errors as ac
from ac_sync.engine.errors import (
    SYNC_FAILURES,
    AudienceError,
    ConfigError,
    InvalidGroupName,
    StateError,
    TooManyRemovals,
    record_of,
)
from ac_sync.resolutions.failures import TYPED
from ac_sync.resolutions.playbooks import PLAYBOOKS


def test_every_typed_code_of_both_trees_has_a_playbook() -> None:
    def tree(cls: type[ac.ACError]) -> set[type[ac.ACError]]:
        return {cls}.union(*(tree(sub) for sub in cls.__subclasses__()))

    client_codes = {cls.code for cls in tree(ac.ACError)} - {None}
    assert client_codes == {
        "API_URL_INVALID",
        "INVALID_CREDENTIALS",
        "MISSING_PERMISSION",
        "PAYMENT_REQUIRED",
        "RATE_LIMIT_EXHAUSTED",
    }
    assert set(TYPED) == client_codes | set(SYNC_FAILURES) == set(PLAYBOOKS)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ac.KeyRefusedError("GET /api/3/groups: forbidden (403)", status=403), "INVALID_CREDENTIALS"),
        (ac.ApiUrlError("cannot reach"), "API_URL_INVALID"),
        (ac.PaymentRequiredError("402"), "PAYMENT_REQUIRED"),
        (ac.RateLimitedError("throttled"), "RATE_LIMIT_EXHAUSTED"),
        (InvalidGroupName("no group", group_name="G", suggestions=[]), "INVALID_GROUP_NAME"),
        (TooManyRemovals("too many", removals=40, limit=1), "TOO_MANY_REMOVALS"),
    ],
)
def test_a_typed_error_is_resolvable_by_its_code(exc: Exception, code: str) -> None:
    record = record_of(exc, step="ensure-group", sync="vip", list_name="VIP")
    assert (record.code, record.kind, record.resolvable, record.sync) == (code, "typed", True, "vip")
    assert record.title == TYPED[code]
    assert record.context["list_name"] == "VIP"


def test_a_missing_right_is_named() -> None:
    denied = ac.PermissionDeniedError(
        "POST /api/3/lists: forbidden (403)", right="add a list", method="POST", path="lists"
    )
    record = record_of(denied, step="upload-contacts")
    assert record.code == "MISSING_PERMISSION" and record.context["right"] == "add a list"


@pytest.mark.parametrize(
    ("exc", "code", "kind"),
    [
        (ac.ServerError("500 persisted"), "API_UNAVAILABLE", "transient"),
        (ac.TransportError("reset"), "API_UNAVAILABLE", "transient"),
        (ac.UnexpectedAnswerError("HTML page"), "UNEXPECTED_ANSWER", "error"),
        (ac.ValidationError("refused"), "API_REFUSED", "error"),
        (ac.NotFoundError("404"), "API_REFUSED", "error"),
        (ConfigError("set AC_SYNC_API_URL"), "CONFIG_INVALID", "input"),
        (AudienceError("no email column"), "AUDIENCE_INVALID", "input"),
        (StateError("damaged"), "STATE_DAMAGED", "input"),
        (RuntimeError("boom"), "INTERNAL_ERROR", "error"),
    ],
)
def test_what_no_operator_form_fixes_keeps_its_kind(exc: Exception, code: str, kind: str) -> None:
    record = record_of(exc, step="ensure-list", sync="vip")
    assert (record.code, record.kind, record.resolvable) == (code, kind, False)
    assert record.message and "\n" not in record.message


def test_typed_failures_survive_pickling_with_their_context() -> None:
    again = pickle.loads(pickle.dumps(TooManyRemovals("too many", removals=40, limit=1)))
    assert isinstance(again, TooManyRemovals) and again.context == {"removals": 40, "limit": 1}
