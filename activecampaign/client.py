"""Async client of the parts of ActiveCampaign's API v3 that the sync uses.

Every request goes through the account's limiter; transient failures (429, 503 at the limit, the bulk
"Rate limit exceeded." 400, other 5xx, resets, timeouts) are retried with exponential backoff and jitter;
authentication, payment and validation errors never are. The API key is only ever put into the request
header: no exception, log line or statistic contains it.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from activecampaign.errors import (
    ACError,
    ApiUrlError,
    AuthenticationError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from activecampaign.ratelimit import AccountLimiter, AccountLimits, Kind, limiter_for
from activecampaign.urls import normalise_base_url

PAGE_SIZE = 100  # the documented maximum; larger values are clamped or refused depending on the account
BULK_MAX_CONTACTS = 250
BULK_MAX_BYTES = 400_000


@dataclass
class RequestStats:
    """What this client sent, for run summaries: counts, never payloads."""

    total: int = 0
    bulk_import: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    retries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "bulk_import": self.bulk_import,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            **{str(k): v for k, v in sorted(self.by_status.items())},
        }


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # transient server/transport failures, per request
    max_rate_limited: int = 10  # throttled answers, per request, before RATE_LIMIT_EXHAUSTED
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    bulk_rate_backoff_s: float = 10.0  # the bulk 400 carries no Retry-After: a sixth of its minute


# Refusals that are no rate limit, redirect or server error: the error class and the words for them.
_REFUSALS: dict[int, tuple[type[ACError], str]] = {
    402: (PaymentRequiredError, "payment required"),
    403: (AuthenticationError, "forbidden"),
    404: (NotFoundError, "not found"),
}


def _message_of(body: Any) -> str:
    """One short line out of any of the API's error envelopes."""
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            if isinstance(first, dict):
                # `detail` says what was refused ("You do not have permission..."); `title` only "Forbidden".
                return str(first.get("detail") or first.get("title") or first)
        for key in ("message", "error"):
            if body.get(key):
                return str(body[key])
    if isinstance(body, str) and body.strip():
        return body.strip().splitlines()[0][:200]
    return ""


def _is_bulk_rate_limit(body: Any) -> bool:
    return isinstance(body, dict) and "rate limit exceeded" in str(body.get("message", "")).lower()


def _retry_after_s(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _parse_body(resp: httpx.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return resp.text[:500]


def as_int(value: Any) -> int:
    """Ids and totals come back as strings, some write endpoints echo integers: accept both."""
    return int(str(value).strip())


class ACClient:
    """One account, one key. Use as `async with ACClient(...) as ac:`."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        limits: AccountLimits | None = None,
        limiter: AccountLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self._key = api_key
        self.limits = limits or AccountLimits()
        self.limiter = limiter or limiter_for(self.base_url, self.limits)
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            follow_redirects=False,
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    def set_api_key(self, api_key: SecretStr) -> None:
        """Reload the key after an operator rotated it, without losing the account's limiter state."""
        self._key = api_key

    async def __aenter__(self) -> ACClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _backoff(self, attempt: int, base: float | None = None) -> float:
        base_s = (base if base is not None else self.retry.backoff_base_s) / self.limits.time_scale
        cap = self.retry.backoff_max_s / self.limits.time_scale
        return min(cap, base_s * 2**attempt) * random.uniform(0.5, 1.0)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        kind: Kind = "request",
    ) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}"
        where = f"{method} /api/3/{path.lstrip('/')}"
        failures = 0
        throttled = 0
        while True:
            self.stats.total += 1
            if kind != "request":
                self.stats.bulk_import += 1
            try:
                async with self.limiter.slot(kind):
                    resp = await self._http.request(
                        method,
                        url,
                        params=params,
                        json=json_body,
                        headers={"Api-Token": self._key.get_secret_value()},
                    )
            except httpx.TransportError as exc:
                self.stats.by_status["transport_error"] += 1
                failures += 1
                if failures >= self.retry.max_attempts:
                    cls = ApiUrlError if isinstance(exc, httpx.ConnectError) else TransportError
                    raise cls(
                        f"{where}: could not reach {self.base_url} ({type(exc).__name__})",
                        method=method,
                        path=path,
                    ) from None
                self.stats.retries += 1
                await asyncio.sleep(self._backoff(failures))
                continue

            status = resp.status_code
            self.stats.by_status[str(status)] += 1
            body = _parse_body(resp)
            if status < 300:
                return body
            if 300 <= status < 400:
                raise ApiUrlError(
                    f"{where}: the API URL answered with a redirect ({status}); use the exact URL from Settings → "
                    "Developer",
                    status=status,
                    method=method,
                    path=path,
                )
            message = _message_of(body)
            rate_limited = (
                status == 429
                or (status == 503 and resp.headers.get("Retry-After"))
                or (status == 400 and _is_bulk_rate_limit(body))
            )
            if rate_limited:
                self.stats.rate_limited += 1
                throttled += 1
                if throttled > self.retry.max_rate_limited:
                    raise RateLimitedError(
                        f"{where}: the account stayed rate-limited after {throttled} throttled answers",
                        status=status,
                        method=method,
                        path=path,
                        body=body,
                    )
                wait = _retry_after_s(resp)
                if wait is None:
                    base = self.retry.bulk_rate_backoff_s if status == 400 else self.retry.backoff_base_s
                    wait = self._backoff(throttled - 1, base)
                self.limiter.pause_for(wait)
                self.stats.retries += 1
                continue
            if status >= 500:
                failures += 1
                if failures >= self.retry.max_attempts:
                    raise ServerError(
                        f"{where}: server error {status} persisted after {failures} attempts",
                        status=status,
                        method=method,
                        path=path,
                        body=body,
                    )
                self.stats.retries += 1
                await asyncio.sleep(self._backoff(failures))
                continue
            cls, what = _REFUSALS.get(status, (ValidationError, "refused"))
            detail = f": {message}" if message else ""
            raise cls(f"{where}: {what} ({status}){detail}", status=status, method=method, path=path, body=body)

    async def paginate(self, path: str, key: str, params: dict[str, Any] | None = None) -> AsyncIterator[dict]:
        offset = 0
        while True:
            page = await self.request("GET", path, params={**(params or {}), "limit": PAGE_SIZE, "offset": offset})
            items = (page or {}).get(key) or []
            for item in items:
                yield item
            offset += len(items)
            total = ((page or {}).get("meta") or {}).get("total")
            if not items or (total is not None and offset >= as_int(total)):
                return

    # --- the operations the sync uses -------------------------------------------------------------

    async def me(self) -> dict[str, Any]:
        body = await self.request("GET", "users/me")
        if not isinstance(body, dict) or not isinstance(body.get("user"), dict):
            raise ApiUrlError(
                "GET /api/3/users/me answered something that is not ActiveCampaign's API; check the API URL",
                method="GET",
                path="users/me",
            )
        return body["user"]

    async def groups(self) -> list[dict[str, Any]]:
        return [g async for g in self.paginate("groups", "groups")]

    async def create_group(self, title: str, descript: str = "") -> dict[str, Any]:
        body = await self.request("POST", "groups", json_body={"group": {"title": title, "descript": descript}})
        return body["group"]

    async def lists_named(self, name: str) -> list[dict[str, Any]]:
        """Every list whose name is exactly `name`: the API's name filter may match partially."""
        found = [lst async for lst in self.paginate("lists", "lists", {"filters[name]": name})]
        return [lst for lst in found if lst.get("name") == name]

    async def create_list(self, *, name: str, stringid: str, sender_url: str, sender_reminder: str) -> dict[str, Any]:
        payload = {
            "name": name,
            "stringid": stringid,
            "sender_url": sender_url,
            "sender_reminder": sender_reminder,
        }
        body = await self.request("POST", "lists", json_body={"list": payload})
        return body["list"]

    async def link_list_to_group(self, list_id: int, group_id: int) -> bool:
        """Link a list to a user group. True if linked now, False if the API says the pair already exists."""
        try:
            await self.request("POST", "listGroups", json_body={"listGroup": {"listid": list_id, "groupid": group_id}})
        except ValidationError as exc:
            text = json.dumps(exc.body).lower() if exc.body is not None else ""
            if exc.status == 422 and any(w in text for w in ("duplicate", "already", "exists")):
                return False
            raise
        return True

    async def bulk_import(self, contacts: list[dict[str, Any]], *, exclude_automations: bool = False) -> str:
        """Queue one bulk import; answers its batchId. Raises ValidationError (with failure_indices) on format."""
        kind: Kind = "bulk" if len(contacts) > 1 else "bulk_single"
        body = await self.request(
            "POST",
            "import/bulk_import",
            json_body={"contacts": contacts, "exclude_automations": exclude_automations},
            kind=kind,
        )
        ok = (body or {}).get("success", (body or {}).get("Success"))
        if str(ok) != "1" or not body.get("batchId"):
            raise ValidationError(
                f"POST /api/3/import/bulk_import: not queued: {_message_of(body)}",
                status=200,
                method="POST",
                path="import/bulk_import",
                body=body,
            )
        return str(body["batchId"])

    async def import_info(self, batch_id: str) -> dict[str, Any]:
        """The batch's status: `false` right after submitting is answered as "submitted"."""
        body = await self.request("GET", "import/info", params={"batchId": batch_id}) or {}
        status = body.get("status")
        if status is False or status is None or str(status).lower() in ("false", "0", ""):
            status = "submitted"
        return {
            "status": str(status).lower(),
            "success": list(body.get("success") or []),
            "failure": [str(e) for e in (body.get("failure") or [])],
        }

    async def contact_by_email(self, email: str) -> dict[str, Any] | None:
        body = await self.request("GET", "contacts", params={"email": email}) or {}
        # If the filter were dropped the API would answer everyone: only an exact match counts.
        for contact in body.get("contacts") or []:
            if str(contact.get("email", "")).lower() == email.lower():
                return contact
        return None

    async def list_contacts(self, list_id: int, status: int | None = None) -> AsyncIterator[dict]:
        params: dict[str, Any] = {"listid": list_id}
        if status is not None:
            params["status"] = status
        async for contact in self.paginate("contacts", "contacts", params):
            yield contact

    async def set_list_status(self, list_id: int, contact_id: int, status: int) -> dict[str, Any]:
        body = await self.request(
            "POST",
            "contactLists",
            json_body={"contactList": {"list": list_id, "contact": contact_id, "status": status}},
        )
        return (body or {}).get("contactList") or {}


__all__ = [
    "ACClient",
    "ACError",
    "RequestStats",
    "RetryPolicy",
    "as_int",
    "BULK_MAX_BYTES",
    "BULK_MAX_CONTACTS",
]
