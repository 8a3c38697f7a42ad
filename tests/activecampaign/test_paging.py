"""Reads at scale: every item once, whatever an endpoint makes of limit, offset and id_greater; never cut short."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorServer
from ac_sync.activecampaign.errors import UnexpectedAnswerError
from ac_sync.activecampaign.paging import Walk
from tests.activecampaign.fake_api import RETRY, FakeAPI, paged, reply
from tests.activecampaign.test_client import make_client, new_list


def groups(n: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "title": f"Group {i}"} for i in range(1, n + 1)]


def contacts(ids: list[int]) -> list[dict[str, Any]]:
    return [{"id": str(i), "email": f"c{i}@example.com"} for i in ids]


def everything_at_once(key: str, items: list[dict[str, Any]], total: Any = "auto") -> Any:
    meta = {} if total is None else {"meta": {"total": str(len(items)) if total == "auto" else total}}
    return reply({key: items, **meta})


async def test_limit_and_offset_honoured() -> None:
    api = FakeAPI().on("GET", "groups", paged("groups", groups(250)))
    async with api.client() as ac:
        titles = [g.title for g in await ac.groups()]
    assert titles == [f"Group {i}" for i in range(1, 251)]
    assert [(s.params["limit"], s.params["offset"]) for s in api.sent] == [("100", "0"), ("100", "100"), ("100", "200")]


@pytest.mark.parametrize("total", ["auto", None], ids=["with-total", "without-total"])
async def test_groups_answered_all_at_once_are_each_read_once(total: Any) -> None:
    api = FakeAPI().on("GET", "groups", everything_at_once("groups", groups(231), total))
    async with api.client() as ac:
        found = await ac.groups()
    assert [g.id for g in found] == list(range(1, 232))
    # With meta.total the first page ends it; without, the next page repeats and adds nothing.
    assert len(api.sent) == (1 if total else 2)


async def test_a_repeated_first_page_short_of_the_total_raises() -> None:
    api = FakeAPI().on("GET", "groups", reply({"groups": groups(100), "meta": {"total": "231"}}))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError) as info:
            await ac.groups()
    assert len(api.sent) == 2
    assert (
        str(info.value)
        == "GET /api/3/groups: the API ignored paging: page 2 repeated what was read (100 of meta.total 231)"
    )


async def test_a_repeated_page_without_a_total_ends_the_walk() -> None:
    api = FakeAPI().on("GET", "tags", reply({"tags": [{"id": "1", "tag": "a"}, {"id": "2", "tag": "b"}]}))
    async with api.client() as ac:
        assert [t.tag for t in await ac.tags()] == ["a", "b"]
    assert len(api.sent) == 2


async def test_a_clamped_limit_still_reads_everything() -> None:
    items = groups(95)

    def twenty_at_most(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return reply({"groups": items[offset : offset + 20], "meta": {"total": 95}})  # a number, here

    api = FakeAPI().on("GET", "groups", twenty_at_most)
    async with api.client() as ac:
        assert len(await ac.groups()) == 95
    assert [s.params["offset"] for s in api.sent] == ["0", "20", "40", "60", "80"]


async def test_pages_that_never_reach_the_total_are_capped() -> None:
    served = 0

    def one_new_a_page(request: httpx.Request) -> httpx.Response:
        nonlocal served
        served += 1
        return reply({"groups": groups(99 + served)[served - 1 :], "meta": {"total": "250"}})

    api = FakeAPI().on("GET", "groups", one_new_a_page)
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError) as info:
            await ac.groups()
    # ceil(250 / 100) + 2 pages, and not one more.
    assert len(api.sent) == 5
    assert "5 pages read and still 104 of meta.total 250" in str(info.value)


async def test_a_walk_needs_ids_to_count_by() -> None:
    api = FakeAPI().on("GET", "tags", reply({"tags": [{"tag": "x"}], "meta": {"total": "1"}}))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError, match=r"tags\[0\]\.id: Field required"):
            await ac.tags()
    assert len(api.sent) == RETRY.max_attempts


async def test_a_walk_yields_each_item_once_by_id() -> None:
    page = [{"id": "1", "tag": "a", "extra": [1]}, {"id": 1, "tag": "a again"}, {"id": "2", "tag": "b"}]
    api = FakeAPI().on("GET", "tags", reply({"tags": page, "meta": {"total": "2"}}))
    async with api.client() as ac:
        items = await ac.tags("y")
    assert [(t.id, t.tag) for t in items] == [(1, "a"), (2, "b")]
    assert api.sent[0].params == {"search": "y", "limit": "100", "offset": "0"}


# --- contacts of a list: keyset paging ------------------------------------------------------------------


def keyset(items: list[dict[str, Any]], *, echo: dict[str, Any] | None = None) -> Any:
    """GET /contacts honouring id_greater (ids ascending), echoing page_input as the reference shows it."""

    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        after = int(params.get("id_greater", 0))
        limit = int(params.get("limit", 20))
        rest = [c for c in items if int(c["id"]) > after]
        page_input = {"listid": int(params.get("listid", 0)), "status": int(params.get("status", -1)), "limit": limit}
        meta = {"total": str(len(items)), "page_input": {**page_input, **(echo or {})}}
        return reply({"scoreValues": [], "contacts": rest[:limit], "meta": meta})

    return answer


async def test_list_contacts_pages_by_id_greater() -> None:
    ids = list(range(3, 700, 3))  # 232 contacts, ids with gaps
    api = FakeAPI().on("GET", "contacts", keyset(contacts(ids)))
    async with api.client() as ac:
        found = [c.id async for c in ac.list_contacts(7, status=2)]
    assert found == ids
    assert [s.params for s in api.sent] == [
        {"listid": "7", "status": "2", "orders[id]": "ASC", "id_greater": str(after), "limit": "100"}
        for after in (0, ids[99], ids[199])
    ]


async def test_list_contacts_survives_an_api_that_ignores_id_greater() -> None:
    items = contacts(list(range(1, 232)))
    api = FakeAPI().on("GET", "contacts", paged("contacts", items))  # offset only, as the emulator pages
    async with api.client() as ac:
        found = [c.id async for c in ac.list_contacts(7)]
    assert found == list(range(1, 232))
    # Page 2 repeats page 1: from there the walk goes by offset.
    assert [s.params.get("id_greater") for s in api.sent] == ["0", "100", None, None]
    assert [s.params.get("offset") for s in api.sent] == [None, None, "100", "200"]


@pytest.mark.parametrize(
    ("echo", "status", "what"),
    [
        ({"listid": 0}, None, "the API ignored the listid filter (page_input.listid: 0, not 7)"),
        ({"status": -1}, 2, "the API ignored the status filter (page_input.status: -1, not 2)"),
        ({"listid": None}, None, "the API ignored the listid filter (page_input.listid: None, not 7)"),
    ],
    ids=["listid-dropped", "status-dropped", "listid-null"],
)
async def test_a_dropped_filter_is_no_membership(echo: dict[str, Any], status: int | None, what: str) -> None:
    api = FakeAPI().on("GET", "contacts", keyset(contacts([1, 2, 3]), echo=echo))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError) as info:
            [c async for c in ac.list_contacts(7, status=status)]
    assert what in str(info.value)
    assert len(api.sent) == RETRY.max_attempts


async def test_filters_echoed_as_strings_or_absent_page_input_are_fine() -> None:
    answers = [
        reply({"contacts": contacts([1]), "meta": {"total": "2", "page_input": {"listid": "7", "status": "1"}}}),
        reply({"contacts": contacts([2]), "meta": {"total": "2"}}),
    ]
    api = FakeAPI().on("GET", "contacts", *answers)
    async with api.client() as ac:
        assert [c.email async for c in ac.list_contacts(7, status=1)] == ["c1@example.com", "c2@example.com"]


async def test_keyset_paging_refuses_an_unordered_answer() -> None:
    shuffled = contacts([5, 1, 9] + list(range(10, 107)))
    api = FakeAPI().on("GET", "contacts", reply({"contacts": shuffled, "meta": {"total": "300"}}))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError, match=r"ignored orders\[id\]=ASC"):
            [c async for c in ac.list_contacts(7)]
    assert len(api.sent) == 1


def test_a_walk_ends_on_an_empty_page_even_short_of_the_total() -> None:
    # Items deleted while paging: the total was true when it was sent.
    walk = Walk("GET", "groups")
    assert walk.admit([1, 2], 5) == [0, 1] and not walk.done
    assert walk.admit([], 5) == [] and walk.done


async def test_list_contacts_against_the_emulator(emulator: EmulatorServer, emulator_admin: httpx.Client) -> None:
    async with make_client(emulator, time_scale=20) as ac:
        new = await new_list(ac, "L")
        list_id = new.id
        seeded = [{"email": f"c{i}@example.com", "lists": {str(list_id): 2 if i % 4 else 1}} for i in range(320)]
        emulator_admin.post("/contacts", json={"contacts": seeded}).raise_for_status()
        gone = [c.email async for c in ac.list_contacts(list_id, status=2)]
    assert gone == [f"c{i}@example.com" for i in range(320) if i % 4]
