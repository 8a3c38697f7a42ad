"""Options of the emulator, chiefly the behaviours ActiveCampaign leaves undocumented.

Every "unknown" of the API reference is an option here, so that the client can be tested against each
plausible variant instead of against one guess.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """An option name or value the emulator does not accept."""


def _one_of(*choices: Any) -> Any:
    """An option that takes one of `choices`; the first is its default."""
    # Stated once, with the field: the default and the allowed values cannot drift apart.
    return field(default=choices[0], metadata={"choices": choices})


@dataclass
class EmulatorConfig:
    api_key: str = "emulator-key"
    # Every ActiveCampaign window and delay runs this many times faster (1.0 = real speed).
    time_scale: float = 1.0
    # ActiveCampaign's clock minus this machine's, in seconds: its timestamps (udate, cdate) and its Date
    # header run this far ahead (negative: behind). A client must decide nothing by its own clock.
    clock_offset_s: float = 0.0
    forbidden_body: str = _one_of("empty", "json")
    limit_over_max: str = _one_of("clamp", "error")
    name_filter: str = _one_of("partial", "exact")
    # Whether a second list may have a name or stringid (compared case-insensitively) that a list already has.
    duplicate_list_names: str = _one_of("allow", "error")
    # The reference lists stringid as required, yet the vendor's own MCP server creates lists without one; by
    # default the emulator derives it from the name (a slug no list has yet), True refuses with 422.
    list_stringid_required: bool = False
    # POST /fieldOptions/bulk (plural, what the vendor's MCP server sends) beside the documented
    # /fieldOption/bulk: "accept" treats both alike, "not_found" answers the plural path as an unknown route.
    plural_field_options_path: str = _one_of("accept", "not_found")
    duplicate_list_group: str = _one_of("idempotent", "error")
    success_casing: str = _one_of("Success", "success")
    invalid_email_status: int = _one_of(422, 400)
    rate_limit_status: int = _one_of(429, 503)
    accept_unicode_email: bool = False
    # The reference shows 200 for POST /lists; the prose says "200 or 201".
    list_create_status: int = _one_of(200, 201)
    # The reference shows 403 for a missing group (GET/DELETE /groups/{id}) and for DELETE of a missing
    # list, which looks like a documentation slip; 404 unless asked to copy the reference.
    missing_object_status: int = _one_of(404, 403)
    # Bulk import timeline, in ActiveCampaign seconds (divided by time_scale).
    info_false_s: float = 1.0
    processing_base_s: float = 2.0
    processing_per_contact_s: float = 0.004
    requests_per_second: int = 5
    bulk_per_minute: int = 100
    bulk_single_per_minute: int = 20
    # Seconds (ActiveCampaign time) after submission at which a batch's import/info record is forgotten;
    # 0 keeps it forever. Its effects are applied either way: only the record goes.
    batch_retention_s: float = 0.0
    # import/info for a batchId it does not know: the reference gives no example.
    unknown_batch_status: int = _one_of(404, 400)
    # Custom field values the reference leaves open: a choice that is no option of its field, a required
    # field left empty, a date in another format, a value for a field not related to the contact's lists.
    invalid_option: str = _one_of("ignore", "store", "fail_contact")
    required_empty: str = _one_of("allow", "fail_contact")
    date_format: str = _one_of("strict", "lenient")
    unrelated_field: str = _one_of("store", "ignore")
    # The reference's POST /fields example is a copy of GET /fields' (a list of every field), which looks
    # like a documentation slip; "field" answers the new field alone, "fields" copies the reference.
    field_create_shape: str = _one_of("field", "fields")
    duplicate_tag_names: str = _one_of("error", "allow")
    # Users and their groups' rights. A refused permission answers with the envelope the reference shows
    # for that endpoint ({"message": "Forbidden"} on some, errors[].detail elsewhere) unless told otherwise.
    permission_denied_body: str = _one_of("reference", "errors", "message")
    # GET /lists/{id} by a non-admin for a list not linked to its group: the reference's 403 "You do not
    # have permission to view lists." or the 404 of a list that does not exist.
    hidden_list_status: int = _one_of(403, 404)
    # Whether a list a non-admin creates is linked to its group at once, or (as for an admin) not at all.
    non_admin_list_link: str = _one_of("none", "own_group")
    group_limits_readable: str = _one_of("all", "admin")
    list_limit_status: int = _one_of(403, 422)
    contact_limit_status: int = _one_of(403, 422)
    # The account's automations: "on" starts one run whenever a contact enters a list (unless excluded).
    automations: str = _one_of("on", "off")
    # Whether POST /contactLists starts automations (the reference has no way to ask it not to).
    contact_list_automations: str = _one_of("run", "never")
    # Misbehaviours for client tests: paging parameters ignored (first page only) on contacts, groups and
    # lists; listid/status dropped on GET /contacts; GET /groups answering every group at once.
    ignore_paging: bool = False
    ignore_list_filter: bool = False
    groups_paging: str = _one_of("honour", "ignore")
    # GET /contacts' meta.total under id_greater/id_less (undocumented): "filtered" counts what matches every
    # filter, the bounds too (a count of the same query), so it shrinks as a keyset walk advances;
    # "unbounded" counts what the other filters match, whatever the bounds.
    keyset_total: str = _one_of("filtered", "unbounded")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply `changes` all or nothing; raise ConfigError naming the first bad field."""
        checked = {name: _check(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EmulatorConfig:
        config = cls()
        config.update(values)
        return config


# The options with a fixed set of values (the command line's choices too).
CHOICES: dict[str, tuple[Any, ...]] = {
    f.name: f.metadata["choices"] for f in fields(EmulatorConfig) if "choices" in f.metadata
}
_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(EmulatorConfig)}


def _check(name: str, value: Any) -> Any:
    if name not in _TYPES:
        raise ConfigError(f"unknown option {name!r}")
    kind = _TYPES[name]
    # bool is an int subclass in Python, but true/false is never a meaningful number here.
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number")
        value = float(value)
    elif not isinstance(value, kind):
        raise ConfigError(f"{name} must be a {kind.__name__}")
    if name in CHOICES and value not in CHOICES[name]:
        allowed = ", ".join(repr(c) for c in CHOICES[name])
        raise ConfigError(f"{name} must be one of {allowed}")
    if kind in (int, float) and name not in CHOICES:
        if name == "time_scale" and value <= 0:
            raise ConfigError("time_scale must be positive")
        if value < 0 and name != "clock_offset_s":
            raise ConfigError(f"{name} must not be negative")
        if name in ("requests_per_second", "bulk_per_minute", "bulk_single_per_minute") and value < 1:
            raise ConfigError(f"{name} must be at least 1")
    return value
