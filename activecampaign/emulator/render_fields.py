"""Custom fields, their options, relations and values, tags and contact tags as the reference shows them."""

from __future__ import annotations

from typing import Any

from .model import ContactTag, CustomField, FieldOption, FieldRel, FieldValue, Tag
from .render import links, plain

FIELD_VALUE_LINKS = ("owner", "field")


def field(f: CustomField, base: str) -> dict[str, Any]:
    """A field in GET /fields and GET /fields/{id} (and the answer of POST /fields)."""
    return {
        "title": f.title,
        "descript": f.descript,
        "type": f.type,
        "isrequired": "1" if f.isrequired else "0",
        "perstag": f.perstag,
        "defval": f.defval,
        "show_in_list": "0",
        "rows": "0",
        "cols": "0",
        "visible": "1" if f.visible else "0",
        "service": "",
        "ordernum": str(f.ordernum),
        "cdate": f.cdate,
        "udate": f.udate,
        "options": [str(i) for i in f.option_ids],
        "relations": [str(i) for i in f.rel_ids],
        "links": links(base, "fields", f.id, ("options", "relations")),
        "id": str(f.id),
    }


def field_option(o: FieldOption, base: str) -> dict[str, Any]:
    # orderid and isdefault are numbers, as in the reference's POST /fieldOption/bulk answer.
    return {
        "orderid": o.orderid,
        "value": o.value,
        "label": o.label,
        "isdefault": 1 if o.isdefault else 0,
        "field": str(o.field_id),
        "cdate": o.cdate,
        "udate": o.cdate,
        "links": links(base, "fieldOptions", o.id, ("field",)),
        "id": str(o.id),
    }


def field_rel(r: FieldRel, written: bool = False) -> dict[str, Any]:
    """A fieldRel as GET /fields/{id} sideloads it, or as POST /fieldRels echoes it (numbers, other order)."""
    if written:
        return {"relid": r.relid, "field": r.field_id, "cdate": r.cdate, "links": [], "id": str(r.id)}
    return {
        "field": str(r.field_id),
        "relid": str(r.relid),
        "dorder": "0",
        "cdate": r.cdate,
        "links": [],
        "id": str(r.id),
    }


# Who created and last changed a value: absent (GET /fieldValues, POST /contacts), null (POST
# /contact/sync) or "0" (GET /contacts/{id}/fieldValues), as the reference's variants show.
NO_AUTHORS: dict[str, Any] = {}
NULL_AUTHORS: dict[str, Any] = {"created_by": None, "updated_by": None}
ZERO_AUTHORS: dict[str, Any] = {"created_by": "0", "updated_by": "0"}


def field_value(fv: FieldValue, base: str, authors: dict[str, Any] = NO_AUTHORS) -> dict[str, Any]:
    return {
        "contact": str(fv.contact_id),
        "field": fv.field,
        "value": fv.value,
        "cdate": fv.cdate,
        "udate": fv.udate,
        **authors,
        "links": links(base, "fieldValues", fv.id, FIELD_VALUE_LINKS),
        "id": str(fv.id),
        "owner": str(fv.contact_id),
    }


def field_value_written(fv: FieldValue, base: str) -> dict[str, Any]:
    """The fieldValue echoed by POST and PUT /fieldValues: contact, field and owner are numbers there."""
    return {
        "contact": fv.contact_id,
        "field": int(fv.field),
        "value": fv.value,
        "cdate": fv.cdate,
        "udate": fv.udate,
        "links": links(base, "fieldValues", fv.id, FIELD_VALUE_LINKS),
        "owner": fv.contact_id,
        "id": str(fv.id),
    }


def tag(t: Tag, base: str, created: bool = False) -> dict[str, Any]:
    """A tag in GET /tags, or (keys in another order) in the answer of POST /tags."""
    names = (
        {"tag": t.tag, "description": t.description, "tagType": t.tag_type}
        if created
        else {
            "tagType": t.tag_type,
            "tag": t.tag,
            "description": t.description,
        }
    )
    return {**names, "cdate": t.cdate, "links": links(base, "tags", t.id, ("contactGoalTags",)), "id": str(t.id)}


def contact_tag(ct: ContactTag, base: str) -> dict[str, Any]:
    # POST /contactTags' shape; the reference has no example of GET /contacts/{id}/contactTags, which
    # answers a list of these.
    return {
        "cdate": ct.cdate,
        "contact": str(ct.contact_id),
        "id": str(ct.id),
        "links": links(base, "contactTags", ct.id, ("contact", "tag")),
        "tag": str(ct.tag_id),
    }


def contact_tag_listed(ct: ContactTag, base: str) -> dict[str, Any]:
    """A contactTag in GET /contactTags: POST's shape with the *_timestamp fields that incremental readers
    (tap-activecampaign) take their bookmark from; a contactTag never changes, so both are its cdate."""
    return {**contact_tag(ct, base), "created_timestamp": plain(ct.cdate), "updated_timestamp": plain(ct.cdate)}
