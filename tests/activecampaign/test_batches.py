"""The life of a bulk import: what goes on the wire, how it is answered, and a batch the API no longer knows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.client import BULK_MAX_BYTES, bulk_import_body, encode_json
from ac_sync.activecampaign.emulator import EmulatorServer
from ac_sync.activecampaign.errors import (
    BatchNotFoundError,
    NotFoundError,
    UnexpectedAnswerError,
    ValidationError,
)
from ac_sync.activecampaign.models import ImportInfo
from tests.activecampaign.fake_api import RETRY, FakeAPI, example, reply
from tests.activecampaign.test_client import make_client

QUEUED = example("POST /import/bulk_import")
DATE = "Tue, 03 Jun 2025 14:05:09 GMT"


def two() -> list[dict[str, Any]]:
    return [{"email": "a@example.com", "exclude_automations": True}, {"email": "b@example.com"}]


async def test_exclude_automations_reaches_the_wire_both_ways() -> None:
    api = FakeAPI().on("POST", "import/bulk_import", reply(QUEUED))
    async with api.client() as ac:
        assert await ac.bulk_import(two(), exclude_automations=True) == QUEUED["batchId"]
        await ac.bulk_import(two())
    assert api.sent[0].body == {"contacts": two(), "exclude_automations": True}
    assert api.sent[1].body == {"contacts": two(), "exclude_automations": False}


async def test_the_encoded_size_is_what_is_sent() -> None:
    contacts = [{"email": f"ü{i}@example.com", "first_name": "Zoë", "tags": ["a", "b"]} for i in range(250)]
    api = FakeAPI().on("POST", "import/bulk_import", reply(QUEUED))
    async with api.client() as ac:
        await ac.bulk_import(contacts)
    sent = api.sent[0]
    assert sent.raw == encode_json(bulk_import_body(contacts))
    assert int(sent.headers["Content-Length"]) == len(sent.raw) and sent.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "contacts",
    [
        [{"email": f"{i}@example.com"} for i in range(251)],
        [{"email": "a@example.com", "first_name": "x" * BULK_MAX_BYTES}, {"email": "b@example.com"}],
    ],
    ids=["251-contacts", "over-400000-bytes"],
)
async def test_a_bulk_import_over_the_limits_is_not_sent(contacts: list[dict[str, Any]]) -> None:
    api = FakeAPI().on("POST", "import/bulk_import", reply(QUEUED))
    async with api.client() as ac:
        with pytest.raises(ValueError, match="split it"):
            await ac.bulk_import(contacts)
    assert api.sent == []


async def test_an_import_the_api_refuses_in_a_200_is_not_retried() -> None:
    api = FakeAPI().on("POST", "import/bulk_import", reply({"success": 0, "message": "Nope"}))
    async with api.client() as ac:
        with pytest.raises(ValidationError, match="not queued: Nope"):
            await ac.bulk_import(two())
    assert len(api.sent) == 1


@pytest.mark.parametrize(
    "answer",
    [{"success": 1, "queued_contacts": 2}, {"queued_contacts": 2, "batchId": "x"}, {}],
    ids=["no-batch-id", "no-success-flag", "empty-object"],
)
async def test_an_import_answer_without_what_it_needs_is_retried(answer: dict[str, Any]) -> None:
    api = FakeAPI().on("POST", "import/bulk_import", reply(answer), reply({**QUEUED, "Success": "1"}))
    async with api.client() as ac:
        assert await ac.bulk_import(two()) == QUEUED["batchId"]
        assert ac.stats.by_status["unexpected_body"] == 1 and ac.stats.bulk_import == 2


# --- import/info ---------------------------------------------------------------------------------------------


async def test_import_info_carries_the_servers_clock() -> None:
    api = FakeAPI().on("GET", "import/info", reply(example("GET /import/info"), Date=DATE))
    async with api.client() as ac:
        info = await ac.import_status("b-1")
    when = datetime(2025, 6, 3, 14, 5, 9, tzinfo=UTC)
    assert info == ImportInfo(
        status="completed",
        success=(123, 124, 125, 126),
        failure=("invalid.email@invalidDomain", "invalid'character@example.com"),
        server_time=when,
    )
    assert api.sent[0].params == {"batchId": "b-1"}


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (None, None),
        ("not a date", None),
        ("Tue, 03 Jun 2025 14:05:09 -0000", datetime(2025, 6, 3, 14, 5, 9, tzinfo=UTC)),
    ],
    ids=["absent", "unreadable", "no-zone"],
)
async def test_a_missing_or_odd_date_is_no_guess(date: str | None, expected: datetime | None) -> None:
    headers = {"Date": date} if date else {}
    api = FakeAPI().on("GET", "import/info", reply({"status": "active", "success": [], "failure": []}, **headers))
    async with api.client() as ac:
        assert (await ac.import_status("b-1")).server_time == expected


@pytest.mark.parametrize("status", [False, "false", None, ""])
async def test_a_batch_just_submitted_is_submitted(status: Any) -> None:
    api = FakeAPI().on("GET", "import/info", reply({"status": status}))
    async with api.client() as ac:
        info = await ac.import_status("b-1")
    assert info == ImportInfo(status="submitted")


@pytest.mark.parametrize(
    "answer",
    [
        reply({"message": "No Result found for Import with id b-1"}, 404),
        reply({"success": 0, "message": "No import found for batchId b-1."}, 400),
    ],
    ids=["404", "400-no-import-found"],
)
async def test_an_unknown_batch_is_batch_not_found(answer: httpx.Response) -> None:
    api = FakeAPI().on("GET", "import/info", answer)
    async with api.client() as ac:
        with pytest.raises(BatchNotFoundError) as info:
            await ac.import_status("b-1")
    # Callers that caught the 400 as ValidationError keep working.
    assert isinstance(info.value, NotFoundError) and isinstance(info.value, ValidationError)
    assert str(info.value).startswith("GET /api/3/import/info: no batch 'b-1' (")
    assert len(api.sent) == 1


async def test_a_missing_batch_id_is_a_validation_error_only() -> None:
    api = FakeAPI().on("GET", "import/info", reply(example("GET /import/info", "400"), 400))
    async with api.client() as ac:
        with pytest.raises(ValidationError) as info:
            await ac.import_status("")
    assert not isinstance(info.value, BatchNotFoundError)


async def test_an_import_info_without_a_status_is_retried_then_raised() -> None:
    api = FakeAPI().on("GET", "import/info", reply({}))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError, match=r"import/info\.status: Field required"):
            await ac.import_status("b-1")
    assert len(api.sent) == RETRY.max_attempts


async def test_an_unknown_batch_against_the_emulator(emulator: EmulatorServer) -> None:
    async with make_client(emulator) as ac:
        with pytest.raises(BatchNotFoundError):
            await ac.import_status("00000000-0000-0000-0000-000000000000")
        batch_id = await ac.bulk_import([{"email": "a@example.com"}, {"email": "b@example.com"}])
        info = await ac.import_status(batch_id)
    assert info.server_time is not None and info.server_time.tzinfo is not None
