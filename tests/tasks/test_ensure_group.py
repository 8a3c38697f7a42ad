"""ensure-group against an in-process MockTransport: no emulator, no Prefect server, every request counted."""

from __future__ import annotations

import httpx
import pytest
from prefect.logging import disable_run_logger
from pydantic import SecretStr

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.errors import KeyRefusedError
from ac_sync.activecampaign.ratelimit import AccountLimiter, AccountLimits
from ac_sync.engine.errors import InvalidGroupName
from ac_sync.tasks.ensure_group import ensure_group


def groups_api(titles: list[str], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/3/groups":
            groups = [{"title": t, "id": str(i)} for i, t in enumerate(titles, start=3)]
            return httpx.Response(200, json={"groups": groups, "meta": {"total": str(len(groups))}})
        if request.url.path == "/api/3/users/me":
            return httpx.Response(403, content=b"")
        return httpx.Response(404, json={"message": "No Result found"})

    return httpx.MockTransport(handle)


def client_for(transport: httpx.MockTransport) -> ACClient:
    limits = AccountLimits(time_scale=1000)
    return ACClient(
        "https://acme.api-us1.com", SecretStr("k"), limits=limits, limiter=AccountLimiter(limits), transport=transport
    )


async def test_an_exact_title_answers_its_id_in_one_request() -> None:
    seen: list[httpx.Request] = []
    async with client_for(groups_api(["Admin", "Marketing"], seen)) as client:
        with disable_run_logger():
            assert (await ensure_group.fn(client, "Marketing")).id == 4
    assert [(r.method, r.url.path) for r in seen] == [("GET", "/api/3/groups")]


async def test_no_match_is_a_typed_failure_with_close_titles() -> None:
    seen: list[httpx.Request] = []
    async with client_for(groups_api(["Admin", "Marketing"], seen)) as client:
        with disable_run_logger(), pytest.raises(InvalidGroupName) as info:
            await ensure_group.fn(client, "marketing ")
    assert info.value.context["suggestions"] == ["Marketing"]
    assert info.value.context["available_groups"] == ["Admin", "Marketing"]


async def test_a_refused_key_is_invalid_credentials() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=b"")

    async with client_for(httpx.MockTransport(refuse)) as client:
        with disable_run_logger(), pytest.raises(KeyRefusedError) as info:
            await ensure_group.fn(client, "Marketing")
    assert info.value.code == "INVALID_CREDENTIALS" and "forbidden (403)" in info.value.message
