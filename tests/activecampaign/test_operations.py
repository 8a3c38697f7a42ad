"""The typed operations (fields, values, tags, contacts, users, rights) on the reference's examples and odd answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from ac_sync.activecampaign.errors import NotFoundError, UnconfirmedWriteError, UnexpectedAnswerError
from ac_sync.activecampaign.models import Contact, ContactList, Field, FieldOption, GroupLimit
from tests.activecampaign.fake_api import RETRY, FakeAPI, example, paged, reply

CDT = timezone(timedelta(hours=-5))


def field_wire(i: int, title: str, *, options: Sequence[int] = (), relations: Sequence[int] = ()) -> dict[str, Any]:
    return {
        "title": title,
        "type": "dropdown" if options else "text",
        "isrequired": "0",
        "perstag": title.upper(),
        "defval": None,
        "options": [str(o) for o in options],
        "relations": [str(r) for r in relations],
        "id": str(i),
    }


# --- every operation reads the reference's own example -----------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "status", "call", "check"),
    [
        ("GET /users/me", "200", lambda ac: ac.me(), lambda r: r.id == 1),
        ("GET /groups", "200", lambda ac: ac.groups(), lambda r: [g.id for g in r] == [3, 5, 6, 7]),
        ("POST /groups", "200", lambda ac: ac.create_group("T"), lambda r: r.id == 7),
        ("GET /lists", "200", lambda ac: ac.lists_named("Robert List"), lambda r: [x.id for x in r] == [2]),
        (
            "POST /lists",
            "200",
            lambda ac: ac.create_list(name="N", stringid="n", sender_url="u", sender_reminder="r"),
            lambda r: r.id == 6,
        ),
        ("POST /listGroups", "201", lambda ac: ac.link_list_to_group(19, 1), lambda r: r is True),
        ("POST /contactLists", "200", lambda ac: ac.set_list_status(2, 1, 1), lambda r: r.id == 2),
        ("POST /contact/sync", "201", lambda ac: ac.sync_contact("jondoe@example.com"), lambda r: r == 10),
        ("GET /contacts/{id}/contactLists", "200", lambda ac: ac.contact_lists(19), lambda r: r[0].status == 3),
        ("DELETE /contacts/{id}", "200", lambda ac: ac.delete_contact(1), lambda r: r is None),
        ("GET /fields", "200", lambda ac: ac.fields(), lambda r: [f.id for f in r] == [2, 1]),
        (
            "POST /fieldOption/bulk",
            "201",
            lambda ac: ac.add_field_options(62, ["X", "Y", "Z"]),
            lambda r: [o.value for o in r] == ["X", "Y", "Z"],
        ),
        ("POST /fieldRels", "201", lambda ac: ac.relate_field(8, 2), lambda r: (r.field_id, r.list_id) == (8, 2)),
        ("POST /fieldValues", "200", lambda ac: ac.set_field_value(2, 3, "Blue"), lambda r: r.id == 15),
        (
            "PUT /fieldValues/{id}",
            "200",
            lambda ac: ac.update_field_value(15, 4, 24, "Blue"),
            lambda r: r.value == "Blue",
        ),
        ("DELETE /fieldValues/{id}", "200", lambda ac: ac.delete_field_value(15), lambda r: r is None),
        ("GET /contacts/{id}/fieldValues", "200", lambda ac: ac.contact_field_values(5), lambda r: len(r) == 6),
        (
            "GET /tags",
            "200",
            lambda ac: ac.tags(),
            lambda r: [t.tag for t in r] == ["one", "two", "three", "test1", "test2"],
        ),
        ("POST /tags", "201", lambda ac: ac.create_tag("My Tag"), lambda r: (r.id, r.tag) == (16, "My Tag")),
        (
            "POST /contactTags",
            "201",
            lambda ac: ac.add_contact_tag(1, 20),
            lambda r: (r.contact_id, r.tag_id, r.tag) == (1, 20, 20),
        ),
        ("DELETE /contactTags/{id}", "200", lambda ac: ac.remove_contact_tag(1), lambda r: r is None),
        ("GET /users", "200", lambda ac: ac.users(), lambda r: [u.username for u in r] == ["admin", "janedoe"]),
        ("GET /users/{id}", "200", lambda ac: ac.user(1), lambda r: r.first_name == "John"),
        ("GET /groupLimits", "200", lambda ac: ac.group_limits(), lambda r: [g.group_id for g in r] == [1, 2, 3, 4]),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
async def test_the_reference_examples_fit(operation: str, status: str, call: Any, check: Any) -> None:
    method = operation.split(" ", 1)[0]
    api = FakeAPI().on(method, "*", reply(example(operation, status), int(status)))
    async with api.client() as ac:
        result = await call(ac)
    assert check(result), result


# --- custom fields ------------------------------------------------------------------------------------------


async def test_fields_reads_every_page_with_its_options_and_lists() -> None:
    fields = [field_wire(i, f"F{i}") for i in range(1, 121)]
    fields[4] = field_wire(5, "Colour", options=[11, 12], relations=[21, 22])
    fields[110] = field_wire(111, "Everywhere", relations=[23])
    sideloads = {
        "fieldOptions": [
            {"id": "12", "field": "5", "value": "b", "label": "Blue", "orderid": "2", "isdefault": "0"},
            {"id": "11", "field": "5", "value": "r", "label": "Red", "orderid": "1", "isdefault": "1"},
        ],
        "fieldRels": [
            {"id": "21", "field": "5", "relid": "7", "dorder": "0"},
            {"id": "22", "field": "5", "relid": "9", "dorder": "0"},
            {"id": "23", "field": "111", "relid": "0", "dorder": "0"},
        ],
    }
    api = FakeAPI().on("GET", "fields", paged("fields", fields, **sideloads))
    async with api.client() as ac:
        found = await ac.fields()
    assert [f.id for f in found] == list(range(1, 121))
    colour, everywhere = found[4], found[110]
    assert colour == Field(
        id=5,
        title="Colour",
        perstag="COLOUR",
        type="dropdown",
        options=(
            FieldOption(id=11, field_id=5, value="r", label="Red", orderid=1, isdefault=True),
            FieldOption(id=12, field_id=5, value="b", label="Blue", orderid=2),
        ),
        list_ids=(7, 9),
    )
    assert colour.applies_to(7) and not colour.applies_to(8)
    assert everywhere.all_lists and everywhere.list_ids == () and everywhere.applies_to(12345)
    assert not found[0].applies_to(7)
    assert [s.params["offset"] for s in api.sent] == ["0", "100"]


async def test_a_field_whose_relations_the_answer_lacks_is_no_unrelated_field() -> None:
    body = {"fields": [field_wire(5, "Colour", relations=[21])], "meta": {"total": "1"}}  # no fieldRels sideload
    api = FakeAPI().on("GET", "fields", reply(body))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError, match="field 5 names fieldRels 21, which the answer does not carry"):
            await ac.fields()
    assert len(api.sent) == RETRY.max_attempts


async def test_create_field_sends_only_what_is_given() -> None:
    created = {"field": field_wire(9, "Shoe size"), "fieldOptions": [], "fieldRels": []}
    api = FakeAPI().on("POST", "fields", reply(created, 201))
    async with api.client() as ac:
        field = await ac.create_field("Shoe size", "text")
        await ac.create_field("Shoe size", "text", "SHOE", defval="42", isrequired=True, ordernum=3)
    assert field.id == 9 and field.title == "Shoe size" and field.list_ids == () and not field.all_lists
    assert [s.body for s in api.sent] == [
        {"field": {"title": "Shoe size", "type": "text", "isrequired": 0, "visible": 1}},
        {
            "field": {
                "title": "Shoe size",
                "type": "text",
                "isrequired": 1,
                "visible": 1,
                "perstag": "SHOE",
                "defval": "42",
                "ordernum": 3,
            }
        },
    ]


async def test_create_field_reads_the_references_fields_list_form() -> None:
    api = (
        FakeAPI()
        .on("POST", "fields", reply(example("POST /fields", "201"), 201))
        .on("GET", "fields", reply({"fields": [], "meta": {"total": "0"}}))
    )
    async with api.client() as ac:
        assert (await ac.create_field("Title", "textarea")).id == 1
        # The reference's answer holds no field of the title asked for: no guessing which one is new. The
        # lookup after each attempt finds none either, so it is sent again, then unconfirmed.
        with pytest.raises(UnconfirmedWriteError, match="0 fields titled 'Field Title'"):
            await ac.create_field("Field Title", "textarea")
    assert [s.method for s in api.sent] == ["POST"] + ["POST", "GET"] * RETRY.max_attempts


async def test_add_field_options_and_relate_field_bodies() -> None:
    api = (
        FakeAPI()
        .on("POST", "fieldOption/bulk", reply(example("POST /fieldOption/bulk", "201"), 201))
        .on("POST", "fieldRels", reply(example("POST /fieldRels", "201"), 201))
    )
    async with api.client() as ac:
        await ac.add_field_options(62, ["X", ("Y", "Option Y")])
        await ac.relate_field(8, 0)
    assert api.sent[0].body == {
        "fieldOptions": [
            {"orderid": 1, "value": "X", "label": "X", "isdefault": False, "field": "62"},
            {"orderid": 2, "value": "Y", "label": "Option Y", "isdefault": False, "field": "62"},
        ]
    }
    assert api.sent[1].body == {"fieldRel": {"field": 8, "relid": 0}}


# --- field values -------------------------------------------------------------------------------------------


async def test_field_values_bodies_and_answers() -> None:
    api = (
        FakeAPI()
        .on("GET", "contacts/5/fieldValues", reply(example("GET /contacts/{id}/fieldValues")))
        .on("POST", "fieldValues", reply(example("POST /fieldValues")))
        .on("PUT", "fieldValues/15", reply(example("PUT /fieldValues/{id}")))
        .on("DELETE", "fieldValues/15", reply({}))
    )
    async with api.client() as ac:
        values = await ac.contact_field_values(5)
        written = await ac.set_field_value(2, 3, "Blue")
        updated = await ac.update_field_value(15, 4, 24, "")
        await ac.delete_field_value(15)
    assert (values[0].contact_id, values[0].field_id, values[0].value) == (5, 1, "United States")
    assert values[0].cdate == datetime(2021, 5, 12, 14, 19, 38, tzinfo=CDT)
    assert (written.contact_id, written.field_id, written.value) == (2, 3, "Blue")
    assert updated.udate is not None and updated.udate.utcoffset() == timedelta(hours=-5)
    assert [s.body for s in api.sent] == [
        None,
        {"fieldValue": {"contact": 2, "field": 3, "value": "Blue"}},
        {"fieldValue": {"contact": 4, "field": 24, "value": ""}},
        None,
    ]


async def test_field_values_of_an_unknown_contact_is_not_found() -> None:
    api = FakeAPI().on("GET", "contacts/100/fieldValues", reply(example("GET /contacts/{id}/fieldValues", "404"), 404))
    async with api.client() as ac:
        with pytest.raises(NotFoundError, match="No Result found for Subscriber with id 100"):
            await ac.contact_field_values(100)


# --- tags ---------------------------------------------------------------------------------------------------


async def test_tags_reads_all_pages_with_the_search() -> None:
    tags = [
        {"id": str(i), "tag": f"t{i}", "tagType": "contact", "cdate": "2018-08-17T09:43:15-05:00"}
        for i in range(1, 151)
    ]
    api = FakeAPI().on("GET", "tags", paged("tags", tags))
    async with api.client() as ac:
        found = await ac.tags(search="t")
    assert [t.id for t in found] == list(range(1, 151))
    assert found[0].cdate == datetime(2018, 8, 17, 14, 43, 15, tzinfo=UTC)
    assert [s.params for s in api.sent] == [
        {"search": "t", "limit": "100", "offset": "0"},
        {"search": "t", "limit": "100", "offset": "100"},
    ]


async def test_create_tag_body() -> None:
    api = FakeAPI().on("POST", "tags", reply(example("POST /tags", "201"), 201))
    async with api.client() as ac:
        await ac.create_tag("My Tag", description="Description")
    assert api.sent[0].body == {"tag": {"tag": "My Tag", "tagType": "contact", "description": "Description"}}


@pytest.mark.parametrize(
    ("answer", "ids"),
    [
        (reply({"contactTags": [{"id": "3", "contact": "1", "tag": "20", "cdate": "2017-06-08T16:11:53-05:00"}]}), [3]),
        (reply({"contactTags": []}), []),
        (reply({}), []),  # the reference shows no answer for this endpoint: a missing key is no tags
        (reply({"contacts": [], "meta": {"total": "0"}}), []),
    ],
    ids=["tags", "empty", "empty-object", "other-keys"],
)
async def test_contact_tags(answer: httpx.Response, ids: list[int]) -> None:
    api = FakeAPI().on("GET", "contacts/1/contactTags", answer)
    async with api.client() as ac:
        assert [t.id for t in await ac.contact_tags(1)] == ids


async def test_contact_tags_answer_that_is_no_json_raises() -> None:
    api = FakeAPI().on("GET", "contacts/1/contactTags", reply(text="<html></html>"))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError):
            await ac.contact_tags(1)


async def test_tagging_bodies() -> None:
    api = (
        FakeAPI()
        .on("POST", "contactTags", reply(example("POST /contactTags", "201"), 201))
        .on("DELETE", "contactTags/1", reply({}), reply(example("DELETE /contactTags/{id}", "404"), 404))
    )
    async with api.client() as ac:
        await ac.add_contact_tag(1, 20)
        await ac.remove_contact_tag(1)
        with pytest.raises(NotFoundError, match="No Result found for SubscriberTag with id 1"):
            await ac.remove_contact_tag(1)
    assert api.sent[0].body == {"contactTag": {"contact": 1, "tag": 20}}


# --- contacts -----------------------------------------------------------------------------------------------


async def test_sync_contact_sends_empty_values_and_leaves_out_none() -> None:
    api = FakeAPI().on("POST", "contact/sync", reply(example("POST /contact/sync", "201"), 201))
    async with api.client() as ac:
        contact_id = await ac.sync_contact(
            "a@example.com", first_name="", last_name=None, phone="123", field_values={1: "x", 2: "", 3: None}
        )
        await ac.sync_contact("b@example.com")
    assert contact_id == 10
    assert [s.body for s in api.sent] == [
        {
            "contact": {
                "email": "a@example.com",
                "firstName": "",
                "phone": "123",
                "fieldValues": [{"field": "1", "value": "x"}, {"field": "2", "value": ""}],
            }
        },
        {"contact": {"email": "b@example.com"}},
    ]


async def test_sync_contact_answer_without_a_contact_is_retried_then_raised() -> None:
    api = FakeAPI().on("POST", "contact/sync", reply({"fieldValues": []}, 201))
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError, match="no 'contact' object"):
            await ac.sync_contact("a@example.com")
    assert len(api.sent) == RETRY.max_attempts  # an upsert by email: safe to send again


async def test_contact_lists_with_their_dates() -> None:
    lists = [
        {
            "contact": "19",
            "list": "1",
            "status": "1",
            "sdate": "2021-04-08T11:17:44-05:00",
            "udate": None,
            "sourceid": "4",
            "id": "30",
        },
        {
            "contact": "19",
            "list": "2",
            "status": 2,
            "sdate": "0000-00-00 00:00:00",
            "udate": "2021-04-08 11:17:44",
            "sourceid": None,
            "id": "31",
        },
    ]
    api = FakeAPI().on("GET", "contacts/19/contactLists", reply({"contactLists": lists}))
    async with api.client() as ac:
        found = await ac.contact_lists(19)
    assert found == [
        ContactList(
            id=30, contact_id=19, list_id=1, status=1, sdate=datetime(2021, 4, 8, 16, 17, 44, tzinfo=UTC), sourceid=4
        ),
        # A zero date and one without an offset are not guessed.
        ContactList(id=31, contact_id=19, list_id=2, status=2),
    ]


async def test_delete_contact_of_an_unknown_id_is_not_found() -> None:
    api = FakeAPI().on("DELETE", "contacts/1", reply(example("DELETE /contacts/{id}", "404"), 404))
    async with api.client() as ac:
        with pytest.raises(NotFoundError):
            await ac.delete_contact(1)


async def test_set_list_status_sends_sourceid_only_when_given() -> None:
    api = FakeAPI().on("POST", "contactLists", reply(example("POST /contactLists")))
    async with api.client() as ac:
        await ac.set_list_status(2, 1, 1, sourceid=4)
        await ac.set_list_status(2, 1, 2)
    assert [s.body for s in api.sent] == [
        {"contactList": {"list": 2, "contact": 1, "status": 1, "sourceid": 4}},
        {"contactList": {"list": 2, "contact": 1, "status": 2}},
    ]


async def test_contact_by_email_never_takes_a_dropped_filter_for_not_found() -> None:
    everyone = {"contacts": [{"id": "1", "email": "x@example.com"}, {"id": "2", "email": "y@example.com"}]}
    api = FakeAPI().on("GET", "contacts", reply(everyone), reply({"contacts": [{"id": "3", "email": "A@Example.com"}]}))
    async with api.client() as ac:
        found = await ac.contact_by_email("a@example.com")
        assert ac.stats.by_status["unexpected_body"] == 1
        api.on("GET", "contacts", reply({"contacts": [], "meta": {"total": "0"}}))
        assert await ac.contact_by_email("nobody@example.com") is None
    assert found == Contact(id=3, email="A@Example.com")


# --- users and rights ---------------------------------------------------------------------------------------


async def test_group_limits_typed() -> None:
    api = FakeAPI().on("GET", "groupLimits", reply(example("GET /groupLimits")))
    async with api.client() as ac:
        limits = await ac.group_limits()
    assert limits[2] == GroupLimit(
        id=3,
        group_id=3,
        limit_list=0,
        limit_contact=0,
        limit_mail=0,
        limit_mail_type="month",
        limit_campaign=0,
        limit_campaign_type="month",
        limit_attachment=-1,
        limit_user=0,
        abuse_ratio=4,
        force_sender_info=False,
    )


async def test_group_limits_without_the_limits_asked_for_raise() -> None:
    api = FakeAPI().on(
        "GET", "groupLimits", reply({"groupLimits": [{"id": "1", "groupid": "1"}], "meta": {"total": 1}})
    )
    async with api.client() as ac:
        with pytest.raises(UnexpectedAnswerError, match=r"groupLimits\[0\]\.limitList: Field required"):
            await ac.group_limits()


async def test_users_and_user() -> None:
    users = [{"id": str(i), "username": f"u{i}", "email": f"u{i}@example.com"} for i in range(1, 4)]
    api = FakeAPI().on("GET", "users", paged("users", users)).on("GET", "users/2", reply({"user": users[1]}))
    async with api.client() as ac:
        assert [u.id for u in await ac.users()] == [1, 2, 3]
        assert (await ac.user(2)).email == "u2@example.com"
