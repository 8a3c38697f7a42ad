"""Async client of the parts of ActiveCampaign's API v3 that the sync uses.

Every request goes through the account's limiter; transient failures (429, 503 at the limit, the bulk
"Rate limit exceeded." 400, other 5xx, resets, timeouts) are retried with exponential backoff and jitter;
authentication, payment and validation errors never are. What each answer means is the table of
`ac_sync.activecampaign.judgement`; the request loop only acts on its verdicts. The API key is only ever put
into the request header: no exception, log line or statistic contains it.

Every answer an operation reads is validated (`ac_sync.activecampaign.models`) before it is believed. A 2xx answer
that does not fit (an HTML page, an empty body, JSON without the keys the operation needs, a filter the API
did not apply) is counted as `unexpected_body` and retried like a transient failure, then raised as
UnexpectedAnswerError; only answers to requests that create something are not retried, since the first
may have created it. A create that says how to find what it makes (`found`) looks for it after any answer it
cannot trust — unreadable, a 5xx, none at all — and uses it; only when it is not there is the create sent
again, and past the budget that is an UnconfirmedWriteError. List endpoints are walked by
`ac_sync.activecampaign.paging`.

Every operation answers the frozen models of `ac_sync.activecampaign.models`, never the API's own dicts.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from ac_sync.activecampaign.errors import (
    ACError,
    ApiUrlError,
    AuthenticationError,
    BatchNotFoundError,
    KeyRefusedError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UnconfirmedWriteError,
    UnexpectedAnswerError,
    ValidationError,
)
from ac_sync.activecampaign.judgement import (
    Action,
    Verdict,
    http_date,
    judge,
    judge_transport,
    judge_unparsed,
    message_of,
    untrusted,
)
from ac_sync.activecampaign.models import (
    AnswerShapeError,
    BulkQueued,
    Contact,
    ContactList,
    ContactTag,
    Field,
    FieldOption,
    FieldRel,
    FieldValue,
    FieldWire,
    Group,
    GroupLimit,
    ImportInfo,
    ImportInfoWire,
    ListGroup,
    MailingList,
    Model,
    Page,
    Tag,
    User,
    as_int,
    fields_of,
    json_object,
    many,
    one,
    page,
    validated,
)
from ac_sync.activecampaign.paging import PAGE_SIZE, Walk
from ac_sync.activecampaign.ratelimit import AccountLimiter, AccountLimits, Kind, limiter_for
from ac_sync.activecampaign.rights import right_needed
from ac_sync.activecampaign.urls import normalise_base_url

BULK_MAX_CONTACTS = 250
BULK_MAX_BYTES = 400_000

T = TypeVar("T")
M = TypeVar("M", bound=Model)


def encode_json(obj: Any) -> bytes:
    """The one encoding of every request body: compact UTF-8 JSON, so its length is what goes on the wire."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def bulk_import_body(contacts: Sequence[Mapping[str, Any]], *, exclude_automations: bool = False) -> dict[str, Any]:
    """The body `bulk_import` sends: `len(encode_json(bulk_import_body(...)))` is its exact size on the wire.

    Each contact goes out as given, its own `exclude_automations` included (the reference shows that form).
    """
    return {"contacts": list(contacts), "exclude_automations": exclude_automations}


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
    max_attempts: int = 6  # transient server/transport failures and unexpected answers, per request
    max_rate_limited: int = 10  # throttled answers, per request, before RATE_LIMIT_EXHAUSTED
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    bulk_rate_backoff_s: float = 10.0  # the bulk 400 carries no Retry-After: a sixth of its minute


@dataclass(frozen=True)
class Answer:
    """A 2xx answer as an operation's parser sees it."""

    status: int
    body: Any
    headers: httpx.Headers

    @property
    def server_time(self) -> datetime | None:
        """ActiveCampaign's clock when it answered: the HTTP Date header."""
        return http_date(self.headers.get("Date"))


def _parse_body(resp: httpx.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return resp.text[:500]


# --- parsers of answers: each raises AnswerShapeError when the answer does not fit ------------------------


def _one(key: str, model: type[M]) -> Callable[[Answer], M]:
    def parse(answer: Answer) -> M:
        return one(answer.body, key, model)[1]

    return parse


def _many(key: str, model: type[M], *, required: bool = True) -> Callable[[Answer], list[M]]:
    def parse(answer: Answer) -> list[M]:
        return [m for _, m in many(answer.body, key, model, required=required)]

    return parse


def _page_of(key: str, model: type[M], check: Callable[[Page[M]], None] | None = None) -> Callable[[Answer], Page[M]]:
    def parse(answer: Answer) -> Page[M]:
        pg = page(answer.body, key, model)
        if check is not None:
            check(pg)
        return pg

    return parse


def _deleted(answer: Answer) -> None:
    # The reference answers {}; an empty 2xx is a deletion too. An HTML page is not.
    if answer.body is not None:
        json_object(answer.body)


def _echoes(filters: Mapping[str, int]) -> Callable[[Page[Any]], None]:
    """A check that `meta.page_input`, where the API gives it, shows the filters applied: a dropped listid
    filter answers every contact of the account, and each would look like a member."""

    def check(pg: Page[Any]) -> None:
        if pg.page_input is None:
            return
        for name, wanted in filters.items():
            echoed = pg.page_input.get(name)
            try:
                same = as_int(echoed) == wanted
            except ValueError:
                same = False
            if not same:
                raise AnswerShapeError(
                    f"the API ignored the {name} filter (page_input.{name}: {echoed!r}, not {wanted})"
                )

    return check


def _fields_page(answer: Answer) -> Page[Field]:
    pg = page(answer.body, "fields", FieldWire, {"fieldOptions": FieldOption, "fieldRels": FieldRel})
    joined = fields_of([m for _, m in pg.items], pg.sideloads["fieldOptions"], pg.sideloads["fieldRels"])
    return Page([(raw, f) for (raw, _), f in zip(pg.items, joined, strict=True)], pg.total, pg.page_input)


def _created_field(title: str) -> Callable[[Answer], Field]:
    def parse(answer: Answer) -> Field:
        body = json_object(answer.body)
        if "field" in body:
            wires = [one(body, "field", FieldWire)[1]]
        else:
            # The reference's own example answers the whole `fields` list: the new one is the one so titled.
            wires = [m for _, m in many(body, "fields", FieldWire) if m.title == title]
            if len(wires) != 1:
                raise AnswerShapeError(f"no 'field' object, and {len(wires)} fields titled {title!r} in 'fields'")
        options = [m for _, m in many(body, "fieldOptions", FieldOption, required=False)]
        rels = [m for _, m in many(body, "fieldRels", FieldRel, required=False)]
        return fields_of(wires, options, rels)[0]

    return parse


def _import_info(answer: Answer) -> ImportInfo:
    wire = validated(ImportInfoWire, json_object(answer.body), "import/info")
    raw = wire.status
    # Within about a second of submitting, the API answers `false`.
    pending = raw is None or raw is False or str(raw).strip().lower() in ("false", "0", "")
    return ImportInfo(
        status="submitted" if pending else str(raw).strip().lower(),
        success=tuple(as_int(i) for i in wire.success),
        failure=tuple(wire.failure),
        server_time=answer.server_time,
    )


def _queued(answer: Answer) -> tuple[dict[str, Any], BulkQueued]:
    body = json_object(answer.body)
    queued = validated(BulkQueued, body, "import/bulk_import")
    if queued.success and not queued.batch_id:
        raise AnswerShapeError("queued, but no batchId")
    return body, queued


def _contact_found(email: str) -> Callable[[Answer], Contact | None]:
    def parse(answer: Answer) -> Contact | None:
        found = many(answer.body, "contacts", Contact)
        for _, contact in found:
            if contact.email.lower() == email.lower():
                return contact
        if found:
            # Contacts, but not this one: the filter was dropped, and "not found" would be a guess.
            raise AnswerShapeError(f"the API ignored the email filter ({len(found)} other contacts)")
        return None

    return parse


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

    def _scrub(self, text: str) -> str:
        # Answers come from the server, which never sees the key in a body; a proxy's error page might echo
        # the request's headers.
        key = self._key.get_secret_value()
        return text.replace(key, "[api key]") if key else text

    async def _ask(
        self,
        method: str,
        path: str,
        parse: Callable[[Answer], T],
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        kind: Kind = "request",
        retry_unexpected: bool = True,
        found: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T:
        """Send one request and answer `parse` of its 2xx answer; what any other answer means is `judge`'s.

        `json_body` is encoded by `encode_json` (bytes are taken as encoded already). An answer `parse`
        refuses is retried within the transient budget, unless `retry_unexpected` is off (the request
        creates something, and the first attempt may have). A create given `found` (a lookup of what it makes)
        asks it after an answer it cannot trust, and answers what it finds; it is sent again only when the
        lookup finds nothing.
        """
        url = f"{self.base_url}/{path.lstrip('/')}"
        content = None if json_body is None else json_body if isinstance(json_body, bytes) else encode_json(json_body)
        failures = 0
        throttled = 0
        while True:
            status: int | None = None
            body: Any = None
            reason = ""
            try:
                resp = await self._send(method, url, params, content, kind)
            except httpx.TransportError as exc:
                self.stats.by_status["transport_error"] += 1
                verdict, reason = judge_transport(exc), type(exc).__name__
            else:
                status, body = resp.status_code, _parse_body(resp)
                if isinstance(body, str):
                    body = self._scrub(body)
                verdict = judge(status, body, resp.headers)
                if verdict.action is Action.OK:
                    try:
                        result = parse(Answer(status, body, resp.headers))
                    except AnswerShapeError as exc:
                        self.stats.by_status["unexpected_body"] += 1
                        verdict, reason = judge_unparsed(retry_allowed=retry_unexpected), str(exc)
                    else:
                        self.stats.by_status[str(status)] += 1
                        return result
                else:
                    self.stats.by_status[str(status)] += 1

            if found is not None and untrusted(verdict):
                # The write may have acted: what it would have made is looked for before anything is sent again.
                existing = await found()
                if existing is not None:
                    self.stats.by_status["found_after_unreadable"] += 1
                    return existing
                failures += 1
                if failures < self.retry.max_attempts:
                    self.stats.retries += 1
                    await asyncio.sleep(self._backoff(failures))
                    continue
                what = reason or (f"status {status}" if status is not None else "no answer")
                raise UnconfirmedWriteError(
                    self._scrub(
                        f"{method} /api/3/{path.lstrip('/')}: {failures} attempt{'s' if failures != 1 else ''}"
                        f" answered nothing the sync can read ({what}) and what it would make is not there: it"
                        " may still appear in ActiveCampaign"
                    ),
                    status=status,
                    method=method,
                    path=path,
                    body=body,
                )
            if verdict.action is Action.THROTTLE:
                self.stats.rate_limited += 1
                throttled += 1
                attempts = throttled
                if throttled <= self.retry.max_rate_limited:
                    self.limiter.pause_for(self._throttle_wait(verdict, throttled))
                    self.stats.retries += 1
                    continue
            else:
                failures += 1
                attempts = failures
                if verdict.action is Action.RETRY and failures < self.retry.max_attempts:
                    self.stats.retries += 1
                    await asyncio.sleep(self._backoff(failures))
                    continue
            message = verdict.message(
                where=f"{method} /api/3/{path.lstrip('/')}",
                url=self.base_url,
                status=status,
                detail=f": {text}" if (text := message_of(body)) else "",
                attempts=attempts,
                reason=reason,
            )
            if method != "GET" and untrusted(verdict):
                # A write whose last answer could not be read may have acted all the same.
                message += "; the write may have happened (the next run reads what it did before writing again)"
            raise await self._failure(verdict, self._scrub(message), status=status, method=method, path=path, body=body)

    async def _send(
        self, method: str, url: str, params: dict[str, Any] | None, content: bytes | None, kind: Kind
    ) -> httpx.Response:
        self.stats.total += 1
        if kind != "request":
            self.stats.bulk_import += 1
        headers = {"Api-Token": self._key.get_secret_value()}
        if content is not None:
            headers["Content-Type"] = "application/json"
        async with self.limiter.slot(kind):
            return await self._http.request(method, url, params=params, content=content, headers=headers)

    def _throttle_wait(self, verdict: Verdict, throttled: int) -> float:
        if verdict.wait_s is not None:
            return verdict.wait_s
        base = self.retry.bulk_rate_backoff_s if verdict.bulk else self.retry.backoff_base_s
        return self._backoff(throttled - 1, base)

    async def _failure(self, verdict: Verdict, message: str, *, method: str, path: str, **attached: Any) -> ACError:
        assert verdict.error is not None  # only OK names none, and an OK answer is parsed
        if verdict.error is AuthenticationError:
            # The key refused, or a right of its user missing: the answer does not say, who-am-I does.
            if path.lstrip("/") == "users/me" or not await self._key_accepted():
                return KeyRefusedError(message, method=method, path=path, **attached)
            return PermissionDeniedError(
                message, right=right_needed(method, path), method=method, path=path, **attached
            )
        return verdict.error(message, method=method, path=path, **attached)

    async def _key_accepted(self) -> bool:
        """Whether who-am-I, asked once (a 403 elsewhere), takes the key; a key rotated mid-run it refuses."""
        try:
            await self.me()
        except KeyRefusedError:
            return False
        except ACError:
            return True  # some other trouble: do not blame the key for it
        return True

    # --- reading lists ----------------------------------------------------------------------------------

    async def _pages(
        self,
        path: str,
        parse: Callable[[Answer], Page[M]],
        params: Mapping[str, Any] | None = None,
        *,
        keyset: bool = False,
    ) -> AsyncIterator[Page[M]]:
        """Every page of a list endpoint, each holding only the items not seen on an earlier one."""
        walk = Walk("GET", path, keyset=keyset, limit=PAGE_SIZE)
        while not walk.done:
            pg = await self._ask("GET", path, parse, params={**(params or {}), **walk.params()})
            fresh = walk.admit([item.id for _, item in pg.items], pg.total)
            yield Page([pg.items[i] for i in fresh], pg.total, pg.page_input, pg.sideloads)

    async def _items(
        self, path: str, parse: Callable[[Answer], Page[M]], params: Mapping[str, Any] | None = None, **kw: Any
    ) -> AsyncIterator[M]:
        """Every item of a list endpoint once; see `ac_sync.activecampaign.paging` for what it survives."""
        async for pg in self._pages(path, parse, params, **kw):
            for _, item in pg.items:
                yield item

    async def _all(self, path: str, key: str, model: type[M], params: Mapping[str, Any] | None = None) -> list[M]:
        return [m async for m in self._items(path, _page_of(key, model), params)]

    # --- who-am-I, user groups and lists -------------------------------------------------------------------

    async def me(self) -> User:
        """The key's user. Who-am-I exists on every account: a 404, no answer, or an answer that is not a user
        says the API URL is wrong (ApiUrlError), not that someone is missing."""
        try:
            user = await self._ask("GET", "users/me", _one("user", User))
        except UnexpectedAnswerError as exc:
            raise ApiUrlError(
                f"GET /api/3/users/me answered something that is not ActiveCampaign's API; check the API URL "
                f"({exc.message.split(': ', 1)[-1]})",
                status=exc.status,
                method="GET",
                path="users/me",
            ) from None
        except (NotFoundError, TransportError) as exc:
            raise ApiUrlError(exc.message, status=exc.status, method=exc.method, path=exc.path, body=exc.body) from None
        return user

    async def groups(self) -> list[Group]:
        """Every user group once, whether the endpoint pages by limit/offset or answers them all at once."""
        return await self._all("groups", "groups", Group)

    async def create_group(self, title: str, descript: str = "", *, permissions: Sequence[str] = ()) -> Group:
        """Create a user group; `permissions` are the pg* flags it gets (a group made without any has none)."""
        body = {"group": {"title": title, "descript": descript, **dict.fromkeys(permissions, 1)}}

        async def found() -> Group | None:
            return next((g for g in await self.groups() if g.title == title), None)

        return await self._ask(
            "POST", "groups", _one("group", Group), json_body=body, retry_unexpected=False, found=found
        )

    async def lists_named(self, name: str) -> list[MailingList]:
        """Every list whose name is exactly `name`: the API's name filter may match partially."""
        found = self._items("lists", _page_of("lists", MailingList), {"filters[name]": name})
        return [lst async for lst in found if lst.name == name]

    async def get_list(self, list_id: int) -> MailingList | None:
        """The list with this id, or None when the API says it has none (deleted, or never made)."""
        try:
            return await self._ask("GET", f"lists/{list_id}", _one("list", MailingList))
        except NotFoundError:
            return None

    async def create_list(self, *, name: str, stringid: str, sender_url: str, sender_reminder: str) -> MailingList:
        payload = {
            "name": name,
            "stringid": stringid,
            "sender_url": sender_url,
            "sender_reminder": sender_reminder,
        }
        parse = _one("list", MailingList)

        async def found() -> MailingList | None:
            named = await self.lists_named(name)
            return next((lst for lst in named if lst.stringid == stringid), named[0] if len(named) == 1 else None)

        return await self._ask("POST", "lists", parse, json_body={"list": payload}, retry_unexpected=False, found=found)

    async def link_list_to_group(self, list_id: int, group_id: int) -> bool:
        """Link a list to a user group. True if linked now, False if the API says the pair already exists."""
        body = {"listGroup": {"listid": list_id, "groupid": group_id}}
        try:
            await self._ask("POST", "listGroups", _one("listGroup", ListGroup), json_body=body)
        except ValidationError as exc:
            text = json.dumps(exc.body).lower() if exc.body is not None else ""
            if exc.status == 422 and any(w in text for w in ("duplicate", "already", "exists")):
                return False
            raise
        return True

    async def bulk_import(self, contacts: list[dict[str, Any]], *, exclude_automations: bool = False) -> str:
        """Queue one bulk import; answers its batchId. Raises ValidationError (with failure_indices) on format.

        `exclude_automations` goes at the top level; a contact's own `exclude_automations` goes as given.
        More than BULK_MAX_CONTACTS contacts or BULK_MAX_BYTES encoded bytes is a ValueError, sent nowhere.
        """
        content = encode_json(bulk_import_body(contacts, exclude_automations=exclude_automations))
        if len(contacts) > BULK_MAX_CONTACTS or len(content) > BULK_MAX_BYTES:
            raise ValueError(
                f"a bulk import of {len(contacts)} contacts and {len(content)} bytes exceeds ActiveCampaign's "
                f"{BULK_MAX_CONTACTS} contacts or {BULK_MAX_BYTES} bytes: split it"
            )
        kind: Kind = "bulk" if len(contacts) > 1 else "bulk_single"
        body, queued = await self._ask("POST", "import/bulk_import", _queued, json_body=content, kind=kind)
        if not queued.success:
            raise ValidationError(
                f"POST /api/3/import/bulk_import: not queued: {self._scrub(message_of(body))}",
                status=200,
                method="POST",
                path="import/bulk_import",
                body=body,
            )
        return str(queued.batch_id)

    async def import_status(self, batch_id: str) -> ImportInfo:
        """The batch's progress, stamped with ActiveCampaign's clock. Raises BatchNotFoundError if it knows none."""
        try:
            return await self._ask("GET", "import/info", _import_info, params={"batchId": batch_id})
        except (NotFoundError, ValidationError) as exc:
            unknown = exc.status == 404 or (exc.status == 400 and "no import found" in message_of(exc.body).lower())
            if not unknown:
                raise
            raise BatchNotFoundError(
                f"GET /api/3/import/info: no batch {batch_id!r} ({exc.status}): unknown, or expired",
                status=exc.status,
                method="GET",
                path="import/info",
                body=exc.body,
            ) from None

    async def contact_by_email(self, email: str) -> Contact | None:
        """The contact with this email (in any case), or None when the API, filtering by it, answers none."""
        return await self._ask("GET", "contacts", _contact_found(email), params={"email": email})

    async def list_contacts(self, list_id: int, status: int | None = None) -> AsyncIterator[Contact]:
        """The list's contacts (with `status`, those of that status), by id, paged by id_greater."""
        filters = {"listid": list_id} if status is None else {"listid": list_id, "status": status}
        parse = _page_of("contacts", Contact, _echoes(filters))
        async for contact in self._items("contacts", parse, filters, keyset=True):
            yield contact

    async def count_contacts(self, list_id: int, status: int = 1) -> int:
        """How many of the list's contacts have `status` (one request: the answer's `meta.total`; without one,
        whether the first page held anyone)."""
        filters = {"listid": list_id, "status": status}
        page = await self._ask(
            "GET", "contacts", _page_of("contacts", Contact, _echoes(filters)), params={**filters, "limit": 1}
        )
        return page.total if page.total is not None else len(page.items)

    async def set_list_status(
        self, list_id: int, contact_id: int, status: int, *, sourceid: int | None = None
    ) -> ContactList:
        """Subscribe (1) or unsubscribe (2). 2 → 1 re-subscribes: the reference asks for `sourceid=4` then."""
        entry: dict[str, Any] = {"list": list_id, "contact": contact_id, "status": status}
        if sourceid is not None:
            entry["sourceid"] = sourceid
        parse = _one("contactList", ContactList)
        return await self._ask("POST", "contactLists", parse, json_body={"contactList": entry})

    # --- custom fields and their values -------------------------------------------------------------------

    async def fields(self) -> list[Field]:
        """Every custom field, with its options and the lists it is related to."""
        return [f async for f in self._items("fields", _fields_page)]

    async def create_field(
        self,
        title: str,
        type: str,
        perstag: str | None = None,
        *,
        descript: str | None = None,
        defval: str | None = None,
        isrequired: bool = False,
        visible: bool = True,
        ordernum: int | None = None,
    ) -> Field:
        """Create a custom field (`type`: text, textarea, date, dropdown, ...); without `perstag` the API derives
        one from the title. It relates to no list until `relate_field`."""
        entry: dict[str, Any] = {"title": title, "type": type, "isrequired": int(isrequired), "visible": int(visible)}
        for key, value in (("perstag", perstag), ("descript", descript), ("defval", defval), ("ordernum", ordernum)):
            if value is not None:
                entry[key] = value

        async def found() -> Field | None:
            same = [f for f in await self.fields() if f.title == title and (perstag is None or f.perstag == perstag)]
            return same[0] if len(same) == 1 else None

        return await self._ask(
            "POST", "fields", _created_field(title), json_body={"field": entry}, retry_unexpected=False, found=found
        )

    async def add_field_options(self, field_id: int, values: Sequence[str | tuple[str, str]]) -> list[FieldOption]:
        """Add the options of a dropdown, radio, ... field: each a value (its own label) or a (value, label)."""
        pairs = [(v, v) if isinstance(v, str) else v for v in values]
        body = {
            "fieldOptions": [
                {"orderid": i, "value": value, "label": label, "isdefault": False, "field": str(field_id)}
                for i, (value, label) in enumerate(pairs, start=1)
            ]
        }

        async def found() -> list[FieldOption] | None:
            # Every option there: the bulk acted (a part of them is no answer: the bulk is all or nothing).
            field = next((f for f in await self.fields() if f.id == field_id), None)
            have = {o.value: o for o in field.options} if field is not None else {}
            return [have[v] for v, _ in pairs] if all(v in have for v, _ in pairs) else None

        parse = _many("fieldOptions", FieldOption)
        return await self._ask("POST", "fieldOption/bulk", parse, json_body=body, retry_unexpected=False, found=found)

    async def relate_field(self, field_id: int, list_id: int) -> FieldRel:
        """Relate a field to a list (0: to every list)."""
        body = {"fieldRel": {"field": field_id, "relid": list_id}}
        parse = _one("fieldRel", FieldRel)

        async def found() -> FieldRel | None:
            field = next((f for f in await self.fields() if f.id == field_id), None)
            related = field is not None and (list_id in field.list_ids or (list_id == 0 and field.all_lists))
            # The lookup does not say the relation's own id; nothing reads it.
            return FieldRel(id=0, field_id=field_id, list_id=list_id) if related else None

        return await self._ask("POST", "fieldRels", parse, json_body=body, retry_unexpected=False, found=found)

    async def contact_field_values(self, contact_id: int) -> list[FieldValue]:
        return await self._ask("GET", f"contacts/{contact_id}/fieldValues", _many("fieldValues", FieldValue))

    async def set_field_value(self, contact_id: int, field_id: int, value: str) -> FieldValue:
        body = {"fieldValue": {"contact": contact_id, "field": field_id, "value": value}}
        return await self._ask("POST", "fieldValues", _one("fieldValue", FieldValue), json_body=body)

    async def update_field_value(self, field_value_id: int, contact_id: int, field_id: int, value: str) -> FieldValue:
        body = {"fieldValue": {"contact": contact_id, "field": field_id, "value": value}}
        parse = _one("fieldValue", FieldValue)
        return await self._ask("PUT", f"fieldValues/{field_value_id}", parse, json_body=body)

    async def delete_field_value(self, field_value_id: int) -> None:
        await self._ask("DELETE", f"fieldValues/{field_value_id}", _deleted)

    # --- tags -----------------------------------------------------------------------------------------------

    async def tags(self, search: str | None = None) -> list[Tag]:
        """Every tag, or those whose name contains `search` (the API's own "contains")."""
        return await self._all("tags", "tags", Tag, {"search": search} if search else None)

    async def create_tag(self, name: str, *, tag_type: str = "contact", description: str = "") -> Tag:
        body = {"tag": {"tag": name, "tagType": tag_type, "description": description}}

        async def found() -> Tag | None:
            return next((t for t in await self.tags(search=name) if t.tag == name), None)

        return await self._ask("POST", "tags", _one("tag", Tag), json_body=body, retry_unexpected=False, found=found)

    async def contact_tags(self, contact_id: int) -> list[ContactTag]:
        """The contact's tags. The reference shows no answer here: a JSON object without `contactTags` is none."""
        return await self._ask(
            "GET", f"contacts/{contact_id}/contactTags", _many("contactTags", ContactTag, required=False)
        )

    async def add_contact_tag(self, contact_id: int, tag_id: int) -> ContactTag:
        body = {"contactTag": {"contact": contact_id, "tag": tag_id}}
        return await self._ask("POST", "contactTags", _one("contactTag", ContactTag), json_body=body)

    async def remove_contact_tag(self, contact_tag_id: int) -> None:
        await self._ask("DELETE", f"contactTags/{contact_tag_id}", _deleted)

    # --- contacts ---------------------------------------------------------------------------------------------

    async def sync_contact(
        self,
        email: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
        field_values: Mapping[int, str | None] | None = None,
    ) -> int:
        """Create or update the contact by email; answers its id. A value of "" is sent (it clears what the
        account holds); None is left out. List membership is not touched."""
        contact: dict[str, Any] = {"email": email}
        for key, value in (("firstName", first_name), ("lastName", last_name), ("phone", phone)):
            if value is not None:
                contact[key] = value
        values = [{"field": str(f), "value": v} for f, v in (field_values or {}).items() if v is not None]
        if values:
            contact["fieldValues"] = values
        synced = await self._ask("POST", "contact/sync", _one("contact", Contact), json_body={"contact": contact})
        return synced.id

    async def delete_contact(self, contact_id: int) -> None:
        await self._ask("DELETE", f"contacts/{contact_id}", _deleted)

    async def contact_lists(self, contact_id: int) -> list[ContactList]:
        """The contact's status on each list it has been on."""
        return await self._ask("GET", f"contacts/{contact_id}/contactLists", _many("contactLists", ContactList))

    # --- users and their rights -------------------------------------------------------------------------------

    async def user(self, user_id: int) -> User:
        return await self._ask("GET", f"users/{user_id}", _one("user", User))

    async def users(self) -> list[User]:
        return await self._all("users", "users", User)

    async def group_limits(self) -> list[GroupLimit]:
        """Each user group's limits (lists, contacts, mails, ...), as the API states them."""
        return await self._all("groupLimits", "groupLimits", GroupLimit)


__all__ = [
    "ACClient",
    "ACError",
    "RequestStats",
    "RetryPolicy",
    "as_int",
    "bulk_import_body",
    "encode_json",
    "http_date",
    "BULK_MAX_BYTES",
    "BULK_MAX_CONTACTS",
    "PAGE_SIZE",
]
