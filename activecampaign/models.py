"""Typed shapes of the API's answers: lenient where the reference is loose, strict about what an operation reads.

The API spells ids and most numbers as strings and echoes some as integers, writes flags as "0"/"1", zero
dates as "0000-00-00", and adds keys freely. The models accept all of that and keep only what the client
answers with; what an operation cannot do without (the list it pages, an id) is required, so an answer
without it fails here, is counted as unexpected and retried, instead of being read as "nothing there".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import pydantic
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict

_INTEGER = re.compile(r"\s*[-+]?\d+\s*")
_ZERO_DATE = re.compile(r"\s*0000-00-00")


def as_int(value: Any) -> int:
    """Ids and totals come back as strings, some write endpoints echo integers: accept both."""
    # bool is an int to Python, never to the API; floats would hide a truncation.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValueError("expected an integer, as a number or a string of digits")


def _flag(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false", ""):
        return False
    raise ValueError("expected a flag: 0/1, true/false")


def _text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _timestamp(value: Any) -> datetime | None:
    # A timestamp no operation decides on must not fail an answer: what cannot be read is None. So is one
    # without an offset: the account's zone is not ours to guess.
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip() and not _ZERO_DATE.match(value):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else None


def _object_or_none(value: Any) -> Any:
    # PHP encodes an empty map as []: read any non-object as absent.
    return value if isinstance(value, dict) else None


Int = Annotated[int, BeforeValidator(as_int)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Text = Annotated[str, BeforeValidator(_text)]
Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp)]


class Model(BaseModel):
    """Frozen, extra keys ignored, built from the API's spelling (aliases) or from the field names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


def _alias(*names: str, **kw: Any) -> Any:
    return pydantic.Field(validation_alias=AliasChoices(*names), **kw)


# --- the resources -----------------------------------------------------------------------------------------


class User(Model):
    id: Int
    username: Text = ""
    email: Text = ""
    first_name: Text | None = _alias("firstName", "first_name", default=None)
    last_name: Text | None = _alias("lastName", "last_name", default=None)
    phone: Text | None = None


class Group(Model):
    id: Int
    title: Text
    descript: Text | None = None


class GroupLimit(Model):
    """One user group's limits (`GET /groupLimits`), numbers as the API gives them."""

    id: Int
    group_id: Int = _alias("groupid", "group", "group_id")
    limit_list: Int = _alias("limitList", "limit_list")
    limit_contact: Int = _alias("limitContact", "limit_contact")
    limit_mail: Int | None = _alias("limitMail", "limit_mail", default=None)
    limit_mail_type: Text | None = _alias("limitMailType", "limit_mail_type", default=None)
    limit_campaign: Int | None = _alias("limitCampaign", "limit_campaign", default=None)
    limit_campaign_type: Text | None = _alias("limitCampaignType", "limit_campaign_type", default=None)
    limit_attachment: Int | None = _alias("limitAttachment", "limit_attachment", default=None)
    limit_user: Int | None = _alias("limitUser", "limit_user", default=None)
    abuse_ratio: Int | None = _alias("abuseRatio", "abuse_ratio", default=None)
    force_sender_info: Flag = _alias("forceSenderInfo", "force_sender_info", default=False)


class ListGroup(Model):
    """A list's link to a user group, which makes the list visible to the group's users."""

    id: Int
    list_id: Int = _alias("list", "listid", "list_id")
    group_id: Int = _alias("group", "groupid", "group_id")


class MailingList(Model):
    id: Int
    name: Text
    stringid: Text | None = None


class Contact(Model):
    id: Int
    email: Text
    first_name: Text | None = _alias("firstName", "first_name", default=None)
    last_name: Text | None = _alias("lastName", "last_name", default=None)
    phone: Text | None = None


class ContactList(Model):
    """A contact's status on one list: 0 unconfirmed, 1 active, 2 unsubscribed, 3 bounced."""

    id: Int
    contact_id: Int = _alias("contact", "contact_id")
    list_id: Int = _alias("list", "list_id")
    status: Int
    sdate: Timestamp = None
    udate: Timestamp = None
    sourceid: Int | None = None


class FieldOption(Model):
    id: Int
    field_id: Int = _alias("field", "field_id")
    value: Text
    label: Text | None = None
    orderid: Int | None = None
    isdefault: Flag = False


class FieldRel(Model):
    """A custom field's relation to a list; `list_id` 0 relates it to every list."""

    id: Int
    field_id: Int = _alias("field", "field_id")
    list_id: Int = _alias("relid", "list_id")


class FieldHead(Model):
    """What a custom field says of itself, in `/fields` and once joined with its sideloads alike."""

    id: Int
    title: Text
    perstag: Text | None = None
    type: Text = ""
    isrequired: Flag = False
    defval: Text | None = None


class FieldWire(FieldHead):
    """A custom field as `/fields` spells it: its options and relations only as ids of the sideloads."""

    options: list[Int] = []
    relations: list[Int] = []


class Field(FieldHead):
    """A custom field with its options and the lists it is related to (`all_lists` when a relation has relid 0)."""

    options: tuple[FieldOption, ...] = ()
    list_ids: tuple[int, ...] = ()
    all_lists: bool = False

    def applies_to(self, list_id: int) -> bool:
        return self.all_lists or list_id in self.list_ids


class FieldValue(Model):
    id: Int
    contact_id: Int = _alias("contact", "owner", "contact_id")
    field_id: Int = _alias("field", "field_id")
    value: Text | None = None
    cdate: Timestamp = None
    udate: Timestamp = None


class Tag(Model):
    """A tag; `tag` is its name, as the API spells it."""

    id: Int
    tag: Text
    tag_type: Text = _alias("tagType", "tag_type", default="contact")
    description: Text | None = None
    cdate: Timestamp = None


class ContactTag(Model):
    """A tag on a contact: the ids of both."""

    id: Int
    contact_id: Int = _alias("contact", "contact_id")
    tag_id: Int = _alias("tag", "tag_id")
    cdate: Timestamp = None

    @property
    def tag(self) -> int:
        """`tag_id` as the API's JSON spells it, for callers that read it so."""
        return self.tag_id


class BulkQueued(Model):
    """The answer to a bulk import: `Success` in the reference, `success` elsewhere."""

    success: Flag = _alias("Success", "success")
    batch_id: Text | None = _alias("batchId", "batch_id", default=None)
    queued_contacts: Int | None = None
    message: Text | None = None


class ImportInfoWire(Model):
    status: bool | Text | None
    success: list[Text] = []
    failure: list[Text] = []


class ImportInfo(Model):
    """A batch's progress: "submitted" while the API still answers `false`; `server_time` is the answer's Date."""

    status: str
    success: tuple[int, ...] = ()  # the contacts the batch created (not those it updated)
    failure: tuple[str, ...] = ()  # emails, without reasons
    server_time: datetime | None = None


# --- envelopes -----------------------------------------------------------------------------------------------


class AnswerShapeError(ValueError):
    """An answer that does not fit its operation; the message says how, in a few words and no payload."""


class Meta(Model):
    total: Int | None = None
    page_input: Annotated[dict[str, Any] | None, BeforeValidator(_object_or_none)] = None


M = TypeVar("M", bound=Model)


def _described(body: dict[str, Any]) -> str:
    if not body:
        return "{}"
    keys = list(body)
    more = f", ... ({len(keys)} keys)" if len(keys) > 6 else ""
    return f"an object with {', '.join(map(repr, keys[:6]))}{more}"


def json_object(body: Any) -> dict[str, Any]:
    if body is None:
        raise AnswerShapeError("an empty body")
    if isinstance(body, str):
        first = " ".join(body.split())[:80]
        raise AnswerShapeError(f"not JSON: {first!r}")
    if not isinstance(body, dict):
        raise AnswerShapeError(f"a JSON {type(body).__name__} where an object was expected")
    return body


def validated(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise AnswerShapeError(f"{where}{'.' + loc if loc else ''}: {first['msg']}") from None


def one(body: Any, key: str, model: type[M]) -> tuple[dict[str, Any], M]:
    """The object under `key`: as sent and as `model`."""
    obj = json_object(body)
    inner = obj.get(key)
    if not isinstance(inner, dict):
        raise AnswerShapeError(f"no {key!r} object in {_described(obj)}")
    return inner, validated(model, inner, key)


def many(body: Any, key: str, model: type[M], *, required: bool = True) -> list[tuple[dict[str, Any], M]]:
    """The array under `key`: each item as sent and as `model`. Absent is an error unless not `required`."""
    obj = json_object(body)
    items = obj.get(key)
    if items is None and not required:
        return []
    if not isinstance(items, list):
        raise AnswerShapeError(f"no {key!r} array in {_described(obj)}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise AnswerShapeError(f"{key}[{i}] is no object")
        out.append((item, validated(model, item, f"{key}[{i}]")))
    return out


@dataclass(frozen=True)
class Page(Generic[M]):
    """One page of a list endpoint: its items (as sent, and typed), `meta`, and the sideloaded arrays asked for."""

    items: list[tuple[dict[str, Any], M]]
    total: int | None = None
    page_input: dict[str, Any] | None = None
    sideloads: dict[str, list[Any]] = field(default_factory=dict)


def page(body: Any, key: str, model: type[M], sideloads: Mapping[str, type[Model]] | None = None) -> Page[M]:
    items = many(body, key, model)
    raw_meta = body.get("meta")
    meta = validated(Meta, raw_meta, "meta") if isinstance(raw_meta, dict) else Meta()
    side = {name: [m for _, m in many(body, name, typ, required=False)] for name, typ in (sideloads or {}).items()}
    return Page(items, meta.total, meta.page_input, side)


def fields_of(wires: list[FieldWire], options: list[FieldOption], rels: list[FieldRel]) -> list[Field]:
    """Join fields with their sideloaded options and relations; an id a field names but the answer lacks is an
    error, not an empty relation (a field related to a list must not read as related to none)."""
    out = []
    for wire in wires:
        own_options = {o.id: o for o in options if o.field_id == wire.id or o.id in wire.options}
        own_rels = {r.id: r for r in rels if r.field_id == wire.id or r.id in wire.relations}
        missing = [f"fieldOptions {i}" for i in wire.options if i not in own_options]
        missing += [f"fieldRels {i}" for i in wire.relations if i not in own_rels]
        if missing:
            raise AnswerShapeError(f"field {wire.id} names {', '.join(missing)}, which the answer does not carry")
        list_ids = sorted({r.list_id for r in own_rels.values()})
        out.append(
            Field(
                **wire.model_dump(include=set(FieldHead.model_fields)),
                options=tuple(sorted(own_options.values(), key=lambda o: (o.orderid is None, o.orderid, o.id))),
                list_ids=tuple(i for i in list_ids if i != 0),
                all_lists=0 in list_ids,
            )
        )
    return out
