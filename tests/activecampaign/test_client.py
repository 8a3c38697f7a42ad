"""The ActiveCampaign client against the emulator over loopback HTTP: shaping, retries, unknown variants."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from ac_sync.activecampaign.client import ACClient, RetryPolicy
from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorServer
from ac_sync.activecampaign.errors import (
    ApiUrlError,
    AuthenticationError,
    PaymentRequiredError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from ac_sync.activecampaign.models import MailingList
from ac_sync.activecampaign.ratelimit import AccountLimiter, AccountLimits, Kind
from ac_sync.activecampaign.urls import normalise_base_url

CANARY = "canary-key-3f9c1e7b"
FAST_RETRY = RetryPolicy(backoff_base_s=0.01, backoff_max_s=0.05, bulk_rate_backoff_s=0.05)


def make_client(emu: EmulatorServer, *, key: str | None = None, time_scale: float = 1.0, **kw: Any) -> ACClient:
    limits = AccountLimits(time_scale=time_scale)
    # A fresh limiter per test: the process-wide registry would carry one test's budget into the next.
    return ACClient(
        emu.base_url,
        SecretStr(key or emu.api_key),
        limits=limits,
        limiter=AccountLimiter(limits),
        retry=kw.pop("retry", FAST_RETRY),
        **kw,
    )


def with_option(name: str, *values: Any) -> pytest.MarkDecorator:
    """Run the test once per value of the emulator option `name`: the account the `emulator` fixture resets to
    (a parameter named like a fixture stands in for it)."""
    configs = [EmulatorConfig(**{name: value}) for value in values]
    return pytest.mark.parametrize("emulator_config", configs, ids=[str(value) for value in values])


async def new_list(ac: ACClient, name: str) -> MailingList:
    """A list made through the client, with the sender details every new list needs."""
    stringid = name.lower().replace(" ", "-")
    return await ac.create_list(name=name, stringid=stringid, sender_url="https://x.example", sender_reminder="r")


def requests_log(admin: httpx.Client) -> list[dict[str, Any]]:
    return admin.get("/requests").json()


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u < t + window) for i, t in enumerate(times)), default=0)


def faults(admin: httpx.Client, *rules: dict[str, Any]) -> None:
    admin.post("/faults", json={"rules": list(rules)}).raise_for_status()


# --- base URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.api-us1.com", "https://acme.api-us1.com/api/3"),
        ("https://acme.api-us1.com/", "https://acme.api-us1.com/api/3"),
        ("https://acme.api-us1.com/api/3", "https://acme.api-us1.com/api/3"),
        ("https://acme.api-us1.com/api/3/", "https://acme.api-us1.com/api/3"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/3"),
        ("http://localhost:9/api/3", "http://localhost:9/api/3"),
    ],
)
def test_base_url_normalised(url: str, expected: str) -> None:
    assert normalise_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.api-us1.com",
        "acme.api-us1.com",
        "",
        "https://u:p@acme.api-us1.com",
        "https://acme.com/app",
    ],
)
def test_bad_base_urls_refused(url: str) -> None:
    with pytest.raises(ApiUrlError):
        normalise_base_url(url)


# --- authentication and error classes ---------------------------------------------------------------


@with_option("forbidden_body", "empty", "json")
async def test_403_is_authentication_error_without_the_key(
    emulator: EmulatorServer, emulator_admin: httpx.Client
) -> None:
    async with make_client(emulator, key=CANARY) as ac:
        with pytest.raises(AuthenticationError) as info:
            await ac.me()
    assert info.value.status == 403
    assert CANARY not in str(info.value) and CANARY not in repr(info.value.body)
    # Never retried: exactly one request reached the emulator.
    assert [r["status"] for r in requests_log(emulator_admin)] == [403]


async def test_402_is_payment_required_and_not_retried(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    faults(
        emulator_admin,
        {"method": "*", "path": "^/api/3/users/me$", "status": 402, "body": {"message": "Pay"}},
    )
    async with make_client(emulator) as ac:
        with pytest.raises(PaymentRequiredError):
            await ac.me()
    assert len(requests_log(emulator_admin)) == 1


async def test_unreachable_host_is_api_url_error() -> None:
    with EmulatorServer() as emu:
        url = emu.base_url
    client = ACClient(url, SecretStr("k"), retry=RetryPolicy(max_attempts=2, backoff_base_s=0.01))
    async with client as ac:
        with pytest.raises(ApiUrlError):
            await ac.me()


# --- traffic shaping -------------------------------------------------------------------------------


async def test_burst_of_30_stays_under_5_per_second(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    async with make_client(emulator) as ac:
        await asyncio.gather(*(ac.me() for _ in range(30)))
        assert ac.stats.rate_limited == 0
    log = requests_log(emulator_admin)
    assert len(log) == 30
    assert [r["status"] for r in log].count(429) == 0
    assert max_in_window([r["t"] for r in log], 1.0) <= 5


async def test_retry_after_pauses_the_whole_account(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    faults(
        emulator_admin,
        {"method": "GET", "path": "^/api/3/groups$", "status": 429, "retry_after": 3, "times": 1},
    )

    async def others(ac: ACClient) -> None:
        for _ in range(10):  # at 5/s these would fill the next two seconds if nothing paused them
            await ac.me()

    async with make_client(emulator) as ac:
        limiter = ac.limiter
        real_slot = limiter.slot
        granted: list[tuple[float, float]] = []  # (when a permit was granted, the account's pause deadline then)

        @contextlib.asynccontextmanager
        async def recording_slot(kind: Kind = "request") -> AsyncIterator[None]:
            async with real_slot(kind):
                granted.append((time.monotonic(), limiter._paused_until))
                yield

        limiter.slot = recording_slot  # type: ignore[method-assign]
        # The 429 arrives for one coroutine; the other one must wait too.
        await asyncio.gather(ac.groups(), others(ac))
    log = requests_log(emulator_admin)
    assert [r["status"] for r in log].count(429) == 1 and len(log) == 12, "the throttled request was not retried"
    # Every permit granted once the pause was set (the retry and the other coroutine's calls) waited for its end.
    after_pause = [(at, until) for at, until in granted if until > 0]
    assert len(after_pause) >= 2
    assert all(at >= until for at, until in after_pause)


async def test_bulk_rate_limit_400_is_retried(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    body = {"success": 0, "message": "Rate limit exceeded.", "failureReasons": ["Up to 100 imports..."]}
    faults(emulator_admin, {"method": "POST", "path": "bulk_import", "status": 400, "body": body, "times": 1})
    async with make_client(emulator) as ac:
        batch_id = await ac.bulk_import([{"email": "a@example.com"}, {"email": "b@example.com"}])
        assert batch_id
        assert ac.stats.rate_limited == 1
    posts = [r for r in requests_log(emulator_admin) if r["method"] == "POST"]
    assert [r["status"] for r in posts] == [400, 200]


async def test_malformed_email_400_is_not_retried(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    async with make_client(emulator) as ac:
        with pytest.raises(ValidationError) as info:
            await ac.bulk_import([{"email": "ok@example.com"}, {"email": "a@b@c"}, {"email": "x@example.com"}])
    assert info.value.failure_indices == [1]
    assert len(requests_log(emulator_admin)) == 1


async def test_endless_429_becomes_rate_limited_error(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "*", "path": "users/me", "status": 429, "retry_after": 0})
    retry = RetryPolicy(max_rate_limited=3, backoff_base_s=0.01)
    async with make_client(emulator, retry=retry) as ac:
        with pytest.raises(RateLimitedError):
            await ac.me()
    assert len(requests_log(emulator_admin)) == 4


async def test_5xx_and_resets_are_retried(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    faults(
        emulator_admin,
        {"method": "GET", "path": "users/me", "status": 502, "times": 2},
        {"method": "GET", "path": "groups", "drop_connection": True, "times": 1},
    )
    async with make_client(emulator) as ac:
        assert (await ac.me()).id == 1
        assert [g.title for g in await ac.groups()] == ["Admin"]
        assert ac.stats.retries == 3


async def test_persistent_5xx_gives_up(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "GET", "path": "users/me", "status": 500})
    async with make_client(emulator, retry=RetryPolicy(max_attempts=3, backoff_base_s=0.01)) as ac:
        with pytest.raises(ServerError):
            await ac.me()
    assert len(requests_log(emulator_admin)) == 3


async def test_read_timeout_is_retried(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    faults(emulator_admin, {"method": "GET", "path": "users/me", "delay_s": 1.0, "times": 1})
    async with make_client(emulator, timeout_s=0.3) as ac:
        assert (await ac.me()).id == 1
        assert ac.stats.by_status["transport_error"] == 1


# --- unknown behaviours: the client survives every variant -------------------------------------------


@with_option("success_casing", "Success", "success")
async def test_bulk_success_casing(emulator: EmulatorServer) -> None:
    async with make_client(emulator) as ac:
        assert await ac.bulk_import([{"email": "a@example.com"}, {"email": "b@example.com"}])


@with_option("limit_over_max", "clamp", "error")
async def test_pagination_over_many_pages(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    for i in range(230):
        emulator_admin.post("/groups", json={"title": f"Group {i}"}).raise_for_status()
    async with make_client(emulator, time_scale=20) as ac:
        titles = [g.title for g in await ac.groups()]
    assert len(titles) == 231 and len(set(titles)) == 231


@with_option("name_filter", "partial", "exact")
async def test_lists_named_is_exact_whatever_the_filter(emulator: EmulatorServer) -> None:
    async with make_client(emulator, time_scale=20) as ac:
        for name in ("VIP", "VIP customers", "Old VIP"):
            await new_list(ac, name)
        found = await ac.lists_named("VIP")
    assert [f.name for f in found] == ["VIP"]


@with_option("duplicate_list_group", "idempotent", "error")
async def test_duplicate_list_group_link_tolerated(
    emulator: EmulatorServer, emulator_admin: httpx.Client, emulator_config: EmulatorConfig
) -> None:
    async with make_client(emulator, time_scale=20) as ac:
        new = await new_list(ac, "L")
        assert await ac.link_list_to_group(new.id, 3) is True
        second = await ac.link_list_to_group(new.id, 3)
    assert second is (emulator_config.duplicate_list_group == "idempotent")
    state = emulator_admin.get("/state").json()
    assert [int(g) for g in state["lists"][0]["group_ids"]] == [3]


async def test_import_info_false_is_read_as_submitted(emulator: EmulatorServer) -> None:
    async with make_client(emulator) as ac:
        batch_id = await ac.bulk_import([{"email": "a@example.com"}, {"email": "b@example.com"}])
        info = await ac.import_status(batch_id)
    assert info.status == "submitted"
